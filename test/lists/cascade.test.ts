/**
 * Lists end to end on the store (PGlite, and PostgreSQL when reachable): one profile change
 * cascades through a 15-deep chain of dependent lists and publishes exactly the expected
 * entered/exited events; a redelivered or older change publishes nothing; a cycle is refused with
 * the cycle named; a list read by another cannot be deleted; a time-relative condition flips on
 * the manual clock from its durable timer, with no rescan.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { type ListTransition, type ListTransitionsPayload, listTransitions } from '../../src/bus/topics.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { createListService, type ListService } from '../../src/lists/service.ts';
import { createProfileService, type ProfileService } from '../../src/profiles/service.ts';
import type { Db } from '../../src/store/port.ts';
import { type TestDatabase, testDatabases } from '../support/databases.ts';

const log = pino({ level: 'silent' });

interface Event {
  topic: string;
  /** The bus message that carried it. */
  id: string;
  payload: ListTransition;
}

async function listEvents(db: Db, since: number): Promise<{ events: Event[]; last: number }> {
  const { rows } = await db.query<{ seq: number; topic: string; msg_id: string; payload: string }>(
    `select seq, topic, msg_id, payload::text as payload from bus_messages
     where topic in ('list.entered', 'list.exited') and seq > $1 order by seq`,
    [since],
  );
  return {
    // each message carries the transitions of one evaluation, in history order
    events: rows.flatMap((r) =>
      listTransitions(JSON.parse(r.payload) as ListTransitionsPayload).map((t) => ({
        topic: r.topic,
        id: r.msg_id,
        payload: t,
      })),
    ),
    last: rows.length === 0 ? since : Number(rows[rows.length - 1]?.seq),
  };
}

