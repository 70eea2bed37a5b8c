import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verify } from '../../../../src/connectors/esp/sendgrid/verify.ts';
import { createSendgridSigner } from '../../../support/webhook-signing.ts';

// The published test vector from SendGrid's own SDK (sendgrid-nodejs eventwebhook.spec.js).
const PUBLIC_KEY =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZ'
  + 'FceEu/1FwCM/QmGUhA==';
const OTHER_KEY =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7G'
  + 'jUuFDb/R1NGe1OPzpA==';
const SIGNATURE = 'MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=';
const TIMESTAMP = '1588788367';
const PAYLOAD = JSON.stringify({ category: 'example_payload', event: 'test_event', message_id: 'message_id' });
const AT = new Date(1588788367_000 + 60_000);

function headers(sig = SIGNATURE, ts = TIMESTAMP): Record<string, string> {
  return { 'X-Twilio-Email-Event-Webhook-Signature': sig, 'X-Twilio-Email-Event-Webhook-Timestamp': ts };
}

describe('sendgrid verify: SendGrid SDK test vector', () => {
  it('accepts the documented signature (base64 DER key, string body)', () => {
    assert.equal(verify({ body: PAYLOAD, headers: headers() }, { publicKey: PUBLIC_KEY }, AT).ok, true);
  });
  it('accepts the same bytes as a Buffer with lower-case header names', () => {
    const h = Object.fromEntries(Object.entries(headers()).map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(verify({ body: Buffer.from(PAYLOAD), headers: h }, { publicKey: PUBLIC_KEY }, AT).ok, true);
  });
  it('rejects the wrong key', () => {
    const r = verify({ body: PAYLOAD, headers: headers() }, { publicKey: OTHER_KEY }, AT);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : '', /bad signature/);
  });
  it('rejects a tampered body', () => {
    const r = verify({ body: 'payload', headers: headers() }, { publicKey: PUBLIC_KEY }, AT);
    assert.equal(!r.ok && r.code, 'WEBHOOK_SIGNATURE_INVALID');
  });
  it('rejects a changed signature and a non-numeric timestamp', () => {
    const bad = verify(
      {
        body: PAYLOAD,
        headers: headers(
          'MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=',
        ),
      },
      { publicKey: PUBLIC_KEY },
      AT,
    );
    assert.match(!bad.ok ? bad.reason : '', /bad signature/);
    const ts = verify({ body: PAYLOAD, headers: headers(SIGNATURE, 'timestamp') }, { publicKey: PUBLIC_KEY }, AT);
    assert.match(!ts.ok ? ts.reason : '', /X-Twilio-Email-Event-Webhook-Timestamp is not unix seconds/);
  });
  it('names the missing header', () => {
    const r = verify(
      { body: PAYLOAD, headers: { 'X-Twilio-Email-Event-Webhook-Timestamp': TIMESTAMP } },
      { publicKey: PUBLIC_KEY },
      AT,
    );
    assert.deepEqual(r, {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: 'missing header X-Twilio-Email-Event-Webhook-Signature',
    });
    const r2 = verify(
      { body: PAYLOAD, headers: { 'X-Twilio-Email-Event-Webhook-Signature': SIGNATURE } },
      { publicKey: PUBLIC_KEY },
      AT,
    );
    assert.match(!r2.ok ? r2.reason : '', /missing header X-Twilio-Email-Event-Webhook-Timestamp/);
  });
  it('rejects a stale timestamp with the age and tolerance in the reason', () => {
    const r = verify({ body: PAYLOAD, headers: headers() }, { publicKey: PUBLIC_KEY, toleranceSeconds: 30 }, AT);
    assert.deepEqual(r, {
      ok: false,
      code: 'WEBHOOK_STALE',
      reason: 'timestamp 1588788367 is 60 s old, outside tolerance 30 s',
    });
  });
  it('says "wrong key" when the configured key is not an EC P-256 key', () => {
    const r = verify({ body: PAYLOAD, headers: headers() }, { publicKey: 'bm90IGEga2V5' }, AT);
    assert.match(!r.ok ? r.reason : '', /^wrong key: /);
  });
});

describe('sendgrid verify: locally signed', () => {
  it('accepts a PEM key and rejects the same request one byte changed', () => {
    const s = createSendgridSigner();
    const body = '[{"event":"delivered"}]';
    const h = s.headers(body, 1772323200);
    const now = new Date(1772323200_000);
    assert.equal(verify({ body, headers: h }, { publicKey: s.publicKeyPem }, now).ok, true);
    assert.equal(verify({ body, headers: h }, { publicKey: s.publicKeyBase64 }, now).ok, true);
    assert.equal(
      verify({ body: body.replace('delivered', 'delivereD'), headers: h }, { publicKey: s.publicKeyPem }, now).ok,
      false,
    );
  });
});
