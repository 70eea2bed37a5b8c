import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { signStripePayload, verify } from '../../../../src/connectors/billing/stripe/verify.ts';
import { normalize } from '../../../../src/connectors/billing/stripe/normalize.ts';

const SECRET = 'whsec_test_secret';
const BODY = '{"id":"evt_test","object":"event"}';
// hex(HMAC-SHA256("whsec_test_secret", "1772323200." + BODY)) computed with openssl, not our code.
const KNOWN_V1 = '8158a95ffc7f53b215c789b232efabe025ca34525ba0f2c9941ce569dcf98ecd';
const T = 1772323200;
const at = (s: number): Date => new Date(s * 1000);

describe('stripe verify', () => {
  it('accepts an independently computed v1 signature', () => {
    assert.equal(
      verify({ body: BODY, headers: { 'stripe-signature': `t=${T},v1=${KNOWN_V1}` } }, { signingSecret: SECRET }, at(T))
        .ok,
      true,
    );
    assert.equal(signStripePayload(BODY, SECRET, T), `t=${T},v1=${KNOWN_V1}`);
  });
  it('accepts when any of several v1 signatures matches (secret rolling) and ignores v0', () => {
    const header = `t=${T},v1=${'0'.repeat(64)},v0=${'1'.repeat(64)},v1=${KNOWN_V1}`;
    assert.equal(
      verify({ body: Buffer.from(BODY), headers: { 'Stripe-Signature': header } }, { signingSecret: SECRET }, at(T)).ok,
      true,
    );
  });
  it('rejects a tampered body and the wrong secret', () => {
    const h = { 'stripe-signature': `t=${T},v1=${KNOWN_V1}` };
    const r = verify({ body: BODY.replace('evt_test', 'evt_tesT'), headers: h }, { signingSecret: SECRET }, at(T));
    assert.match(!r.ok ? r.reason : '', /^bad signature: none of 1 v1 signature/);
    assert.equal(verify({ body: BODY, headers: h }, { signingSecret: 'whsec_other' }, at(T)).ok, false);
  });
  it('rejects a timestamp outside 300 s by default, accepts at the edge', () => {
    const h = { 'stripe-signature': `t=${T},v1=${KNOWN_V1}` };
    assert.deepEqual(verify({ body: BODY, headers: h }, { signingSecret: SECRET }, at(T + 301)), {
      ok: false,
      code: 'WEBHOOK_STALE',
      reason: `timestamp ${T} is 301 s old, outside tolerance 300 s`,
    });
    assert.equal(verify({ body: BODY, headers: h }, { signingSecret: SECRET }, at(T + 300)).ok, true);
    assert.match(
      (
        verify({ body: BODY, headers: h }, { signingSecret: SECRET, toleranceSeconds: 10 }, at(T - 11)) as {
          reason: string;
        }
      ).reason,
      /11 s in the future/,
    );
  });
  it('names what is missing from the header', () => {
    assert.deepEqual(verify({ body: BODY, headers: {} }, { signingSecret: SECRET }, at(T)), {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: 'missing header Stripe-Signature',
    });
    assert.match(
      (
        verify({ body: BODY, headers: { 'stripe-signature': `v1=${KNOWN_V1}` } }, { signingSecret: SECRET }, at(T)) as {
          reason: string;
        }
      ).reason,
      /no valid t= timestamp/,
    );
    assert.match(
      (
        verify({ body: BODY, headers: { 'stripe-signature': `t=${T},v0=abc` } }, { signingSecret: SECRET }, at(T)) as {
          reason: string;
        }
      ).reason,
      /no v1= signature/,
    );
  });
});

describe('stripe normalize', () => {
  it('reads the event envelope with a stable sourceId', () => {
    const body: unknown = JSON.parse(
      readFileSync(new URL('../../../fixtures/webhooks/stripe/invoice-paid.json', import.meta.url), 'utf8'),
    );
    const e = normalize(body);
    assert.equal(e.sourceId, 'stripe:evt_1OZt2cLkdIwHu7ixaBcDeFgH');
    assert.equal(e.type, 'invoice.paid');
    assert.equal(e.occurredAt.toISOString(), '2026-03-01T00:00:00.000Z');
    assert.equal(e.object['amount_paid'], 4900);
  });
  it('throws WEBHOOK_PAYLOAD_INVALID naming what is wrong', () => {
    assert.throws(() => normalize([]), {
      code: 'WEBHOOK_PAYLOAD_INVALID',
      message: 'Stripe body must be a JSON event object',
    });
    assert.throws(() => normalize({ object: 'event', id: 'evt_1', type: 'x', created: 1 }), {
      code: 'WEBHOOK_PAYLOAD_INVALID',
      message: 'Stripe event has no data.object',
    });
  });
});

describe('stripe verify properties', () => {
  it('any signed body verifies, and changing any one byte of it never does', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (bytes, pos, delta) => {
          const body = Buffer.from(bytes);
          const headers = { 'stripe-signature': signStripePayload(body, SECRET, T) };
          assert.equal(verify({ body, headers }, { signingSecret: SECRET }, at(T)).ok, true);
          const tampered = Buffer.from(body);
          const i = pos % tampered.length;
          tampered[i] = (tampered[i]! + delta) % 256;
          assert.equal(verify({ body: tampered, headers }, { signingSecret: SECRET }, at(T)).ok, false);
        },
      ),
    );
  });
});
