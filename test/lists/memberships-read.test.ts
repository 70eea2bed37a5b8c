/**
 * A change reads only the memberships its evaluation can use (the lists it touches and the lists
 * those read). When an evaluation goes beyond what was read (the catalogue moved in between, a
 * caller evaluates more), the missing memberships are read first: a member is never taken for a
 * non-member, so no duplicate `entered` is written. And a change of one attribute still sees the
 * membership of a list it reads through `inList`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import type { Clock } from '../../src/clock/port.ts';
import { evaluateLocked } from '../../src/lists/engine.ts';
import { createListService, type ListService } from '../../src/lists/service.ts';
import { createProfileService, type ProfileService } from '../../src/profiles/service.ts';
import { type LockedProfile, lockSnapshots } from '../../src/profiles/snapshots.ts';
import type { Db } from '../../src/store/port.ts';
import { testDatabases } from '../support/databases.ts';

const log = pino({ level: 'silent' });
const [tdb, pg] = await testDatabases();

/** The list and profile services over `db`, sharing one bus. */
function services(db: Db, clock: Clock): { lists: ListService; profiles: ProfileService } {
  const bus = createPostgresLogBus({ db, clock });
  const lists = createListService({ db, bus, clock, log });
  return { lists, profiles: createProfileService({ db, bus, clock, log, lists }) };
}

describe('membership reads of a change', () => {
  let db: Db;
  let lists: ListService;
  let profiles: ProfileService;
  const clock = createManualClock(new Date('2026-06-01T12:00:00Z'));

  before(async () => {
    db = await tdb!.open();
    ({ lists, profiles } = services(db, clock));
    await lists.create({ id: 'a', name: 'A', kind: 'dynamic', definition: { attribute: 'x', equals: 1 } });
    await lists.create({ id: 'b', name: 'B', kind: 'dynamic', definition: { attribute: 'y', equals: 1 } });
    await lists.create({
      id: 'ab',
      name: 'A and z',
      kind: 'dynamic',
      definition: { and: [{ inList: 'a' }, { attribute: 'z', equals: 1 }] },
    });
    await profiles.applyChanges([{ changeId: '1', source: 't', contactId: 'p', attributes: { x: 1, y: 1 }, at: 1 }]);
  });
  after(async () => {
    await lists.idle();
    await tdb!.close(true);
  });

  it('a change of z reads a (through inList) and enters ab', async () => {
    const r = await profiles.applyChanges([
      { changeId: '2', source: 't', contactId: 'p', attributes: { z: 1 }, at: 2 },
    ]);
    assert.deepEqual([r.entered, r.exited], [1, 0]);
    assert.deepEqual((await profiles.get('p'))?.lists, ['a', 'ab', 'b']);
  });

  it('evaluating a list that was not read reads its memberships first: no duplicate entry', async () => {
    const r = await db.transaction(async (tx) => {
      const catalog = await lists.catalog(tx);
      const snap = await lockSnapshots(tx, ['p'], clock.now(), { clicks: false, opens: false, lists: ['b'] });
      assert.deepEqual([...(snap.get('p')?.lists ?? [])], ['b'], 'only b was read');
      return evaluateLocked(tx, catalog, snap, ['a', 'ab'], () => ({ kind: 'change', id: 't:x' }), clock.now());
    });
    assert.deepEqual([r.entered, r.exited], [0, 0]);
    const { rows } = await db.query<{ n: number }>(
      `select count(*)::int as n from list_history where contact_id = 'p'`,
    );
    assert.equal(rows[0]?.n, 3);
  });

  it('a batch of changes of different attributes: each transition once, cascade included', async () => {
    await profiles.applyChanges([
      { changeId: '3', source: 't', contactId: 'q', attributes: { z: 1 }, at: 3 },
      { changeId: '4', source: 't', contactId: 'r', attributes: { x: 1 }, at: 4 },
      { changeId: '5', source: 't', contactId: 's', attributes: { x: 1 }, at: 5 },
    ]);
    const r = await profiles.applyChanges([
      { changeId: '6', source: 't', contactId: 'q', attributes: { x: 1 }, at: 6 },
      { changeId: '7', source: 't', contactId: 'r', attributes: { y: 1 }, at: 7 },
      { changeId: '8', source: 't', contactId: 's', attributes: { z: 1 }, at: 8 },
    ]);
    // q: a, then ab through the cascade; r: b; s: ab (z, reading a)
    assert.deepEqual([r.entered, r.exited], [4, 0]);
    assert.deepEqual((await profiles.get('q'))?.lists, ['a', 'ab']);
    assert.deepEqual((await profiles.get('r'))?.lists, ['a', 'b']);
    assert.deepEqual((await profiles.get('s'))?.lists, ['a', 'ab']);
    const { rows } = await db.query<{ list_id: string; contact_id: string; cause_id: string }>(
      `select list_id, contact_id, cause_id from list_history where cause_id in ('t:6', 't:7', 't:8')
       order by contact_id, id`,
    );
    assert.deepEqual(
      rows.map((h) => `${h.contact_id} ${h.list_id} ${h.cause_id}`),
      ['q a t:6', 'q ab t:6', 'r b t:7', 's ab t:8'],
    );
  });
});

