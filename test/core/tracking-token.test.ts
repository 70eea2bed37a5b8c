import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import {
  createHmacSha256,
  createTokenCodec,
  previewSecrets,
  signToken,
  verifyToken,
} from '../../src/core/tracking-token.ts';
import type { MessageTokenPayload, MessageTokenUse, TokenPayload } from '../../src/core/tracking-token.ts';

const SECRET = 'test-secret-one';
const UUID_LEDGER = '0b7c6f1e-2a4d-4c8e-9f00-123456789abc:ffeeddcc-bbaa-4998-8776-655443322110';

const payloadArb: fc.Arbitrary<TokenPayload> = fc
  .record({
    kind: fc.constantFrom('c', 'o', 'u', 'b') as fc.Arbitrary<TokenPayload['kind']>,
    ledgerId: fc.oneof(
      fc.string({ minLength: 1 }),
      fc.tuple(fc.uuid(), fc.uuid()).map(([a, b]) => `${a}:${b}`),
    ),
    url: fc.option(fc.webUrl(), { nil: undefined }),
    linkIndex: fc.option(fc.nat({ max: 100000 }), { nil: undefined }),
    sentAt: fc.option(fc.integer({ min: 0, max: 2 ** 34 }), { nil: undefined }),
  })
  .map((p) => {
    const out: TokenPayload = { kind: p.kind, ledgerId: p.ledgerId };
    if (p.sentAt !== undefined) out.sentAt = p.sentAt;
    if (p.url !== undefined) out.url = p.url;
    if (p.linkIndex !== undefined) out.linkIndex = p.linkIndex;
    return out;
  });

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const messageArb: fc.Arbitrary<MessageTokenPayload> = fc
  .record({
    ledgerId: fc.oneof(
      fc.string({ minLength: 1 }),
      fc.tuple(fc.uuid(), fc.uuid()).map(([a, b]) => `${a}:${b}`),
    ),
    sentAt: fc.option(fc.integer({ min: 0, max: 2 ** 34 }), { nil: undefined }),
  })
  .map((p) => (p.sentAt === undefined ? { ledgerId: p.ledgerId } : { ledgerId: p.ledgerId, sentAt: p.sentAt }));
const useArb = fc.constantFrom<MessageTokenUse>('track', 'unsubscribe');

