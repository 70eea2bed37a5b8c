/**
 * Link policy (docs/rendering.md): a URL attribute whose value data decides renders only as an
 * http(s) URL; in markup printed raw, URL attributes may also be mailto:, tel: or scheme-less.
 * Anything else becomes `#` and is never wrapped into a click redirect. The Liquid path and the
 * fast path agree on every value.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeHTMLAttribute } from 'entities';
import { compileTemplate } from '../../../src/campaigns/render/compile.ts';
import { renderMessage } from '../../../src/campaigns/render/render-message.ts';
import { createEngines, TRACK_FN_VAR } from '../../../src/campaigns/render/liquid-engine.ts';
import type { TemplateLimits } from '../../../src/campaigns/render/liquid-engine.ts';
import { rewriteLinks } from '../../../src/campaigns/render/links.ts';
import { planTemplate, renderPlan } from '../../../src/campaigns/render/fast-render.ts';
import { isSafeDataUrl, isSafeUrl, neutraliseUnsafeUrls } from '../../../src/campaigns/render/url-safety.ts';
import { aContext } from './builders.ts';

const HOSTILE = [
  'javascript:alert(1)',
  ' JaVaScRiPt:alert(1)',
  'java\tscript:alert(1)',
  'java\nscript:alert(1)',
  '\u0000javascript:alert(1)',
  'javascript&colon;alert(1)',
  'jav&#x09;ascript:alert(1)',
  '&#106;avascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  'file:///etc/passwd',
  'JAVASCRIPT:alert(1)',
  '\u200bjavascript:alert(1)',
  'javascript\u00ad:alert(1)',
];
const WEB = ['https://shop.example/a?b=1&c=2', 'http://x.example', ' HTTPS://x.example/p'];
/** Allowed in raw markup, refused where data decides the whole URL. */
const NOT_WEB = ['mailto:ann@example.com', 'tel:+1555', '#top', '/relative/path', '//x.example/p', ''];
const SAFE = [...WEB, ...NOT_WEB];

const FOOTER = '{{ unsubscribe_url }} {{ postal_address }}';
/** No real-time limit worth the name: a busy machine must not make liquidjs give up mid-property. */
const NO_TIME_LIMIT: TemplateLimits = { renderMs: 600_000, memory: 10_000_000 };

async function renderHtml(html: string, contact: Record<string, unknown>): Promise<string> {
  const compiled = await compileTemplate(
    { subject: 's', html: `<body>${html} ${FOOTER}</body>` },
    { limits: NO_TIME_LIMIT },
  );
  const ctx = aContext();
  return renderMessage(compiled, { ...ctx, contact: { ...ctx.contact, ...contact } }).html ?? '';
}

/** Every value of `attr` in the rendered html, entities decoded once (as a browser reads it). */
function attrValues(html: string, attr: string): string[] {
  return [...html.matchAll(new RegExp(`\\s${attr}="([^"]*)"`, 'g'))].map((m) => decodeHTMLAttribute(m[1] as string));
}

