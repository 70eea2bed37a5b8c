import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileTemplate, validateTemplate } from '../../../src/campaigns/render/compile.ts';
import { isSwitchyardError } from '../../../src/core/errors.ts';
import { fixture } from './builders.ts';

const MJML_OK =
  '<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ contact.firstName '
  + '}}</mj-text></mj-column></mj-section></mj-body></mjml>';

async function compileError(
  input: Parameters<typeof compileTemplate>[0],
  options?: Parameters<typeof compileTemplate>[1],
): Promise<string[]> {
  const err = await compileTemplate(input, options).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isSwitchyardError(err), 'expected a SwitchyardError');
  assert.equal(err.code, 'TEMPLATE_INVALID');
  const errors = err.details?.['errors'] as string[];
  assert.ok(errors.length > 0);
  for (const e of errors) assert.ok(err.message.includes(e), 'message lists every error');
  return errors;
}

describe('compileTemplate / validateTemplate', () => {
  it('compiles the MJML newsletter once, keeping Liquid in text and href attributes', async () => {
    const c = await compileTemplate({ subject: 'Hi {{ contact.firstName }}', html: fixture('newsletter.mjml') });
    assert.equal(c.isMjml, true);
    assert.equal(c.links.length, 3);
    assert.deepEqual(c.links[0], { index: 0, url: 'https://acme.example/?utm_source=email&utm_medium=newsletter' });
    assert.deepEqual(c.links[1], { index: 1, hrefSource: 'https://acme.example/p/{{ p.slug }}?ref={{ contact.id }}' });
    assert.deepEqual(c.links[2], { index: 2, url: 'https://acme.example/sale?c=1&d=2' });
    assert.ok(c.htmlSource?.includes('{% for p in products %}'));
    assert.equal(c.textFromHtml, null, 'text is derived once at compile time');
  });

  it('names a Liquid parse error with its line in the source', async () => {
    const errors = await compileError({ subject: 'x', html: '<p>a</p>\n<p>{% iff x %}</p>' });
    assert.match(errors[0] as string, /^html: Liquid error: tag "iff" not found, line:2/);
  });

  it('names an unclosed output and an unknown filter (strictFilters)', async () => {
    const a = await compileError({ subject: 'x', html: '<p>{{ contact.firstName </p>' });
    assert.match(a.join(), /not closed/);
    const b = await compileError({
      subject: 'Hi {{ contact.firstName | shout }}',
      html: '<p>{{ unsubscribe_url }} {{ postal_address }}</p>',
    });
    assert.match(b.join(), /subject: Liquid error: undefined filter: shout/);
  });

  it('refuses file access from templates', async () => {
    const errors = await compileError({ subject: 'x', html: '<p>{% include "secrets" %}</p>' });
    assert.match(errors.join(), /include %\} is not allowed/);
  });

  it('lists MJML validation errors with their lines in strict mode', async () => {
    const html = '<mjml><mj-body>\n<mj-section><mj-text>x</mj-text></mj-section>\n<mj-bogus /></mj-body></mjml>';
    const errors = await compileError({ subject: 'x', html });
    assert.ok(
      errors.some((e) => /^mjml: line 2: mj-text cannot be used inside mj-section/.test(e)),
      errors.join('\n'),
    );
    assert.ok(
      errors.some((e) => /^mjml: line 3: Element mj-bogus doesn't exist/.test(e)),
      errors.join('\n'),
    );
    const soft = await validateTemplate({ subject: 'x', html }, { mjmlValidation: 'soft' });
    assert.deepEqual(soft, { ok: true, errors: [] });
  });

  it('reports Liquid that MJML would silently drop between elements', async () => {
    const html =
      '<mjml><mj-body><mj-section><mj-column>\n{% if vip %}<mj-text>VIP</mj-text>{% endif '
      + '%}\n</mj-column></mj-section></mj-body></mjml>';
    const errors = await compileError({ subject: 'x', html });
    assert.match(errors.join(), /Liquid \{% if vip %\} at line 2 was dropped or changed by MJML.*mj-raw/);
  });

  it('requires the footer fields when the template must carry its own', async () => {
    const errors = await compileError({ subject: 'x', html: '<p>no footer</p>' }, { footer: 'none' });
    assert.deepEqual(errors, [
      'html: missing required footer field: unsubscribe link ({{ unsubscribe_url }})',
      'html: missing required footer field: sender postal address ({{ postal_address }})',
    ]);
    const ok = await validateTemplate(
      { subject: 'x', html: '<a href="{{ unsubscribe_url }}">u</a> {{ postal_address }}' },
      { footer: 'none' },
    );
    assert.deepEqual(ok, { ok: true, errors: [] });
  });

  it('requires a postal address from the campaign', async () => {
    const result = await validateTemplate({ subject: 'x', html: MJML_OK }, { postalAddress: '  ' });
    assert.equal(result.ok, false);
    assert.match(result.errors.join(), /campaign: missing required footer field: sender postal address is empty/);
  });

  it('needs a subject and a body', async () => {
    const errors = await compileError({ subject: ' ' });
    assert.deepEqual(errors, ['subject: is empty', 'template: needs an html or a text part']);
  });

  it('derives the text per recipient when the HTML injects raw markup', async () => {
    const c = await compileTemplate({ subject: 'x', html: '<body><div>{{ intro | raw }}</div></body>' });
    assert.equal(c.text, null);
    assert.notEqual(c.textFromHtml, null);
  });
});

describe('contact fields a template reads (what prepare sends on to the send stage)', () => {
  it(
    'names the fields read anywhere, links built with Liquid included; null when the contact is read whole '
      + 'or by a computed key',
    async () => {
      const fields = async (input: Parameters<typeof compileTemplate>[0]) => {
        const f = (await compileTemplate(input, { postalAddress: '1 Main St' })).contactFields;
        return f === null ? null : [...f].sort();
      };
      assert.deepEqual(
        await fields({
          subject: 'Hi {{ contact.firstName | default: "there" }}',
          text: '{% if contact.plan == "pro" %}{{ contact.crm.tier }}{% endif %}',
        }),
        ['crm', 'firstName', 'plan'],
      );
      assert.deepEqual(
        await fields({
          subject: 's',
          html: '<html><body><a href="https://x.example/p/{{ contact.slug }}">x</a></body></html>',
        }),
        ['slug'],
      );
      assert.deepEqual(
        await fields({
          subject: 's',
          html: '<html><body>{% for p in contact.products %}{{ p.name }}{% endfor %}</body></html>',
        }),
        ['products'],
      );
      assert.equal(await fields({ subject: 's', html: '<html><body>{{ contact | json }}</body></html>' }), null);
      assert.equal(
        await fields({ subject: 's', html: '<html><body>{% assign c = contact %}{{ c.plan }}</body></html>' }),
        null,
      );
      assert.equal(await fields({ subject: 's', text: '{% assign k = "plan" %}{{ contact[k] }}' }), null);
    },
  );
});
