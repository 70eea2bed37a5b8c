/**
 * The privacy service on a real store: sealing per subject, opening, blind index, shredding (the
 * data under a shredded key is unreadable and the subject keeps a suppression fingerprint), the LRU
 * bound, and master-key rotation (rewrap) including a key that is not held.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { createManualClock } from '../../src/clock/manual.ts';
import { isSwitchyardError } from '../../src/core/errors.ts';
import {
  blindIndexOf,
  createBlindIndexer,
  createPackedBlindIndexer,
  normalizeAddress,
  parseSealed,
  SEALED_PREFIX,
} from '../../src/privacy/crypto.ts';
import { createLocalMasterKeys, masterKeyId } from '../../src/privacy/local-keys.ts';
import { createLru } from '../../src/privacy/lru.ts';
import { createPrivacy } from '../../src/privacy/service.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { testDatabases } from '../support/databases.ts';

let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
});
after(async () => {
  await db.close();
});

const clock = createManualClock(new Date('2026-12-01T00:00:00Z'));
const indexKey = randomBytes(32);
const privacyWith = (masters: Buffer[], cacheSize = 1000) =>
  createPrivacy({ db, clock, keys: createLocalMasterKeys(masters), indexKey }, { cacheSize });
const unique = () => `p${randomBytes(6).toString('hex')}@Example.org`;

describe('privacy service', () => {
  it('seals per subject and opens again; no plaintext in the sealed value or in the key table', async () => {
    const master = randomBytes(32);
    const p = privacyWith([master]);
    const a = unique();
    const b = unique();
    const sealed = await p.sealMany([
      { email: a, value: a },
      { email: b, value: 'Ada Lovelace' },
      { email: a, value: 'reply body' },
    ]);
    for (const s of sealed) assert.ok(s.startsWith(SEALED_PREFIX));
    assert.ok(!sealed.join('').includes('Lovelace'));
    assert.deepEqual(await p.openMany(sealed), [a, 'Ada Lovelace', 'reply body']);
    // a second service with a cold cache reads the same keys from the store; another master key cannot
    assert.deepEqual(await privacyWith([master], 0).openMany(sealed), [a, 'Ada Lovelace', 'reply body']);
    const stranger = privacyWith([randomBytes(32)], 0);
    await assert.rejects(stranger.openMany(sealed), (e) => isSwitchyardError(e) && e.code === 'PII_KEY_UNAVAILABLE');
    const { rows } = await db.query<{ t: string }>('select t::text as t from subject_keys t');
    assert.ok(!rows.some((r) => r.t.toLowerCase().includes(a.toLowerCase().split('@')[0]!)));
    // a blind index the caller computed (the blast carries it in the chunk) is used as the subject
    const [given] = await p.sealMany([{ email: a, value: 'x', subject: p.blindIndex(b) }]);
    assert.deepEqual(parseSealed(given!)?.subject, p.blindIndex(b));
  });

  it("the subject's own address is its id alone, opened from its key row, unreadable once erased", async () => {
    const master = randomBytes(32);
    const p = privacyWith([master]);
    const a = unique();
    const address = a.trim().toLowerCase();
    const id = p.blindIndex(a).toString('base64url');
    // the normalised address becomes the subject's id; any other value (the address as typed too) is sealed
    const [ref, typed, name] = await p.sealMany([
      { email: a, value: address },
      { email: a, value: a },
      { email: a, value: 'Ada Lovelace' },
    ]);
    assert.equal(ref, SEALED_PREFIX + id);
    assert.deepEqual(parseSealed(typed!)?.subject, p.blindIndex(a));
    assert.deepEqual(await privacyWith([master], 0).openMany([ref!, typed!, name!]), [address, a, 'Ada Lovelace']);
    // the key row holds the address only wrapped
    const { rows } = await db.query<{ t: string }>('select t::text as t from subject_keys t');
    assert.ok(!rows.some((r) => r.t.includes(Buffer.from(address).toString('hex'))));
    // rotation carries the address over with the key
    await privacyWith([randomBytes(32), master]).rewrapAll();
    await p.shred(a);
    assert.deepEqual(await privacyWith([master], 0).openMany([ref!, typed!]), [null, null]);
    assert.equal(await p.open(ref!), null);
  });

  it('a key row created before addresses were kept (key only) still seals the address itself', async () => {
    const master = randomBytes(32);
    const keys = createLocalMasterKeys([master]);
    const a = unique().toLowerCase();
    const subject = blindIndexOf(indexKey, a);
    const [w] = await keys.wrap([{ subject, key: randomBytes(32) }]);
    assert.equal(w!.wrapped.length, 56);
    await db.query(
      'insert into subject_keys (subject, master_key_id, wrapped_key, created_at) values ($1, $2, $3, $4)',
      [subject, w!.masterKeyId, w!.wrapped, clock.now()],
    );
    const p = privacyWith([master], 0);
    const [s] = await p.sealMany([{ email: a, value: a }]);
    assert.notEqual(parseSealed(s!), null);
    assert.equal(await privacyWith([master], 0).open(s!), a);
    // a marker of that subject (the form an erasure writes) names no address: it opens as nothing
    assert.equal(await p.open(SEALED_PREFIX + subject.toString('base64url')), null);
  });

  it('a chunk mixing subjects with keys and new ones: each keeps one key, readable by every instance', async () => {
    const master = randomBytes(32);
    const [a, b, c] = [unique(), unique(), unique()];
    const first = privacyWith([master]);
    const second = privacyWith([master], 0);
    const one = await first.sealMany([
      { email: a, value: 'a1' },
      { email: b, value: 'b1' },
    ]);
    // a has a key (read from the store, not replaced), c is new (inserted by this statement)
    const two = await second.sealMany([
      { email: a, value: 'a2' },
      { email: c, value: 'c2' },
    ]);
    assert.deepEqual(await second.openMany(one), ['a1', 'b1']);
    assert.deepEqual(await first.openMany(two), ['a2', 'c2']);
    assert.deepEqual(await privacyWith([master], 0).openMany([...one, ...two]), ['a1', 'b1', 'a2', 'c2']);
  });

  it('after a chunk of only new subjects, one where some have keys keeps those keys and creates the rest', async () => {
    const master = randomBytes(32);
    const [a, b, c, d] = [unique(), unique(), unique(), unique()];
    const other = privacyWith([master]);
    const p = privacyWith([master], 0);
    const one = await other.sealMany([{ email: a, value: 'a1' }]);
    // all new: p's next key statement only inserts, and learns that a had a key from its count
    const two = await p.sealMany([
      { email: b, value: 'b2' },
      { email: c, value: 'c2' },
    ]);
    const three = await p.sealMany([
      { email: a, value: 'a3' },
      { email: d, value: 'd3' },
    ]);
    const cold = privacyWith([master], 0);
    assert.deepEqual(await cold.openMany([...one, ...two, ...three]), ['a1', 'b2', 'c2', 'a3', 'd3']);
    assert.deepEqual(await other.openMany(three), ['a3', 'd3']);
    const subjects = [a, b, c, d].map((e) => p.blindIndex(e));
    const { rows } = await db.query<{ n: number }>(
      'select count(*)::int as n from subject_keys where subject = any($1::bytea[])',
      [subjects],
    );
    assert.equal(rows[0]!.n, 4);
  });

  it('case and whitespace of the address do not change the subject', async () => {
    const p = privacyWith([randomBytes(32)]);
    const a = unique();
    assert.deepEqual(p.blindIndex(a), p.blindIndex(`  ${a.toUpperCase()} `));
    const [s] = await p.sealMany([{ email: a, value: 'x' }]);
    const [t] = await p.sealMany([{ email: a.toLowerCase(), value: 'y' }]);
    assert.equal(s!.slice(0, 26), t!.slice(0, 26));
  });

  it('shred: the key is destroyed, sealed values open as null, the fingerprint stays, repeat is a no-op', async () => {
    const master = randomBytes(32);
    const p = privacyWith([master]);
    const a = unique();
    const other = unique();
    const [sa, so] = await p.sealMany([
      { email: a, value: 'Grace Hopper' },
      { email: other, value: 'kept' },
    ]);
    assert.equal(await p.isShredded(a), false);
    assert.deepEqual(await p.shred(a), { shredded: true, subject: p.blindIndex(a).toString('base64url') });
    assert.equal((await p.shred(a)).shredded, false);
    assert.equal(await p.isShredded(a.toUpperCase()), true);
    // a fresh process (no cache) cannot read it either
    const fresh = privacyWith([master], 10);
    assert.deepEqual(await fresh.openMany([sa!, so!]), [null, 'kept']);
    assert.deepEqual(await p.openMany([sa!]), [null]);
    // a later seal for the erased subject stores only the erased marker, never the value
    const [later] = await p.sealMany([{ email: a, value: 'Grace Hopper again' }]);
    assert.equal(later, SEALED_PREFIX + p.blindIndex(a).toString('base64url'));
    assert.equal(await p.open(later!), null);
    const fp = await p.findFingerprinted([a, other, ` ${a.toUpperCase()}`]);
    assert.deepEqual([...fp.keys()], [a, ` ${a.toUpperCase()}`]);
    assert.equal(fp.get(a), 'erased');
  });

  it('a tampered sealed value is PII_TAMPERED, never a wrong plaintext', async () => {
    const p = privacyWith([randomBytes(32)]);
    const [s] = await p.sealMany([{ email: unique(), value: 'secret value' }]);
    const raw = Buffer.from(s!.slice(SEALED_PREFIX.length), 'base64url');
    raw[raw.length - 1]! ^= 1;
    const bad = SEALED_PREFIX + raw.toString('base64url');
    await assert.rejects(p.open(bad), (e) => isSwitchyardError(e) && e.code === 'PII_TAMPERED');
    await assert.rejects(p.open(`${SEALED_PREFIX}AAAA`), (e) => isSwitchyardError(e) && e.code === 'PII_TAMPERED');
  });

  it('plain text stored before encryption is returned as is', async () => {
    const p = privacyWith([randomBytes(32)]);
    assert.deepEqual(await p.openMany(['legacy@example.org']), ['legacy@example.org']);
  });

  it('rotation rewraps every live key to the new master key; the old one can then be dropped', async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = privacyWith([oldKey]);
    const emails = Array.from({ length: 25 }, unique);
    const sealed = await before.sealMany(emails.map((e) => ({ email: e, value: `name of ${e}` })));
    await before.shred(emails[0]!);
    const rotating = privacyWith([newKey, oldKey]);
    const result = await rotating.rewrapAll(7);
    assert.ok(result.rewrapped >= 24);
    assert.equal(result.byMasterKey[masterKeyId(oldKey)], undefined);
    assert.equal((await rotating.rewrapAll()).rewrapped, 0);
    const onlyNew = privacyWith([newKey], 0);
    const opened = await onlyNew.openMany(sealed);
    assert.equal(opened[0], null);
    assert.deepEqual(
      opened.slice(1),
      emails.slice(1).map((e) => `name of ${e}`),
    );
    // without the new key nothing opens: the old one really is out of use
    await assert.rejects(privacyWith([oldKey], 0).openMany(sealed.slice(1)), (e) => isSwitchyardError(e));
  });
});

describe('bounded LRU', () => {
  it('never holds more than its capacity and keeps the most recently used', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 200 }),
        (cap, ops) => {
          const lru = createLru<number, number>(cap);
          for (const k of ops) {
            if (lru.get(k) === undefined) lru.set(k, k);
            assert.ok(lru.size <= cap);
          }
          if (ops.length > 0) assert.equal(lru.get(ops[ops.length - 1]!), ops[ops.length - 1]);
        },
      ),
    );
  });
});

describe('blind index', () => {
  it('the prepared-key indexer gives the same bytes as createHmac, for any address and key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.string({ maxLength: 80 }), (key, email) => {
        const k = Buffer.from(key);
        assert.deepEqual(createBlindIndexer(k)(email), blindIndexOf(k, email));
      }),
    );
  });

  it('the packed indexer gives the same 16 bytes per normalised address, in order', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.array(fc.string({ maxLength: 300 })),
        (key, raw) => {
          const k = Buffer.from(key);
          const emails = raw.map((e) => e.trim().toLowerCase());
          const expected = Buffer.concat(emails.map((e) => blindIndexOf(k, e)));
          assert.deepEqual(createPackedBlindIndexer(k)(emails), expected);
        },
      ),
    );
  });
});

/** A first blast's chunks through sealMany on `on`: markers; the general path for a repeated, known, erased one. */
async function firstBlastChunks(on: Db): Promise<void> {
  const master = randomBytes(32);
  const p = createPrivacy({ db: on, clock, keys: createLocalMasterKeys([master]), indexKey }, { cacheSize: 0 });
  const item = (e: string) => ({ email: e, value: normalizeAddress(e), subject: p.blindIndex(e) });
  const marker = (e: string) => SEALED_PREFIX + p.blindIndex(e).toString('base64url');
  const [a, b, c, d, e] = [unique(), unique(), unique(), unique(), unique()];
  const one = await p.sealMany([item(a)]);
  // all new since the last chunk: the keys go in with the plain insert, each value becomes the marker
  const two = await p.sealMany([item(b), item(c)]);
  assert.deepEqual(two, [marker(b), marker(c)]);
  // a subject twice in one chunk fails the plain insert; the full statement keeps one key
  const three = await p.sealMany([item(d), item(d)]);
  assert.deepEqual(three, [marker(d), marker(d)]);
  await p.shred(c);
  // a known subject and an erased one among new ones: the erased one stays erased
  const four = await p.sealMany([item(a), item(c), item(e)]);
  assert.deepEqual(four, [marker(a), marker(c), marker(e)]);
  const cold = createPrivacy({ db: on, clock, keys: createLocalMasterKeys([master]), indexKey }, { cacheSize: 0 });
  assert.deepEqual(
    await cold.openMany([...one, ...two, ...three, ...four]),
    [a, b, null, d, d, a, null, e].map((x) => (x === null ? null : normalizeAddress(x))),
  );
  assert.equal(await cold.isShredded(c), true);
  const { rows } = await on.query<{ n: number }>(
    'select count(*)::int as n from subject_keys where subject = any($1::bytea[])',
    [[a, b, c, d, e].map((x) => p.blindIndex(x))],
  );
  assert.equal(rows[0]!.n, 5);
}