describe('link safety', () => {
  it('isSafeUrl: refuses every obfuscated dangerous scheme, allows http(s), mailto, tel and scheme-less URLs', () => {
    for (const url of HOSTILE) assert.equal(isSafeUrl(decodeHTMLAttribute(url)), false, JSON.stringify(url));
    for (const url of SAFE) assert.equal(isSafeUrl(url), true, url);
  });

  it('isSafeDataUrl: only http(s) URLs, however they are obfuscated or cased', () => {
    for (const url of WEB) assert.equal(isSafeDataUrl(url), true, url);
    for (const url of [...HOSTILE, ...NOT_WEB]) assert.equal(isSafeDataUrl(decodeHTMLAttribute(url)), false, url);
  });

  it('a hostile href from contact data renders as #, never as a click redirect; a web URL is tracked', async () => {
    for (const u of HOSTILE) {
      const html = await renderHtml('<a href="{{ contact.u }}">x</a><a href="{{ contact.u | raw }}">y</a>', { u });
      const [escaped, raw] = attrValues(html, 'href') as [string, string];
      assert.equal(escaped, '#', JSON.stringify(u));
      assert.equal(raw, '#', JSON.stringify(u));
      assert.ok(!html.includes('/t/c/'), 'nothing hostile is wrapped into a click redirect');
    }
    const web = attrValues(
      await renderHtml('<a href="{{ contact.u }}">x</a>', { u: 'https://shop.example/p' }),
      'href',
    );
    assert.match(web[0] ?? '', /^https:\/\/t\.acme\.example\/t\/c\//);
    for (const u of NOT_WEB) {
      const html = await renderHtml('<a href="{{ contact.u }}">x</a><img src="{{ contact.u }}">', { u });
      assert.deepEqual([attrValues(html, 'href')[0], attrValues(html, 'src')[0]], ['#', '#'], JSON.stringify(u));
    }
    const chosen = attrValues(
      await renderHtml('<a href="mailto:{{ contact.u }}">x</a>', { u: 'ann@example.com' }),
      'href',
    );
    assert.equal(chosen[0], 'mailto:ann@example.com', 'a scheme the template itself writes is kept');
  });

  it('untracked links and other URL attributes from data are guarded too', async () => {
    const html = await renderHtml(
      '<a data-no-track href="{{ contact.u }}">a</a><img src="{{ contact.u }}" alt="">'
        + '<form action="{{ contact.u }}"></form><a href="{{ contact.u }}{{ unsubscribe_url }}">b</a>',
      { u: ' JaVaScRiPt:alert(1)' },
    );
    assert.deepEqual(
      [...attrValues(html, 'href').slice(0, 2), ...attrValues(html, 'src').slice(0, 1), ...attrValues(html, 'action')],
      ['#', '#', '#', '#'],
    );
  });

  it('a static scheme in the template settles it: the value is not re-checked per recipient', () => {
    const { html } = rewriteLinks(
      '<img src="https://cdn.example/{{ contact.u }}"><a href="mailto:{{ contact.e }}">m</a><img src="{{ '
        + 'contact.u }}">',
    );
    assert.equal((html.match(/\{% sy_safe_url/g) ?? []).length, 1, html);
  });

  it('a raw value cannot close its URL attribute to add a handler', async () => {
    const html = await renderHtml(
      '<img src="{{ contact.u | raw }}" alt=""><a href="{{ contact.u | raw }}">x</a><a data-no-track '
        + "href='{{ contact.u | raw }}'>y</a>",
      { u: 'https://x.example/a.png" onerror="alert(1)' },
    );
    assert.ok(!html.includes('onerror'), html);
    const quoted = await renderHtml('<a data-no-track href="{{ contact.u | raw }}">y</a>', {
      u: "/p' onclick='alert(1)",
    });
    assert.ok(!quoted.includes('onclick'), quoted);
  });

  it('markup printed raw from data has its URL attributes neutralised', async () => {
    const bio =
      '<a href="javascript:alert(1)">x</a><a href=\'jav&#x09;ascript:alert(2)\'>y</a><img '
      + 'src=data:image/svg+xml,x><a href="https://ok.example/">z</a>';
    const html = await renderHtml('<div>{{ contact.bio | raw }}</div>', { bio });
    assert.ok(
      html.includes('<a href="#">x</a><a href=\'#\'>y</a><img src="#"><a href="https://ok.example/">z</a>'),
      html,
    );
    assert.equal(
      neutraliseUnsafeUrls('<p title="javascript:x">t</p>'),
      '<p title="javascript:x">t</p>',
      'only URL attributes',
    );
  });

  it('the fast path and liquidjs render the same guarded links for any value, hostile ones included', () => {
    const engines = createEngines(NO_TIME_LIMIT);
    const sources = [
      '<a href="{{ contact.u }}">x</a>',
      '<a data-no-track href="{{ contact.u }}">x</a>',
      '<img src="{{ contact.u | raw }}">',
      '{% for l in contact.links %}<a href="{{ l }}">{{ l }}</a>{% endfor %}',
      '<a href="{{ contact.u | default: \'#\' }}">x</a>',
    ];
    const cases = sources.flatMap((source) =>
      (['html', 'text'] as const).map((which) => {
        const rewritten = rewriteLinks(source).html;
        const templates = engines[which].parse(rewritten);
        const plan = planTemplate(engines[which], templates, rewritten, which === 'html');
        assert.ok(plan !== null, `${which}: ${source} is planned`);
        assert.ok(
          plan.pieces.every((p) => p.kind !== 'liquid'),
          `${which}: ${source} is planned`,
        );
        return { which, templates, plan, source };
      }),
    );
    const url = fc.oneof(
      fc.constantFrom(...HOSTILE, ...SAFE),
      fc.string(),
      fc.webUrl(),
      fc
        .tuple(
          fc.constantFrom('', ' ', '\t', '\u0000', '&#x09;'),
          fc.constantFrom('javascript', 'JaVa', 'data', 'https'),
          fc.constantFrom(':', '&colon;', '\t:'),
          fc.string(),
        )
        .map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(url, fc.array(url, { maxLength: 3 }), (u, links) => {
        const scope = {
          contact: { u, links },
          [TRACK_FN_VAR]: (href: string, i: number) => `https://t.example/c/${i}/${encodeURIComponent(href)}`,
        };
        for (const c of cases) {
          const engine = engines[c.which];
          const fast = renderPlan(engine, c.plan, scope);
          assert.equal(fast, engine.renderSync(c.templates, scope) as string, `${c.which}: ${c.source}`);
          if (c.which === 'html') {
            for (const v of attrValues(fast, '(?:href|src)'))
              assert.ok(v === '#' || isSafeDataUrl(v), `${c.source} rendered ${JSON.stringify(v)}`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
