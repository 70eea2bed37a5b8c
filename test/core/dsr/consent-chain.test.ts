import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  canonicalConsentText,
  checkConsentChain,
  type ChainedConsentEntry,
  type ConsentEntry,
} from '../../../src/core/dsr/consent-chain.ts';
import { GENESIS_HASH } from '../../../src/core/hash-chain.ts';
import { signLink, verifyLink } from '../../../src/core/dsr/signed-link.ts';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

function entry(id: number, topic: string): ConsentEntry {
  return {
    id,
    at: new Date(1_700_000_000_000 + id),
    occurredAt: new Date(1_700_000_000_000 + id),
    subjectHash: `s${id % 3}`,
    contactId: null,
    topic,
    channel: 'email',
    basis: 'express',
    action: 'grant',
    source: 'form:https://example.com/signup',
    actor: 'end_user',
    wordingId: 'w1',
    wordingVersion: '3',
    wordingHash: 'abc',
    locale: 'en',
    doiTokenId: null,
    doiSentAt: null,
    doiConfirmedAt: null,
    gpc: null,
    jurisdiction: 'gdpr',
    evidenceRef: null,
    withdrawnVia: null,
    expiresAt: null,
    piiDigest: 'd',
  };
}

function chain(topics: string[]): ChainedConsentEntry[] {
  let prev = GENESIS_HASH;
  return topics.map((t, i) => {
    const e = entry(i + 1, t);
    const hash = sha(canonicalConsentText(prev, e));
    const row = { ...e, prevHash: prev, hash };
    prev = hash;
    return row;
  });
}

describe('consent chain', () => {
  it('property: an intact chain verifies; changing any field of any record names that record', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 20 }), fc.nat(), (topics, pick) => {
        const rows = chain(topics);
        assert.equal(checkConsentChain(rows, sha).ok, true);
        const i = pick % rows.length;
        const tampered = rows.map((r, j) => (j === i ? { ...r, topic: `${r.topic}!` } : r));
        const check = checkConsentChain(tampered, sha);
        assert.equal(check.ok, false);
        assert.equal(!check.ok && check.brokenId, i + 1);
      }),
    );
  });

  it('a deleted record breaks the link of the one after it', () => {
    const rows = chain(['a', 'b', 'c']);
    const check = checkConsentChain([rows[0]!, rows[2]!], sha);
    assert.deepEqual(check, { ok: false, rows: 1, brokenId: 3, reason: 'prev_hash' });
  });
});

describe('signed links', () => {
  const now = new Date('2026-03-01T00:00:00Z');
  it('verifies, and refuses forged, expired and other-kind tokens', () => {
    const t = signLink('k1', { kind: 'doi', id: 'tok_1', exp: now.getTime() + 1000 });
    assert.deepEqual(verifyLink(['k0', 'k1'], t, 'doi', now), { ok: true, id: 'tok_1' });
    assert.deepEqual(verifyLink(['k2'], t, 'doi', now), { ok: false, reason: 'bad_signature' });
    assert.deepEqual(verifyLink(['k1'], t, 'dsr-verify', now), { ok: false, reason: 'wrong_kind' });
    assert.deepEqual(verifyLink(['k1'], t, 'doi', new Date(now.getTime() + 1001)), { ok: false, reason: 'expired' });
    assert.deepEqual(verifyLink(['k1'], 'garbage', 'doi', now), { ok: false, reason: 'malformed' });
    const [body, mac] = t.split('.');
    assert.equal(verifyLink(['k1'], `${body}x.${mac}`, 'doi', now).ok, false);
  });
});
