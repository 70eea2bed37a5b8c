import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  createVerpEncoder,
  decodeVerpAddress,
  decodeVerpToken,
  encodeVerpAddress,
  encodeVerpToken,
  extractVerpToken,
} from '../../../src/core/bounce/verp.ts';

const opts = { secret: 'test-secret', domain: 'bounce.example.com' };
const campaignId = '0b8f8f5e-8f4e-4c43-9a57-2f1d7c9b1a10';
const contactId = '6d1c2b3a-4e5f-4a7b-8c9d-0e1f2a3b4c5d';

describe('VERP', () => {
  it('round-trips two UUIDs within a 64-octet local part', () => {
    const address = encodeVerpAddress({ campaignId, contactId }, opts);
    assert.match(address, /^b\+[a-z2-7]+@bounce\.example\.com$/);
    assert.ok(address.split('@')[0]!.length <= 64);
    assert.deepEqual(decodeVerpAddress(address, opts), { ok: true, campaignId, contactId });
  });

  it('survives upper-casing by a relay and angle brackets', () => {
    const address = encodeVerpAddress({ campaignId: 'c_42', contactId: 'contact-7' }, opts);
    assert.deepEqual(decodeVerpAddress(`<${address.toUpperCase()}>`, opts), {
      ok: true,
      campaignId: 'c_42',
      contactId: 'contact-7',
    });
  });

  it('rejects forged, truncated and foreign addresses with a reason', () => {
    const token = encodeVerpToken({ campaignId, contactId }, opts.secret);
    assert.deepEqual(decodeVerpToken(token, 'other-secret'), { ok: false, reason: 'bad_signature' });
    assert.equal(decodeVerpToken(token.slice(0, 10), opts.secret).ok, false);
    assert.deepEqual(decodeVerpToken('abc', opts.secret), { ok: false, reason: 'malformed' });
    assert.deepEqual(decodeVerpToken('!!!!!!!!!!!!', opts.secret), { ok: false, reason: 'malformed' });
    assert.deepEqual(decodeVerpAddress('someone@example.com', opts), { ok: false, reason: 'not_verp' });
    assert.deepEqual(decodeVerpAddress(`b+${token}@elsewhere.com`, opts), { ok: false, reason: 'not_verp' });
    assert.equal(extractVerpToken('bounces+abc@x.y', { prefix: 'bounces' }), 'abc');
  });

  it('refuses to build a local part over 64 octets', () => {
    assert.throws(() => encodeVerpAddress({ campaignId: 'x'.repeat(40), contactId }, opts), {
      code: 'VALIDATION_FAILED',
    });
  });

  it('property: any ids round-trip through the token; any flipped char fails', () => {
    const id = fc.oneof(
      fc.uuid().map((u) => u.toLowerCase()),
      fc.string({ minLength: 1, maxLength: 30 }),
    );
    fc.assert(
      fc.property(id, id, fc.nat(), (c, k, pos) => {
        const token = encodeVerpToken({ campaignId: c, contactId: k }, opts.secret);
        assert.deepEqual(decodeVerpToken(token, opts.secret), { ok: true, campaignId: c, contactId: k });
        const i = pos % token.length;
        const flipped = token.slice(0, i) + (token[i] === 'a' ? 'b' : 'a') + token.slice(i + 1);
        assert.equal(decodeVerpToken(flipped, opts.secret).ok, false);
      }),
      { numRuns: 500 },
    );
  });

  it('property: a reusable encoder gives exactly the addresses encodeVerpAddress gives, and they decode', () => {
    const id = fc.oneof(
      fc.uuid().map((u) => u.toLowerCase()),
      fc.string({ minLength: 1, maxLength: 20 }),
    );
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.array(fc.tuple(id, id), { minLength: 1, maxLength: 5 }),
        (secret, pairs) => {
          const o = { secret, domain: 'bounce.example.com' };
          const encode = createVerpEncoder(o);
          for (const [c, k] of pairs) {
            const address = encode({ campaignId: c, contactId: k });
            assert.equal(address, encodeVerpAddress({ campaignId: c, contactId: k }, o));
            assert.deepEqual(decodeVerpAddress(address, o), { ok: true, campaignId: c, contactId: k });
          }
        },
      ),
      { numRuns: 300 },
    );
    assert.throws(() => createVerpEncoder(opts)({ campaignId: 'x'.repeat(40), contactId }), {
      code: 'VALIDATION_FAILED',
    });
  });
});