// An exit deletes the membership row its evaluation read, by that row's version; a version that is
// no longer there (the row written again since) falls back to the key, so no exit is ever lost.
const exitDatabases = await testDatabases();
for (const [name, tdbx] of [
  ['PGlite', exitDatabases[0]],
  ['PostgreSQL', exitDatabases[1]],
] as const)
  describe(`exits delete the row version they read (${name})`, { skip: tdbx?.skip }, () => {
    let db: Db;
    let lists: ListService;
    let profiles: ProfileService;
    const clock = createManualClock(new Date('2026-06-01T12:00:00Z'));

    before(async () => {
      db = await tdbx!.open();
      ({ lists, profiles } = services(db, clock));
      await lists.create({ id: 'hi', name: 'Hi', kind: 'dynamic', definition: { attribute: 'x', range: { gte: 5 } } });
      // its build runs in the background: done before the profiles, so it cannot redo what a test undoes
      await lists.idle();
      await profiles.applyChanges([
        { changeId: '1', source: 't', contactId: 'e1', attributes: { x: 9 }, at: 1 },
        { changeId: '2', source: 't', contactId: 'e2', attributes: { x: 9 }, at: 2 },
      ]);
    });
    after(async () => {
      await lists.idle();
      await tdbx!.close(true);
    });

    const episodes = async (contact: string) =>
      (
        await db.query<{ exit_cause_id: string | null }>(
          `select exit_cause_id from list_episodes where list_id = 'hi' and contact_id = $1 order by entry_id`,
          [contact],
        )
      ).rows.map((r) => r.exit_cause_id);

    it('a change takes the contact out and closes its episode', async () => {
      const r = await profiles.applyChanges([
        { changeId: '3', source: 't', contactId: 'e1', attributes: { x: 1 }, at: 3 },
      ]);
      assert.deepEqual([r.entered, r.exited], [0, 1]);
      assert.equal(await lists.isMember('hi', 'e1'), false);
      assert.deepEqual(await episodes('e1'), ['t:3']);
    });

    it('a row written again after the read is still deleted, by its key', async () => {
      const r = await db.transaction(async (tx) => {
        const catalog = await lists.catalog(tx);
        const snap = await lockSnapshots(tx, ['e2'], clock.now(), { clicks: false, opens: false, lists: ['hi'] });
        const p = snap.get('e2') as LockedProfile;
        assert.ok(p.memberRows.has('hi'), 'the read kept the row version');
        // the same membership, as another row version than the one read
        await tx.query(`update list_members set entered_at = entered_at where list_id = 'hi' and contact_id = 'e2'`);
        p.attributes = { x: 1 };
        return evaluateLocked(tx, catalog, snap, ['hi'], () => ({ kind: 'change', id: 't:4' }), clock.now());
      });
      assert.deepEqual([r.entered, r.exited], [0, 1]);
      assert.equal(await lists.isMember('hi', 'e2'), false);
      assert.deepEqual(await episodes('e2'), ['t:4']);
    });
  });

