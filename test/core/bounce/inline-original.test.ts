/**
 * Reports whose returned original is an inline message/rfc822 part (AOL's and Hotmail's feedback
 * loops send it without Content-Disposition, and the MIME parser merges it into the text): the
 * complaint still names the complainant and correlates to our message. Fixtures are corpus files.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseInboundMessage } from '../../../src/reactions/inbound/parse.ts';

const corpus = (name: string): Buffer => readFileSync(new URL(`../../fixtures/bounces/${name}`, import.meta.url));

describe('complaints with an inline original', () => {
  it('an ARF report without Original-Rcpt-To names the one address the original was sent to', async () => {
    const arf = await parseInboundMessage(corpus('arf/no-rcpt-to-inline-original.eml'));
    assert.equal(arf.kind, 'complaint');
    assert.equal(arf.kind === 'complaint' && arf.originalRcpt, 'dana_vega@example.org');
    assert.equal(arf.originalMessageId, '01JE000605ORIG@shop.example.com');
    assert.equal(arf.ledgerId, 'ldg_25d');
  });

  it('Hotmail JMRP names the complainant from X-HmXmrOriginalRecipient of the inline original', async () => {
    const jmrp = await parseInboundMessage(corpus('arf/jmrp-stamped.eml'));
    assert.equal(jmrp.kind === 'complaint' && jmrp.format, 'microsoft-jmrp');
    assert.equal(jmrp.kind === 'complaint' && jmrp.originalRcpt, 'anna.meyer@hotmail.com');
    assert.equal(jmrp.originalMessageId, '01JE000602ORIG@shop.example.com');
  });

  it('a redacted To is not taken as the complainant', async () => {
    const arf = await parseInboundMessage(corpus('arf/002-abuse.eml'));
    assert.equal(arf.kind, 'complaint');
    assert.equal(arf.kind === 'complaint' ? arf.originalRcpt : 'not a complaint', undefined);
  });
});
