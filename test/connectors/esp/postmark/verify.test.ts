import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verify } from '../../../../src/connectors/esp/postmark/verify.ts';
import { basicAuth } from '../../../support/webhook-signing.ts';

const KEYS = { username: 'postmark-hook', password: 'c0rrect-h0rse-battery' };
const NOW = new Date('2026-03-01T00:00:00Z');

describe('postmark verify (basic auth)', () => {
  it('accepts the configured credentials', () => {
    assert.deepEqual(
      verify({ body: '{}', headers: { authorization: basicAuth(KEYS.username, KEYS.password) } }, KEYS, NOW),
      { ok: true },
    );
  });
  it('accepts a password containing a colon', () => {
    const keys = { username: 'u', password: 'p:a:ss' };
    assert.deepEqual(verify({ body: '{}', headers: { Authorization: basicAuth('u', 'p:a:ss') } }, keys, NOW), {
      ok: true,
    });
  });
  it('rejects a wrong password, a wrong user, and a prefix of the password', () => {
    for (const [u, p] of [
      [KEYS.username, 'wrong'],
      ['someone', KEYS.password],
      [KEYS.username, KEYS.password.slice(0, -1)],
    ] as const) {
      assert.deepEqual(verify({ body: '{}', headers: { authorization: basicAuth(u, p) } }, KEYS, NOW), {
        ok: false,
        code: 'WEBHOOK_SIGNATURE_INVALID',
        reason: 'wrong basic-auth credentials',
      });
    }
  });
  it('names a missing or non-basic Authorization header', () => {
    const r = verify({ body: '{}', headers: {} }, KEYS, NOW);
    assert.match(!r.ok ? r.reason : '', /^missing header Authorization/);
    const r2 = verify({ body: '{}', headers: { authorization: 'Bearer abc' } }, KEYS, NOW);
    assert.match(!r2.ok ? r2.reason : '', /not Basic credentials/);
    const r3 = verify(
      { body: '{}', headers: { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` } },
      KEYS,
      NOW,
    );
    assert.match(!r3.ok ? r3.reason : '', /no user:password pair/);
  });
});
