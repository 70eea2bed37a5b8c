import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createTokenCodec, signToken, verifyToken } from '../../src/core/tracking-token.ts';
import type { TokenPayload } from '../../src/core/tracking-token.ts';

const SECRET = 'test-secret-one';
const UUID_LEDGER = '0b7c6f1e-2a4d-4c8e-9f00-123456789abc:ffeeddcc-bbaa-4998-8776-655443322110';

const payloadArb: fc.Arbitrary<TokenPayload> = fc.record({
  kind: fc.constantFrom('c', 'o', 'u', 'b') as fc.Arbitrary<TokenPayload['kind']>,
  ledgerId: fc.oneof(fc.string({ minLength: 1 }), fc.tuple(fc.uuid(), fc.uuid()).map(([a, b]) => `${a}:${b}`)),
  url: fc.option(fc.webUrl(), { nil: undefined }),
  linkIndex: fc.option(fc.nat({ max: 100000 }), { nil: undefined }),
  sentAt: fc.option(fc.integer({ min: 0, max: 2 ** 34 }), { nil: undefined }),
}).map((p) => {
  const out: TokenPayload = { kind: p.kind, ledgerId: p.ledgerId };
  if (p.sentAt !== undefined) out.sentAt = p.sentAt;
  if (p.url !== undefined) out.url = p.url;
  if (p.linkIndex !== undefined) out.linkIndex = p.linkIndex;
  return out;
});

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

describe('tracking tokens', () => {
  it('round-trips every payload', () => {
    const codec = createTokenCodec([SECRET]);
    fc.assert(fc.property(payloadArb, (p) => {
      const token = codec.sign(p);
      assert.match(token, /^[A-Za-z0-9_-]+$/);
      assert.deepEqual(codec.verify(token), p);
    }), { numRuns: 300 });
  });

  it('rejects any single-character change', () => {
    const codec = createTokenCodec([SECRET]);
    fc.assert(fc.property(payloadArb, fc.nat(), fc.nat({ max: 63 }), (p, at, ch) => {
      const token = codec.sign(p);
      const i = at % token.length;
      const replacement = B64[ch] as string;
      fc.pre(replacement !== token[i]);
      const tampered = token.slice(0, i) + replacement + token.slice(i + 1);
      assert.equal(codec.verify(tampered), null);
    }), { numRuns: 500 });
  });

  it('rejects truncation, extension and a foreign secret', () => {
    const token = signToken(SECRET, { kind: 'o', ledgerId: 'c1:k1' });
    assert.equal(verifyToken(SECRET, token.slice(0, -1)), null);
    assert.equal(verifyToken(SECRET, `${token}A`), null);
    assert.equal(verifyToken('another-secret', token), null);
    assert.equal(verifyToken(SECRET, ''), null);
    assert.equal(verifyToken(SECRET, 'not a token!'), null);
  });

  it('signs with the first secret and verifies with any (rotation)', () => {
    const old = signToken(['old-secret'], { kind: 'u', ledgerId: 'c:k' });
    const rotated = createTokenCodec(['new-secret', 'old-secret']);
    assert.deepEqual(rotated.verify(old), { kind: 'u', ledgerId: 'c:k' });
    const fresh = rotated.sign({ kind: 'u', ledgerId: 'c:k' });
    assert.deepEqual(verifyToken(['new-secret'], fresh), { kind: 'u', ledgerId: 'c:k' });
    assert.equal(verifyToken(['old-secret'], fresh), null);
  });

  it('keeps a VERP token for two UUIDs inside a 64-octet local part', () => {
    const token = signToken(SECRET, { kind: 'b', ledgerId: UUID_LEDGER });
    assert.ok(`bounces+${token}`.length <= 64, `bounces+${token}`);
    assert.deepEqual(verifyToken(SECRET, token), { kind: 'b', ledgerId: UUID_LEDGER });
  });

  it('does not let a token of one kind pass as another', () => {
    const open = signToken(SECRET, { kind: 'o', ledgerId: 'c:k' });
    assert.equal(verifyToken(SECRET, open)?.kind, 'o');
  });

  it('refuses an empty secret list', () => {
    assert.throws(() => createTokenCodec([]), /non-empty/);
  });
});
