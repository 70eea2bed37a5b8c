import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { verify } from '../../../../src/connectors/esp/mailgun/verify.ts';
import { signMailgunBody } from '../../../support/webhook-signing.ts';

const KEY = 'key-3ax6xnjp29jd6fds4gc373sgvjxteol0';
const delivered = JSON.parse(
  readFileSync(new URL('../../../fixtures/webhooks/mailgun/delivered.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

describe('mailgun verify', () => {
  it('accepts HMAC-SHA256(key, timestamp + token) computed independently (openssl dgst -hmac)', () => {
    // Timestamp and token as in Mailgun's "Securing Webhooks" sample; hex from openssl, not our code.
    const body = JSON.stringify({
      ...delivered,
      signature: {
        timestamp: '1529006854',
        token: 'a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0',
        signature: 'b63c0701c4f4b614f272106a1b367c5c3369bcdca664ae73ebd52787e45eef07',
      },
    });
    assert.deepEqual(verify({ body, headers: {} }, { signingKey: KEY }, new Date(1529006854_000)), {
      ok: true,
      replay: {
        key: 'a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0',
        expiresAt: new Date((1529006854 + 900 + 1) * 1000),
      },
    });
  });
  it('accepts a numeric signature.timestamp', () => {
    const signed = signMailgunBody(delivered, KEY, 1772323200);
    const sig = signed['signature'] as Record<string, string>;
    const body = JSON.stringify({ ...signed, signature: { ...sig, timestamp: 1772323200 } });
    assert.equal(
      verify({ body: Buffer.from(body), headers: {} }, { signingKey: KEY }, new Date(1772323200_000)).ok,
      true,
    );
  });
  it('rejects the wrong key', () => {
    const body = JSON.stringify(signMailgunBody(delivered, KEY, 1772323200));
    const r = verify({ body, headers: {} }, { signingKey: 'key-other' }, new Date(1772323200_000));
    assert.equal(!r.ok && r.code, 'WEBHOOK_SIGNATURE_INVALID');
    assert.match(!r.ok ? r.reason : '', /^bad signature: HMAC-SHA256/);
  });
  it('rejects an altered token (the signed part of the body)', () => {
    const signed = signMailgunBody(delivered, KEY, 1772323200);
    const sig = signed['signature'] as Record<string, string>;
    const body = JSON.stringify({ ...signed, signature: { ...sig, token: 'b'.repeat(50) } });
    assert.equal(verify({ body, headers: {} }, { signingKey: KEY }, new Date(1772323200_000)).ok, false);
  });
  it('rejects a stale timestamp outside 15 min by default', () => {
    const body = JSON.stringify(signMailgunBody(delivered, KEY, 1772323200));
    const r = verify({ body, headers: {} }, { signingKey: KEY }, new Date((1772323200 + 901) * 1000));
    assert.deepEqual(r, {
      ok: false,
      code: 'WEBHOOK_STALE',
      reason: 'timestamp 1772323200 is 901 s old, outside tolerance 900 s',
    });
    assert.equal(verify({ body, headers: {} }, { signingKey: KEY }, new Date((1772323200 + 900) * 1000)).ok, true);
  });
  it('names a missing signature part and a non-JSON body', () => {
    const r = verify(
      { body: JSON.stringify({ 'event-data': {}, signature: { timestamp: '1', token: 't' } }), headers: {} },
      { signingKey: KEY },
      new Date(),
    );
    assert.deepEqual(r, {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: 'missing signature.signature in body',
    });
    const r2 = verify({ body: 'event=delivered&token=x', headers: {} }, { signingKey: KEY }, new Date());
    assert.equal(!r2.ok && r2.code, 'WEBHOOK_PAYLOAD_INVALID');
    assert.match(!r2.ok ? r2.reason : '', /^body is not JSON/);
    const r3 = verify(
      { body: '{"signature":{"timestamp":"1","token":"t","signature":"zz"}}', headers: {} },
      { signingKey: KEY },
      new Date(),
    );
    assert.match(!r3.ok ? r3.reason : '', /not 64 hex characters/);
  });
});