for (const tdb of await testDatabases()) {
  describe(`lists on ${tdb.label}`, { skip: tdb.skip }, () => {
    let db: Db;
    let clock: ManualClock;
    let lists: ListService;
    let profiles: ProfileService;
    let passed = false;
    const database: TestDatabase = tdb;

    before(async () => {
      db = await database.open();
      clock = createManualClock(new Date('2026-06-01T12:00:00Z'));
      const bus = createPostgresLogBus({ db, clock });
      lists = createListService({ db, bus, clock, log });
      profiles = createProfileService({ db, bus, clock, log, lists });
    });
    after(async () => {
      await lists?.idle();
      await database.close(passed);
    });

    it('one change cascades through 15 dependent lists with exactly the expected events, once', async () => {
      await lists.create({
        id: 'west',
        name: 'West',
        kind: 'dynamic',
        definition: { attribute: 'region', equals: 'west' },
      });
      await lists.create({
        id: 'east',
        name: 'East',
        kind: 'dynamic',
        definition: { attribute: 'region', equals: 'east' },
      });
      for (let i = 1; i <= 15; i++) {
        const reads = i === 1 ? 'west' : `chain-${i - 1}`;
        // every other link also reads an attribute, so the chain mixes membership and attributes
        const definition =
          i % 2 === 0 ? { and: [{ inList: reads }, { attribute: 'active', equals: true }] } : { inList: reads };
        await lists.create({ id: `chain-${i}`, name: `Chain ${i}`, kind: 'dynamic', definition });
      }
      await lists.create({
        id: 'not-chain',
        name: 'Not chain end',
        kind: 'dynamic',
        definition: { not: { inList: 'chain-15' } },
      });
      await lists.idle();

      const first = await profiles.applyChanges([
        {
          changeId: '1',
          source: 'test',
          contactId: 'c-1',
          attributes: { region: 'west', active: true, extra: { x: 1 } },
          at: '2026-06-01T10:00:00Z',
        },
      ]);
      assert.equal(first.entered, 16, 'west and chain-1..15');
      const start = await listEvents(db, 0);
      assert.deepEqual(
        start.events
          .filter((e) => e.payload.contactId === 'c-1')
          .map((e) => `${e.topic}:${e.payload.listId}`)
          .sort(),
        ['west', ...Array.from({ length: 15 }, (_, i) => `chain-${i + 1}`)].map((l) => `list.entered:${l}`).sort(),
      );
      // the profile keeps fields no list reads
      assert.deepEqual((await profiles.get('c-1'))?.attributes.extra, { x: 1 });

      const move = {
        changeId: '2',
        source: 'test',
        contactId: 'c-1',
        attributes: { region: 'east' },
        at: '2026-06-01T11:00:00Z',
      };
      const moved = await profiles.applyChanges([move]);
      assert.deepEqual([moved.entered, moved.exited], [2, 16]);
      const cascade = await listEvents(db, start.last);
      const expected = [
        'list.exited:west',
        ...Array.from({ length: 15 }, (_, i) => `list.exited:chain-${i + 1}`),
        'list.entered:east',
        'list.entered:not-chain',
      ].sort();
      assert.deepEqual(cascade.events.map((e) => `${e.topic}:${e.payload.listId}`).sort(), expected);
      assert.ok(cascade.events.every((e) => e.payload.cause.kind === 'change' && e.payload.cause.id === 'test:2'));
      // cascade order: each chain link exits after the list it reads
      const seqOf = (l: string) => cascade.events.findIndex((e) => e.payload.listId === l);
      for (let i = 2; i <= 15; i++) assert.ok(seqOf(`chain-${i}`) > seqOf(`chain-${i - 1}`));

      // redelivery and an older change: nothing changes, nothing is published
      const again = await profiles.applyChanges([move]);
      const stale = await profiles.applyChanges([
        { changeId: '0', source: 'test', contactId: 'c-1', attributes: { region: 'west' }, at: '2026-06-01T09:00:00Z' },
      ]);
      assert.deepEqual([again.entered, again.exited, stale.entered, stale.exited], [0, 0, 0, 0]);
      assert.equal((await listEvents(db, cascade.last)).events.length, 0);
      assert.equal((await profiles.get('c-1'))?.attributes.region, 'east');
      const history = await lists.history({ contactId: 'c-1', listId: 'chain-15' }, 10);
      assert.deepEqual(
        history.map((h) => [h.entered, h.cause.id]),
        [
          [false, 'test:2'],
          [true, 'test:1'],
        ],
      );
      passed = true;
    });

    it('refuses a cycle naming it, a reference to a missing list, and deleting a list others read', async () => {
      passed = false;
      await lists.create({ id: 'cy-c', name: 'c', kind: 'static' });
      await lists.create({ id: 'cy-b', name: 'b', kind: 'dynamic', definition: { inList: 'cy-c' } });
      await lists.create({ id: 'cy-a', name: 'a', kind: 'dynamic', definition: { inList: 'cy-b' } });
      await lists.create({ id: 'cy-d', name: 'd', kind: 'dynamic', definition: { attribute: 'x', exists: true } });
      await lists.update('cy-d', { definition: { inList: 'cy-a' } });
      const err = await lists.update('cy-b', { definition: { inList: 'cy-d' } }).catch((e: unknown) => e);
      assert.equal((err as { code: string }).code, 'LIST_CYCLE');
      assert.match((err as Error).message, /cy-a → cy-b → cy-d → cy-a/);
      const missing = await lists
        .create({ id: 'cy-e', name: 'e', kind: 'dynamic', definition: { inList: 'nope' } })
        .catch((e: unknown) => e);
      assert.equal((missing as { code: string }).code, 'LIST_REFERENCE_INVALID');
      const busy = await lists.remove('cy-c').catch((e: unknown) => e);
      assert.equal((busy as { code: string }).code, 'LIST_REFERENCE_INVALID');
      assert.match((busy as Error).message, /cy-b/);
      const bad = await lists
        .create({
          id: 'cy-f',
          name: 'f',
          kind: 'dynamic',
          definition: { and: [{ attribute: 'x' }, { opened: { atLeast: 0, ofLast: 2 } }] },
        })
        .catch((e: unknown) => e);
      assert.equal((bad as { code: string }).code, 'SEGMENT_INVALID');
      assert.deepEqual(
        (bad as { details: { problems: { path: string }[] } }).details.problems.map((p) => p.path),
        ['$.and[0]', '$.and[1].opened.atLeast'],
      );
      // static edits: idempotent, cascade to readers
      const add = await lists.addToList('cy-c', ['s-1', 's-1'], { kind: 'manual', id: 'test' });
      assert.deepEqual(add, { changed: ['s-1'], unchanged: [] });
      assert.deepEqual(await lists.addToList('cy-c', ['s-1'], { kind: 'manual', id: 'test' }), {
        changed: [],
        unchanged: ['s-1'],
      });
      assert.equal(await lists.isMember('cy-d', 's-1'), true, 'c → b → a → d');
      await lists.removeFromList('cy-c', ['s-1'], { kind: 'manual', id: 'test' });
      assert.equal(await lists.isMember('cy-d', 's-1'), false);
      passed = true;
    });

    it('re-checks a time-relative condition when it would flip, from its timer, without a rescan', async () => {
      passed = false;
      await lists.create({
        id: 'recent',
        name: 'Signed up in the last 14 days',
        kind: 'dynamic',
        definition: { attribute: 'signup', within: { from: -14, unit: 'days' } },
      });
      await lists.idle();
      const now = clock.now().getTime();
      await profiles.applyChanges([
        {
          changeId: 't1',
          source: 'test',
          contactId: 't-1',
          attributes: { signup: new Date(now - 13 * 86_400_000).toISOString() },
          at: now,
        },
        {
          changeId: 't2',
          source: 'test',
          contactId: 't-2',
          attributes: { signup: new Date(now - 5 * 86_400_000).toISOString() },
          at: now,
        },
        { changeId: 't3', source: 'test', contactId: 't-3', attributes: { other: 1 }, at: now },
      ]);
      assert.equal(await lists.isMember('recent', 't-1'), true);
      assert.equal(await lists.runDueTimers(), 0, 'nothing due yet');
      await clock.advance(1 * 86_400_000 + 2000);
      assert.equal(await lists.runDueTimers(), 1, 'only t-1 is re-checked');
      assert.equal(await lists.isMember('recent', 't-1'), false);
      assert.equal(await lists.isMember('recent', 't-2'), true);
      const [h] = await lists.history({ contactId: 't-1', listId: 'recent' }, 1);
      assert.deepEqual([h?.entered, h?.cause.kind], [false, 'timer']);
      await clock.advance(8 * 86_400_000);
      assert.equal(await lists.runDueTimers(), 1);
      assert.equal(await lists.isMember('recent', 't-2'), false);
      passed = true;
    });
  });
}