/** The same through sealAddresses (subjects packed in one buffer), and an address not normalised. */
async function firstBlastAddresses(on: Db): Promise<void> {
  const master = randomBytes(32);
  const p = createPrivacy({ db: on, clock, keys: createLocalMasterKeys([master]), indexKey }, { cacheSize: 0 });
  const seal = (emails: string[]) => p.sealAddresses(emails, Buffer.concat(emails.map((e) => p.blindIndex(e))));
  const marker = (e: string) => SEALED_PREFIX + p.blindIndex(e).toString('base64url');
  const [a, b, c, d, e, f] = [unique(), unique(), unique(), unique(), unique(), unique()].map(normalizeAddress);
  const one = await seal([a!]);
  const two = await seal([b!, c!]);
  assert.deepEqual(two, [marker(b!), marker(c!)]);
  const three = await seal([d!, d!]);
  assert.deepEqual(three, [marker(d!), marker(d!)]);
  await p.shred(c!);
  const four = await seal([a!, c!, e!]);
  assert.deepEqual(four, [marker(a!), marker(c!), marker(e!)]);
  // an address as typed (not normalised) is not its subject's identity: sealed, not a marker
  const typed = f!.toUpperCase();
  const five = await seal([typed]);
  assert.notEqual(five[0], marker(f!));
  await assert.rejects(p.sealAddresses([a!], Buffer.alloc(15)), RangeError);
  const cold = createPrivacy({ db: on, clock, keys: createLocalMasterKeys([master]), indexKey }, { cacheSize: 0 });
  assert.deepEqual(await cold.openMany([...one, ...two, ...three, ...four, ...five]), [
    a,
    b,
    null,
    d,
    d,
    a,
    null,
    e,
    typed,
  ]);
  const { rows } = await on.query<{ n: number }>(
    'select count(*)::int as n from subject_keys where subject = any($1::bytea[])',
    [[a!, b!, c!, d!, e!, f!].map((x) => p.blindIndex(x))],
  );
  assert.equal(rows[0]!.n, 6);
}

for (const tdb of await testDatabases()) {
  describe(`privacy service on ${tdb.label}`, { skip: tdb.skip }, () => {
    after(() => tdb.close(true));
    it('a first blast (subjects carried, addresses as values): markers; repeated, known, erased subjects', async () => {
      await firstBlastChunks(await tdb.open());
    });
    it('a first blast through sealAddresses (subjects packed): the same, and an address as typed', async () => {
      await firstBlastAddresses(await tdb.open());
    });
  });
}