describe('tracking tokens', () => {
  it('round-trips every payload', () => {
    const codec = createTokenCodec([SECRET]);
    fc.assert(
      fc.property(payloadArb, (p) => {
        const token = codec.sign(p);
        assert.match(token, /^[A-Za-z0-9_-]+$/);
        assert.deepEqual(codec.verify(token), p);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects any single-character change', () => {
    const codec = createTokenCodec([SECRET]);
    fc.assert(
      fc.property(payloadArb, fc.nat(), fc.nat({ max: 63 }), (p, at, ch) => {
        const token = codec.sign(p);
        const i = at % token.length;
        const replacement = B64[ch] as string;
        fc.pre(replacement !== token[i]);
        const tampered = token.slice(0, i) + replacement + token.slice(i + 1);
        assert.equal(codec.verify(tampered), null);
      }),
      { numRuns: 500 },
    );
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

describe('per-message tokens (version 1)', () => {
  const codec = createTokenCodec([SECRET]);

  it('round-trips every payload, each token for its own use only', () => {
    fc.assert(
      fc.property(messageArb, (p) => {
        const tokens = codec.signMessage(p);
        for (const use of ['track', 'unsubscribe'] as const) {
          assert.match(tokens[use], /^[A-Za-z0-9_-]+$/);
          assert.deepEqual(codec.verifyMessage(tokens[use], use), p);
        }
        assert.notEqual(tokens.track, tokens.unsubscribe);
        assert.equal(codec.verifyMessage(tokens.track, 'unsubscribe'), null, 'a track token cannot unsubscribe');
        assert.equal(codec.verifyMessage(tokens.unsubscribe, 'track'), null);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects any flipped bit of the token bytes', () => {
    fc.assert(
      fc.property(messageArb, useArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (p, use, at, bit) => {
        const raw = Buffer.from(codec.signMessage(p)[use], 'base64url');
        const i = at % raw.length;
        raw[i] = (raw[i] as number) ^ (1 << bit);
        assert.equal(codec.verifyMessage(raw.toString('base64url'), use), null);
      }),
      { numRuns: 500 },
    );
  });

  it('rejects any single-character change, including non-canonical spellings of the same bytes', () => {
    fc.assert(
      fc.property(messageArb, useArb, fc.nat(), fc.nat({ max: 63 }), (p, use, at, ch) => {
        const token = codec.signMessage(p)[use];
        const i = at % token.length;
        fc.pre(B64[ch] !== token[i]);
        assert.equal(codec.verifyMessage(token.slice(0, i) + (B64[ch] as string) + token.slice(i + 1), use), null);
      }),
      { numRuns: 500 },
    );
    // a 52-byte token's last character holds 2 data bits and 4 spare ones: same bytes, other string
    const token = codec.signMessage({ ledgerId: 'cmp_0123456789ab:cus_00000001', sentAt: 1_772_445_600 }).track;
    const last = B64.indexOf(token.at(-1) as string);
    const respelled = token.slice(0, -1) + (B64[last ^ 1] as string);
    assert.deepEqual(Buffer.from(respelled, 'base64url'), Buffer.from(token, 'base64url'));
    assert.equal(codec.verifyMessage(respelled, 'track'), null);
  });

  it('is the canonical string of its bytes, and decoding then re-signing gives the same string', () => {
    fc.assert(
      fc.property(messageArb, useArb, (p, use) => {
        const token = codec.signMessage(p)[use];
        assert.equal(Buffer.from(token, 'base64url').toString('base64url'), token);
        assert.equal(codec.signMessage(codec.verifyMessage(token, use) as MessageTokenPayload)[use], token);
      }),
      { numRuns: 200 },
    );
  });

  it('never passes a message token as a per-link token or the reverse', () => {
    fc.assert(
      fc.property(messageArb, payloadArb, (m, p) => {
        const tokens = codec.signMessage(m);
        assert.equal(codec.verify(tokens.track), null);
        assert.equal(codec.verify(tokens.unsubscribe), null);
        const old = codec.sign(p);
        assert.equal(codec.verifyMessage(old, 'track'), null);
        assert.equal(codec.verifyMessage(old, 'unsubscribe'), null);
      }),
      { numRuns: 200 },
    );
  });

  it('rotates like per-link tokens, and refuses a foreign secret, truncation and extension', () => {
    const p = { ledgerId: UUID_LEDGER, sentAt: 1_772_445_600 };
    const old = createTokenCodec(['old-secret']).signMessage(p);
    const rotated = createTokenCodec(['new-secret', 'old-secret']);
    assert.deepEqual(rotated.verifyMessage(old.unsubscribe, 'unsubscribe'), p);
    assert.deepEqual(createTokenCodec(['new-secret']).verifyMessage(rotated.signMessage(p).track, 'track'), p);
    assert.equal(createTokenCodec(['new-secret']).verifyMessage(old.track, 'track'), null);
    assert.equal(codec.verifyMessage(old.track.slice(0, -1), 'track'), null);
    assert.equal(codec.verifyMessage(`${old.track}AA`, 'track'), null);
    assert.equal(codec.verifyMessage('', 'track'), null);
  });

  it('is shorter than the per-link tokens it replaces (72 characters for two UUIDs and sentAt)', () => {
    const tokens = codec.signMessage({ ledgerId: UUID_LEDGER, sentAt: 1_772_445_600 });
    assert.equal(tokens.track.length, Math.ceil(((1 + 32 + 5 + 16) * 8) / 6));
  });
});

describe('HMAC-SHA256 over one-shot hashes', () => {
  it('gives the same 32 bytes as createHmac for any key and data, across calls of one keyed instance', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ minLength: 1 }),
          fc.uint8Array({ minLength: 0, maxLength: 200 }).map((b) => Buffer.from(b)),
        ),
        fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 1, maxLength: 4 }),
        (key, inputs) => {
          const mac = createHmacSha256(key);
          for (const data of inputs) assert.deepEqual(mac(data), createHmac('sha256', key).update(data).digest());
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('link tags', () => {
  const codec = createTokenCodec([SECRET]);
  const campaignArb = fc.oneof(fc.string({ minLength: 1, maxLength: 64 }), fc.uuid());
  const urlArb = fc.oneof(
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc.string({ minLength: 1 }).map((s) => `https://x.example/${s}`),
  );

  it('round-trips: the tag gives back its URL for its campaign and link index, and only those', () => {
    fc.assert(
      fc.property(
        campaignArb,
        campaignArb,
        fc.nat({ max: 100000 }),
        fc.nat({ max: 100000 }),
        urlArb,
        (c, c2, i, i2, url) => {
          const tag = codec.signLink(c, i, url);
          assert.match(tag, /^[A-Za-z0-9_-]+$/);
          assert.equal(codec.verifyLink(tag, c, i), url);
          assert.equal(codec.signLink(c, i, url), tag, 'deterministic: one tag per (campaign, link, URL)');
          if (c2 !== c) assert.equal(codec.verifyLink(tag, c2, i), null);
          if (i2 !== i) assert.equal(codec.verifyLink(tag, c, i2), null);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects any single-character change (the URL or the MAC), truncation, extension and a foreign secret', () => {
    fc.assert(
      fc.property(campaignArb, fc.nat({ max: 1000 }), urlArb, fc.nat(), fc.nat({ max: 63 }), (c, i, url, at, ch) => {
        const tag = codec.signLink(c, i, url);
        const k = at % tag.length;
        const replacement = B64[ch] as string;
        fc.pre(replacement !== tag[k]);
        assert.equal(codec.verifyLink(tag.slice(0, k) + replacement + tag.slice(k + 1), c, i), null);
        assert.equal(codec.verifyLink(tag.slice(0, -1), c, i), null);
        assert.equal(codec.verifyLink(`${tag}A`, c, i), null);
        assert.equal(createTokenCodec(['another-secret']).verifyLink(tag, c, i), null);
      }),
      { numRuns: 300 },
    );
  });

  it('never passes as a message or per-link token, nor they as a tag; rotates like them', () => {
    fc.assert(
      fc.property(campaignArb, fc.nat({ max: 1000 }), urlArb, messageArb, payloadArb, (c, i, url, m, p) => {
        const tag = codec.signLink(c, i, url);
        assert.equal(codec.verify(tag), null);
        assert.equal(codec.verifyMessage(tag, 'track'), null);
        assert.equal(codec.verifyMessage(tag, 'unsubscribe'), null);
        for (const other of [codec.sign(p), codec.signMessage(m).track, codec.signMessage(m).unsubscribe]) {
          assert.equal(codec.verifyLink(other, c, i), null);
        }
      }),
      { numRuns: 200 },
    );
    const old = createTokenCodec(['old-secret']).signLink('camp', 2, 'https://x.example/a');
    assert.equal(createTokenCodec(['new-secret', 'old-secret']).verifyLink(old, 'camp', 2), 'https://x.example/a');
    assert.throws(() => codec.signLink('camp', -1, 'https://x.example/'), TypeError);
    assert.equal(codec.verifyLink('', 'camp', 0), null);
    assert.equal(
      codec.verifyLink(codec.signLink('camp', 0, 'https://x.example/').slice(0, 22), 'camp', 0),
      null,
      'a bare MAC has no URL',
    );
  });
});

describe('preview secrets', () => {
  it('tokens a preview signs never verify under the tracking secrets, for any payload, and vice versa', () => {
    const secrets = ['newest', 'older'];
    const real = createTokenCodec(secrets);
    const preview = createTokenCodec(previewSecrets(secrets));
    fc.assert(
      fc.property(
        fc.tuple(fc.uuid(), fc.uuid()).map(([a, b]) => `${a}:${b}`),
        fc.nat({ max: 1000 }),
        fc.webUrl(),
        (ledgerId, linkIndex, url) => {
          const p = preview.signMessage({ ledgerId });
          for (const use of ['track', 'unsubscribe'] as const) assert.equal(real.verifyMessage(p[use], use), null);
          assert.equal(real.verifyLink(preview.signLink('camp', linkIndex, url), 'camp', linkIndex), null);
          assert.equal(real.verify(preview.sign({ kind: 'u', ledgerId })), null);
          const r = real.signMessage({ ledgerId });
          assert.equal(preview.verifyMessage(r.unsubscribe, 'unsubscribe'), null);
          assert.deepEqual(preview.verifyMessage(p.unsubscribe, 'unsubscribe'), { ledgerId });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('are derived deterministically, one per tracking secret, all distinct from them', () => {
    const derived = previewSecrets(['a', 'b']);
    assert.deepEqual(derived, previewSecrets(['a', 'b']));
    assert.deepEqual(previewSecrets('a'), derived.slice(0, 1));
    assert.equal(new Set([...derived, 'a', 'b']).size, 4);
    assert.throws(() => previewSecrets([]), TypeError);
  });
});
