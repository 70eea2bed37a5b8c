import { decodeVerpAddress } from '../../../src/core/bounce/verp.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { escapeAttribute } from 'entities';
import { compileTemplate } from '../../../src/campaigns/render/compile.ts';
import { renderMessage } from '../../../src/campaigns/render/render-message.ts';
import { createTokenCodec } from '../../../src/core/tracking-token.ts';
import { ledgerOfMessageId } from '../../../src/core/message-id.ts';
import { isSwitchyardError } from '../../../src/core/errors.ts';
import { SECRET, aCampaign, aContext, clickTargets, fixture, trackingTokens } from './builders.ts';

const codec = createTokenCodec(SECRET);

const golden = (name: string): string =>
  readFileSync(new URL(`../../fixtures/templates/${name}`, import.meta.url), 'utf8');

describe('renderMessage', () => {
  it('matches the golden newsletter (html, text, headers)', async () => {
    const compiled = await compileTemplate({
      subject: 'News for {{ contact.firstName }}',
      html: fixture('newsletter.mjml'),
    });
    const msg = renderMessage(compiled, aContext());
    const { html, text, ...rest } = msg;
    assert.equal(html, golden('newsletter.golden.html'));
    assert.equal(text, golden('newsletter.golden.txt'));
    assert.deepEqual(rest, JSON.parse(golden('newsletter.golden.json')));
  });

  it(
    'tracks every link to its real destination: static ones by index, Liquid ones per loop item, &amp; ' + 'decoded',
    async () => {
      const compiled = await compileTemplate({ subject: 's', html: fixture('newsletter.mjml') });
      const msg = renderMessage(compiled, aContext());
      const clicks = clickTargets(msg.html ?? '', compiled.links);
      assert.deepEqual(clicks, [
        {
          form: 'message',
          ledgerId: 'camp-1:contact-7',
          linkIndex: 0,
          url: 'https://acme.example/?utm_source=email&utm_medium=newsletter',
        },
        {
          form: 'tagged',
          ledgerId: 'camp-1:contact-7',
          linkIndex: 1,
          url: 'https://acme.example/p/widget?ref=contact-7',
        },
        {
          form: 'tagged',
          ledgerId: 'camp-1:contact-7',
          linkIndex: 1,
          url: 'https://acme.example/p/gizmo?ref=contact-7',
        },
        { form: 'message', ledgerId: 'camp-1:contact-7', linkIndex: 2, url: 'https://acme.example/sale?c=1&d=2' },
      ]);
      assert.deepEqual(clickTargets(msg.text, compiled.links), clicks);
    },
  );

  it('uses one message token for the open pixel, every static link and (its other half) unsubscribe', async () => {
    const compiled = await compileTemplate({ subject: 's', html: fixture('newsletter.mjml') });
    const msg = renderMessage(compiled, aContext({ sendAt: new Date('2026-03-02T10:00:00Z') }));
    const html = msg.html ?? '';
    const open = trackingTokens(html, 'o')[0] as string;
    assert.deepEqual(
      [...html.matchAll(/\/t\/c\/([\w-]+)\/(\d+)"/g)].map((m) => [m[1], m[2]]),
      [
        [open, '0'],
        [open, '2'],
      ],
    );
    const unsub = trackingTokens(html, 'u')[0] as string;
    assert.ok(
      msg.headers['List-Unsubscribe']?.includes(`/t/u/${unsub}>`)
        && msg.headers['List-Unsubscribe']?.includes(`subject=unsubscribe-${unsub}>`),
    );
    const p = { ledgerId: 'camp-1:contact-7', sentAt: Date.parse('2026-03-02T10:00:00Z') / 1000 };
    assert.deepEqual(codec.verifyMessage(open, 'track'), p);
    assert.deepEqual(codec.verifyMessage(unsub, 'unsubscribe'), p);
    assert.equal(codec.verifyMessage(open, 'unsubscribe'), null, 'a link or the pixel URL cannot unsubscribe');
  });

  it('leaves mailto, anchors, data-no-track and the unsubscribe link untouched', async () => {
    const compiled = await compileTemplate({ subject: 's', html: fixture('newsletter.mjml') });
    const html = renderMessage(compiled, aContext()).html ?? '';
    assert.ok(html.includes('href="mailto:help@acme.example"'));
    assert.ok(html.includes('href="https://acme.example/terms" data-no-track'));
    const unsub = trackingTokens(html, 'u');
    assert.equal(unsub.length, 1);
    assert.deepEqual(codec.verifyMessage(unsub[0] as string, 'unsubscribe'), { ledgerId: 'camp-1:contact-7' });
    assert.ok(!html.includes('sy-legal-footer'), 'no footer appended when the template has one');
  });

  it('keeps Liquid inside MJML attributes (mj-button href, mj-image src) and tracks the rendered URL', async () => {
    const html =
      '<mjml><mj-body><mj-section><mj-column>'
      + '<mj-image src="https://cdn.example/{{ contact.id }}.png" alt="{{ contact.firstName }}" />'
      + '<mj-button href="https://shop.example/c/{{ contact.id }}?a=1&amp;b={{ contact.firstName | '
      + 'url_encode }}">Go</mj-button>'
      + '</mj-column></mj-section></mj-body></mjml>';
    const compiled = await compileTemplate({ subject: 's', html });
    const msg = renderMessage(
      compiled,
      aContext({ contact: { id: 'k7', email: 'k@x.example', firstName: 'Zoë & Al' } }),
    );
    assert.ok(msg.html?.includes('src="https://cdn.example/k7.png"'));
    assert.ok(msg.html?.includes('alt="Zoë &amp; Al"'));
    const clicks = clickTargets(msg.html ?? '', compiled.links).map((c) => c?.url);
    assert.deepEqual(clicks, ['https://shop.example/c/k7?a=1&b=Zo%C3%AB+%26+Al']);
  });

  it('appends the legal footer and the open pixel to plain HTML, in html and text', async () => {
    const compiled = await compileTemplate({
      subject: 'Hi {{ contact.firstName }}',
      html: fixture('plain-no-footer.html'),
    });
    const msg = renderMessage(
      compiled,
      aContext({ contact: { id: 'k&1', email: 'a@b.example', firstName: 'Jo & "Al" <x>' } }),
    );
    const html = msg.html ?? '';
    assert.match(
      html,
      new RegExp(
        '<div class="sy-legal-footer"[^>]*>Acme, 1 Main St, Springfield, IL 62701'
          + String.raw`<br><a href="https:\/\/t\.acme\.example\/t\/u\/[\w-]+"`,
      ),
    );
    assert.match(html, /<img src="https:\/\/t\.acme\.example\/t\/o\/[\w-]+" width="1" height="1" alt=""[^>]*><\/body>/);
    assert.deepEqual(codec.verifyMessage(trackingTokens(html, 'o')[0] as string, 'track'), { ledgerId: 'camp-1:k&1' });
    assert.ok(html.includes('Hi Jo &amp; &#34;Al&#34; &lt;x&gt;'), 'contact data is HTML-escaped in html');
    assert.equal(msg.subject, 'Hi Jo & "Al" <x>', 'but not in the subject');
    assert.ok(msg.text.startsWith('Hi Jo & "Al" <x>'), 'nor in the text');
    assert.match(
      msg.text,
      /Acme, 1 Main St, Springfield, IL 62701\nUnsubscribe \[https:\/\/t\.acme\.example\/t\/u\/[\w-]+\]/,
    );
    const urls = clickTargets(html, compiled.links).map((c) => c?.url);
    assert.deepEqual(urls, ['https://shop.example/deals?a=1&b=2', 'https://shop.example/u/k&1?n=Jo & "Al" <x>']);
    assert.ok(html.includes('href="mailto:help@shop.example?subject=Hi"') && html.includes('href="#top"'));
  });

  it('appends the text footer to a text template that lacks one', async () => {
    const compiled = await compileTemplate({ subject: 's', text: 'Hello {{ contact.firstName }}' });
    const msg = renderMessage(compiled, aContext());
    assert.equal(msg.html, undefined);
    assert.match(
      msg.text,
      new RegExp(
        String.raw`^Hello Ann\n\n--\nAcme, 1 Main St, Springfield, IL 62701`
          + String.raw`\nUnsubscribe: https:\/\/t\.acme\.example\/t\/u\/[\w-]+\n$`,
      ),
    );
  });

  it('sets the one-click headers, VERP return path, Message-ID and correlation', async () => {
    const compiled = await compileTemplate({ subject: 's', html: fixture('plain-no-footer.html') });
    const msg = renderMessage(
      compiled,
      aContext({
        campaign: aCampaign({
          listUnsubscribeMailto: 'mailto:unsub@acme.example',
          replyTo: { address: 'reply@acme.example' },
        }),
      }),
    );
    const u = trackingTokens(msg.headers['List-Unsubscribe'] ?? '', 'u')[0] as string;
    assert.equal(
      msg.headers['List-Unsubscribe'],
      `<https://t.acme.example/t/u/${u}>, <mailto:unsub@acme.example?subject=unsubscribe-${u}>`,
    );
    assert.equal(msg.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    // the inbound bounce parser must be able to read the return path back
    const verp = decodeVerpAddress(msg.returnPath ?? '', { secret: SECRET, domain: 'bounce.acme.example' });
    assert.deepEqual(verp, { ok: true, campaignId: 'camp-1', contactId: 'contact-7' });
    // the Message-ID names its ledger row, so anything that comes back with only it maps to the row
    assert.match(msg.messageId, /^sy1\.[A-Za-z0-9_-]+@mail\.acme\.example$/);
    assert.deepEqual(ledgerOfMessageId(msg.messageId), { campaignId: 'camp-1', contactId: 'contact-7' });
    assert.equal(renderMessage(compiled, aContext()).messageId, msg.messageId, 'deterministic per ledger row');
    assert.notEqual(
      renderMessage(compiled, aContext({ contact: { id: 'other', email: 'o@x.example' } })).messageId,
      msg.messageId,
    );
    assert.deepEqual(msg.correlation, { campaignId: 'camp-1', contactId: 'contact-7', ledgerId: 'camp-1:contact-7' });
    assert.deepEqual(msg.replyTo, { address: 'reply@acme.example' });
  });

  it(
    'signs a repeated Liquid-built URL once per campaign: recipients share its link tag, each with their own '
      + 'track token',
    async () => {
      const compiled = await compileTemplate({
        subject: 's',
        html:
          '<body><a href="https://shop.example/plans?plan={{ contact.plan }}">new</a> {{ unsubscribe_url }} {{ '
          + 'postal_address }}</body>',
      });
      const render = (id: string, plan: string, campaign = aCampaign()): string =>
        renderMessage(compiled, aContext({ contact: { id, email: `${id}@example.com`, plan }, campaign })).html ?? '';
      const tagOf = (html: string): string => /\/t\/c\/[A-Za-z0-9_-]+\/0\/([A-Za-z0-9_-]+)"/.exec(html)?.[1] ?? '';
      const [a, b, c] = [render('k1', 'pro'), render('k2', 'pro'), render('k3', 'free')];
      assert.equal(tagOf(a), tagOf(b), 'same campaign, link and URL: same tag');
      assert.notEqual(tagOf(a), tagOf(c));
      assert.deepEqual(
        [a, b, c].map((h) => clickTargets(h, compiled.links)[0]),
        [
          { form: 'tagged', ledgerId: 'camp-1:k1', linkIndex: 0, url: 'https://shop.example/plans?plan=pro' },
          { form: 'tagged', ledgerId: 'camp-1:k2', linkIndex: 0, url: 'https://shop.example/plans?plan=pro' },
          { form: 'tagged', ledgerId: 'camp-1:k3', linkIndex: 0, url: 'https://shop.example/plans?plan=free' },
        ],
      );
      // another campaign (or secret) rendering the same compiled template gets its own tags and prefixes
      const other = render(
        'k1',
        'pro',
        aCampaign({ id: 'camp-2', trackingBaseUrl: 'https://t.acme.example/', trackingSecret: ['s2', SECRET] }),
      );
      assert.notEqual(tagOf(other), tagOf(a));
      assert.deepEqual(clickTargets(other, compiled.links, 's2')[0], {
        form: 'tagged',
        ledgerId: 'camp-2:k1',
        linkIndex: 0,
        url: 'https://shop.example/plans?plan=pro',
      });
      assert.equal(render('k1', 'pro'), a, 'back to the first campaign: the identical message');
    },
  );

  it('keeps the per-campaign link tags bounded when every recipient has their own URL', async () => {
    const compiled = await compileTemplate({
      subject: 's',
      html:
        '<body><a href="https://shop.example/u/{{ contact.id }}">you</a> {{ unsubscribe_url }} {{ '
        + 'postal_address }}</body>',
    });
    let last = '';
    for (let i = 0; i < 5000; i++)
      last = renderMessage(compiled, aContext({ contact: { id: `k${i}`, email: `k${i}@example.com` } })).html ?? '';
    assert.ok((compiled.prepared.current?.linkTags.size ?? 0) <= 4096);
    assert.deepEqual(clickTargets(last, compiled.links)[0], {
      form: 'tagged',
      ledgerId: 'camp-1:k4999',
      linkIndex: 0,
      url: 'https://shop.example/u/k4999',
    });
  });

  it('stamps the send time into click and open tokens when given', async () => {
    const compiled = await compileTemplate({ subject: 's', html: fixture('plain-no-footer.html') });
    const msg = renderMessage(compiled, aContext({ sendAt: new Date('2026-03-02T10:00:00.900Z') }));
    const sentAt = Date.parse('2026-03-02T10:00:00Z') / 1000;
    assert.deepEqual(
      clickTargets(msg.html ?? '', compiled.links).map((c) => [c?.form, c?.sentAt]),
      [
        ['message', sentAt],
        ['tagged', sentAt],
      ],
    );
    assert.equal(codec.verifyMessage(trackingTokens(msg.html ?? '', 'o')[0] as string, 'track')?.sentAt, sentAt);
  });

  it('never exposes the tracking secret to templates', async () => {
    const compiled = await compileTemplate({
      subject: '[{{ campaign.trackingSecret }}]',
      text: '{{ campaign.trackingSecret }} {{ unsubscribe_url }} {{ postal_address }}',
    });
    const msg = renderMessage(compiled, aContext());
    assert.equal(msg.subject, '[]');
    assert.ok(!msg.text.includes(SECRET));
  });

  it('refuses a campaign without a postal address', async () => {
    const compiled = await compileTemplate({ subject: 's', text: 't' });
    const err = (() => {
      try {
        renderMessage(compiled, aContext({ campaign: aCampaign({ postalAddress: '' }) }));
        return null;
      } catch (e) {
        return e;
      }
    })();
    assert.ok(isSwitchyardError(err));
    assert.equal(err.code, 'CAMPAIGN_INVALID');
  });

  it('refuses a contact without an email address', async () => {
    const compiled = await compileTemplate({ subject: 's', text: 't' });
    const err = (() => {
      try {
        renderMessage(compiled, aContext({ contact: { id: 'k', email: '' } }));
        return null;
      } catch (e) {
        return e;
      }
    })();
    assert.ok(isSwitchyardError(err));
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.match(err.message, /contact k has no email address/);
  });

  it('names the recipient and part when rendering fails', async () => {
    const compiled = await compileTemplate({
      subject: 's',
      text: '{{ contact.broken | upcase }} {{ unsubscribe_url }} {{ postal_address }}',
    });
    const contact = {
      id: 'k9',
      email: 'a@b.example',
      get broken(): string {
        throw new Error('field decryption failed');
      },
    };
    const err = (() => {
      try {
        renderMessage(compiled, aContext({ contact }));
        return null;
      } catch (e) {
        return e;
      }
    })();
    assert.ok(isSwitchyardError(err), String(err));
    assert.equal(err.code, 'TEMPLATE_RENDER_FAILED');
    assert.match(err.message, /rendering the text for contact k9 failed: field decryption failed/);
  });

  it('stops a runaway template with TEMPLATE_LIMIT_EXCEEDED instead of stalling the worker', async () => {
    const compiled = await compileTemplate({
      subject: 's',
      text: '{% for i in (1..100000000) %}x{% endfor %} {{ unsubscribe_url }} {{ postal_address }}',
    });
    const err = (() => {
      try {
        renderMessage(compiled, aContext());
        return null;
      } catch (e) {
        return e;
      }
    })();
    assert.ok(isSwitchyardError(err), String(err));
    assert.equal(err.code, 'TEMPLATE_LIMIT_EXCEEDED');
    assert.match(err.message, /memory alloc limit exceeded/);
  });

  it('derives the text from each rendered html when the template injects raw markup', async () => {
    const compiled = await compileTemplate({ subject: 's', html: '<body><div>{{ intro | raw }}</div></body>' });
    const msg = renderMessage(compiled, aContext({ intro: '<p>Big <b>news</b></p>' }));
    assert.ok(msg.html?.includes('<p>Big <b>news</b></p>'));
    assert.ok(msg.text.startsWith('Big news'), msg.text);
  });

  it('property: any http(s) URL in an href comes back from its click link unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(fc.webUrl({ withQueryParameters: true, withFragments: true }), async (url) => {
        const compiled = await compileTemplate({ subject: 's', html: `<a href="${escapeAttribute(url)}">x</a>` });
        const html = renderMessage(compiled, aContext()).html ?? '';
        assert.deepEqual(clickTargets(html, compiled.links), [
          { form: 'message', ledgerId: 'camp-1:contact-7', linkIndex: 0, url },
        ]);
      }),
      { numRuns: 60 },
    );
  });
});

describe('rendering with only the contact fields the template reads', () => {
  it(
    'gives the same message as rendering with every ' + 'field (newsletter, Liquid-built links, derived text)',
    async () => {
      const { forRender } = await import('../../../src/campaigns/stages.ts');
      const compiled = await compileTemplate({
        subject: 'News for {{ contact.firstName }}, {{ contact.plan | default: "free" }}',
        html: fixture('newsletter.mjml'),
      });
      fc.assert(
        fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (firstName, plan, company, slug) => {
          const full = {
            id: 'contact-7',
            email: 'ann@example.com',
            fields: { firstName, plan, company, slug, crm: { tier: 'gold' }, lifetimeValue: '12.00' },
          };
          const [projected] = forRender([full], compiled.contactFields);
          const render = (r: typeof full) =>
            renderMessage(compiled, aContext({ contact: { ...r.fields, id: r.id, email: r.email } }));
          assert.ok(Object.keys(projected!.fields).length < Object.keys(full.fields).length, 'fields were dropped');
          assert.deepEqual(render(projected as typeof full), render(full));
        }),
        { numRuns: 50 },
      );
    },
  );
});