/** Resolves once some backend waits for an advisory lock (the caller's evaluation is queued). */
async function advisoryWaiter(db: Db): Promise<void> {
  // bounded generously: a loaded CI host may take a while to bring the evaluation to the lock
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    const { rows } = await db.query<{ n: number }>(
      `select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`,
    );
    if ((rows[0]?.n ?? 0) > 0) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error("no evaluation waited for the chunk's lock");
}

/** A chunk of `list` (lane 0 held exclusively) that enters `contact` and commits when released. */
async function holdChunk(db: Db, list: string, contact: string): Promise<{ release: () => void; done: Promise<void> }> {
  let release!: () => void;
  let held!: () => void;
  const holding = new Promise<void>((r) => {
    held = r;
  });
  const done = db.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(hashtext('list:' || $1::text || '#' || 0))`, [list]);
    await tx.query(`insert into list_members (list_id, contact_id, entered_at) values ($1, $2, now())`, [
      list,
      contact,
    ]);
    held();
    await new Promise<void>((r) => {
      release = r;
    });
  });
  await holding;
  return { release, done };
}

// A rebuild chunk that commits while a change waits for the list's lock: the change must compare
// against the membership the chunk wrote, so the lists are locked before the memberships are read.
describe('a change and a rebuild chunk of a list it reads', { skip: pg?.skip }, () => {
  let db: Db;
  let lists: ListService;
  let profiles: ProfileService;
  const clock = createManualClock(new Date('2026-06-01T12:00:00Z'));

  before(async () => {
    db = await pg!.open();
    ({ lists, profiles } = services(db, clock));
    await lists.create({ id: 'w', name: 'W', kind: 'dynamic', definition: { attribute: 'x', equals: 1 } });
    await lists.idle();
    await profiles.applyChanges([{ changeId: '1', source: 't', contactId: 'c', attributes: { x: 1 }, at: 1 }]);
    // c out of w, as before a rebuild that puts it back
    await db.query(`delete from list_members where list_id = 'w'`);
  });
  after(async () => {
    await lists.idle();
    await pg!.close(true);
  });

  it('sees the chunk that committed while it waited, and takes the contact out', async () => {
    // a chunk of w (its lane's key held exclusively) enters c on the attributes it saw
    const chunk = await holdChunk(db, 'w', 'c');
    const change = profiles.applyChanges([{ changeId: '2', source: 't', contactId: 'c', attributes: { x: 2 }, at: 2 }]);
    await advisoryWaiter(db);
    chunk.release();
    await chunk.done;
    const r = await change;
    assert.deepEqual([r.entered, r.exited], [0, 1]);
    assert.equal(await lists.isMember('w', 'c'), false);
  });

  // the same for a static list's edit: its dependents read another list, whose memberships must
  // be read after that list's lock, so a chunk committed meanwhile is seen
  it("a static list's edit sees the chunk too, and enters the dependent list", async () => {
    await lists.create({ id: 'v', name: 'V', kind: 'dynamic', definition: { attribute: 'y', equals: 1 } });
    await lists.create({ id: 's', name: 'S', kind: 'static' });
    await lists.create({
      id: 'sv',
      name: 'S and V',
      kind: 'dynamic',
      definition: { and: [{ inList: 's' }, { inList: 'v' }] },
    });
    await lists.idle();
    await profiles.applyChanges([{ changeId: '3', source: 't', contactId: 'd', attributes: { y: 1 }, at: 3 }]);
    await db.query(`delete from list_members where list_id = 'v'`);
    const chunk = await holdChunk(db, 'v', 'd');
    const edit = lists.addToList('s', ['d'], { kind: 'manual', id: 'edit-1' });
    await advisoryWaiter(db);
    chunk.release();
    await chunk.done;
    await edit;
    assert.equal(await lists.isMember('sv', 'd'), true);
  });
});
