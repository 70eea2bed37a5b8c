/**
 * The batched AES key wrap of the local master-key adapter: RFC 3394's own test vector, byte-for-byte
 * agreement with node's `id-aes256-wrap` for any batch, failed integrity on another master key or a
 * flipped bit, and the adapter refusing a wrapped key moved to another subject. Keys wrapped by the
 * earlier AES-256-GCM format still unwrap.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { isSwitchyardError } from '../../src/core/errors.ts';
import { wrapKey } from '../../src/privacy/crypto.ts';
import { unwrapMany, wrapMany, wrapStaged } from '../../src/privacy/key-wrap.ts';
import { createLocalMasterKeys, masterKeyId } from '../../src/privacy/local-keys.ts';

const DEFAULT_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

describe('batched AES key wrap (RFC 3394)', () => {
  it('gives the RFC 3394 §4.6 vector (256-bit key data, 256-bit KEK)', () => {
    const kek = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
    const data = Buffer.from('00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f', 'hex');
    const expected = '28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21';
    assert.equal(wrapMany(kek, [data])[0]!.toString('hex'), expected);
    assert.deepEqual(unwrapMany(kek, [Buffer.from(expected, 'hex')])[0], data);
  });

  it("agrees with node's id-aes256-wrap for any batch, and unwraps what it wraps", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 2, max: 42 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer(),
        (kek, n, m, seed) => {
          const master = Buffer.from(kek);
          const plain = Array.from({ length: m }, (_, k) => {
            const p = Buffer.alloc(8 * n);
            for (let b = 0; b < p.length; b++) p[b] = (seed + 31 * k + 7 * b) & 0xff;
            return p;
          });
          const wrapped = wrapMany(master, plain);
          wrapped.forEach((w, k) => {
            const c = createCipheriv('id-aes256-wrap', master, DEFAULT_IV);
            assert.deepEqual(w, Buffer.concat([c.update(plain[k]!), c.final()]));
            const d = createDecipheriv('id-aes256-wrap', master, DEFAULT_IV);
            assert.deepEqual(Buffer.concat([d.update(w), d.final()]), plain[k]);
          });
          assert.deepEqual(unwrapMany(master, wrapped), plain);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("the adapter's packed wrap gives what its wrap gives, and unwraps", async () => {
    const keys = createLocalMasterKeys([randomBytes(32)]);
    const items = Array.from({ length: 5 }, () => ({ subject: randomBytes(16), key: randomBytes(64) }));
    const staged = Buffer.concat(items.flatMap((it) => [it.key, it.subject]));
    const { wrapped, width } = await keys.wrapPacked(staged, 64);
    const one = await keys.wrap(items);
    assert.equal(width, one[0]!.wrapped.length);
    assert.deepEqual(wrapped, Buffer.concat(one.map((w) => w.wrapped)));
    const back = await keys.unwrap(
      items.map((it, k) => ({
        subject: it.subject,
        masterKeyId: keys.currentKeyId,
        wrapped: wrapped.subarray(k * width, (k + 1) * width),
      })),
    );
    assert.deepEqual(
      back,
      items.map((it) => it.key),
    );
  });

  it('plaintexts staged side by side, at any byte offset, wrap to the same bytes as one by one', () => {
    const master = randomBytes(32);
    for (const offset of [0, 1, 3, 4]) {
      const plain = Array.from({ length: 7 }, () => randomBytes(80));
      const staged = Buffer.concat([Buffer.alloc(offset), ...plain]).subarray(offset);
      assert.deepEqual(wrapStaged(master, staged, 80), Buffer.concat(wrapMany(master, plain)));
    }
  });

  it('a flipped bit or another master key fails the integrity check of that value only', () => {
    const master = randomBytes(32);
    const plain = Array.from({ length: 5 }, () => randomBytes(48));
    const wrapped = wrapMany(master, plain);
    const bad = wrapped.map((w) => Buffer.from(w));
    bad[2]![17]! ^= 0x10;
    assert.deepEqual(
      unwrapMany(master, bad).map((p) => p === null),
      [false, false, true, false, false],
    );
    assert.ok(unwrapMany(randomBytes(32), wrapped).every((p) => p === null));
  });
});

describe('local master keys', () => {
  it('wraps set-wise, unwraps its own and earlier GCM wraps, refuses a key moved to another subject', async () => {
    const master = randomBytes(32);
    const keys = createLocalMasterKeys([master]);
    const items = Array.from({ length: 10 }, () => ({ subject: randomBytes(16), key: randomBytes(32) }));
    const wrapped = await keys.wrap(items);
    for (const w of wrapped) assert.equal(w.wrapped.length, 56);
    // a key wrapped before key wrap (AES-256-GCM: iv ‖ tag ‖ ct, 60 bytes) in the same batch
    const legacySubject = randomBytes(16);
    const legacyKey = randomBytes(32);
    const legacy = {
      subject: legacySubject,
      masterKeyId: masterKeyId(master),
      wrapped: wrapKey(master, legacySubject, legacyKey, randomBytes(12)),
    };
    assert.deepEqual(await keys.unwrap([...wrapped, legacy]), [...items.map((i) => i.key), legacyKey]);
    const moved = { ...wrapped[0]!, subject: items[1]!.subject };
    await assert.rejects(keys.unwrap([moved]), (e) => isSwitchyardError(e) && e.code === 'PII_KEY_UNAVAILABLE');
    await assert.rejects(
      createLocalMasterKeys([randomBytes(32), master]).unwrap([{ ...wrapped[0]!, masterKeyId: 'unknown' }]),
      (e) => isSwitchyardError(e) && e.code === 'PII_KEY_UNAVAILABLE',
    );
  });

  it('a batch of one key length (wrapped in place) unwraps to its keys, each bound to its subject', async () => {
    const master = randomBytes(32);
    const keys = createLocalMasterKeys([master]);
    const items = Array.from({ length: 5 }, () => ({ subject: randomBytes(16), key: randomBytes(64) }));
    const wrapped = await keys.wrap(items);
    assert.deepEqual(
      wrapped.map((w) => w.wrapped),
      wrapMany(
        master,
        items.map((i) => Buffer.concat([i.key, i.subject])),
      ),
    );
    assert.deepEqual(
      await keys.unwrap(wrapped),
      items.map((i) => i.key),
    );
    const moved = { ...wrapped[0]!, subject: items[1]!.subject };
    await assert.rejects(keys.unwrap([moved]), (e) => isSwitchyardError(e) && e.code === 'PII_KEY_UNAVAILABLE');
  });

  it('key material of any whole number of semiblocks (a key with its address): one batch per length', async () => {
    const master = randomBytes(32);
    const keys = createLocalMasterKeys([master]);
    const items = [32, 64, 32, 96, 64].map((len) => ({ subject: randomBytes(16), key: randomBytes(len) }));
    const wrapped = await keys.wrap(items);
    assert.deepEqual(
      wrapped.map((w) => w.wrapped.length),
      [56, 88, 56, 120, 88],
    );
    assert.deepEqual(
      await keys.unwrap(wrapped),
      items.map((i) => i.key),
    );
    const moved = { ...wrapped[1]!, subject: items[4]!.subject };
    await assert.rejects(keys.unwrap([moved]), (e) => isSwitchyardError(e) && e.code === 'PII_KEY_UNAVAILABLE');
  });
});
