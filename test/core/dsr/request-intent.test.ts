/** Detecting the data-subject request type in a mail to the privacy address (core/dsr/request-intent.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DSR_TYPES } from '../../../src/core/dsr/deadlines.ts';
import { detectDsrRequest } from '../../../src/core/dsr/request-intent.ts';

describe('detectDsrRequest', () => {
  const cases: [string | undefined, string, string | null][] = [
    ['Delete my data', 'Hello, please remove me.', 'erasure'],
    [undefined, 'Please delete all of my personal information from your systems.', 'erasure'],
    [undefined, 'I want my account erased under GDPR.', 'erasure'],
    ['Right to be forgotten', '', 'erasure'],
    [undefined, 'Bitte löschen Sie meine Daten.', 'erasure'],
    [undefined, 'Merci de supprimer toutes mes données.', 'erasure'],
    [undefined, 'Por favor, eliminar todos mis datos.', 'erasure'],
    [undefined, 'Can I get a copy of my data please?', 'access'],
    [undefined, 'What personal data do you hold about me?', 'access'],
    ['Subject access request', 'Under Article 15 GDPR.', 'access'],
    [undefined, 'Ich bitte um Auskunft nach DSGVO.', 'access'],
    [undefined, 'Please export my data in a machine-readable format.', 'portability'],
    [undefined, 'Do not sell my personal information.', 'opt_out_of_sale'],
    [undefined, 'I opt out of the sale and sharing of my data.', 'opt_out_of_sale'],
    [undefined, 'Please correct my details, my surname is wrong.', 'rectification'],
    ['Question about my order', 'When will order 1017 arrive?', null],
    [undefined, '', null],
  ];
  for (const [subject, text, type] of cases)
    it(`${JSON.stringify(subject ?? text).slice(0, 60)} → ${type}`, () => {
      assert.equal(detectDsrRequest(subject, text).type, type);
    });

  it('erasure outranks a copy asked for in the same mail, and both are named with a lower confidence', () => {
    const d = detectDsrRequest('GDPR', 'Send me a copy of my data, then delete all my data.');
    assert.equal(d.type, 'erasure');
    assert.deepEqual(d.matched, ['erasure', 'access']);
    assert.equal(d.confidence, 0.6);
    assert.equal(detectDsrRequest(undefined, 'Please delete my account.').confidence, 0.9);
    assert.equal(detectDsrRequest(undefined, 'hello').confidence, 0);
  });

  it('any text: the type is the first matched, a known DSR type, and long bodies stay fast', () => {
    fc.assert(
      fc.property(fc.option(fc.string(), { nil: undefined }), fc.string({ maxLength: 2000 }), (subject, text) => {
        const d = detectDsrRequest(subject, text);
        assert.equal(d.type, d.matched[0] ?? null);
        for (const t of d.matched) assert.ok((DSR_TYPES as readonly string[]).includes(t));
      }),
    );
    const started = performance.now();
    detectDsrRequest('x', `delete ${'a '.repeat(200_000)} my data`);
    assert.ok(performance.now() - started < 500);
  });
});
