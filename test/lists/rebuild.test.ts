/**
 * A full rebuild of a list in SQL on both stores: in chunks smaller than the profiles, the members
 * become exactly what the predicate says (entered and exited, stale memberships corrected), every
 * transition has its history row and one event on the bus with the payload the per-change path
 * gives, nothing is left in the outbox, a list reading it follows (cascade), and a second rebuild
 * changes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { type ListTransitionsPayload, listTransitions } from '../../src/bus/topics.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { chunkBoundsFromStatistics } from '../../src/lists/queries.ts';
import { createListService, type ListService } from '../../src/lists/service.ts';
import { createProfileService } from '../../src/profiles/service.ts';
import type { Db } from '../../src/store/port.ts';
import { testDatabases } from '../support/databases.ts';

const log = pino({ level: 'silent' });

// a bus whose log is in the store takes a chunk's messages in its transaction; any other bus gets
// them through the outbox (the same bus without publishInTransaction stands for one)
for (const inTransaction of [true, false]) {
  for (const tdb of await testDatabases()) {
    const how = inTransaction ? 'messages in the chunk transaction' : 'messages through the outbox';
    describe(`list rebuild on ${tdb.label}, ${how}`, { skip: tdb.skip }, () => {
      let db: Db;
      let lists: ListService;
      let passed = false;

      const members = async (id: string) =>
        (
          await db.query<{ contact_id: string }>(
            'select contact_id from list_members where list_id = $1 order by contact_id',
            [id],
          )
        ).rows.map((r) => r.contact_id);
      // every transition of every list event message, in publish order, with the message that carried it
      const events = async () =>
        (
          await db.query<{ topic: string; msg_id: string; payload: string }>(
            `select topic, msg_id, payload::text as payload from bus_messages
           where topic in ('list.entered', 'list.exited') order by seq`,
          )
        ).rows.flatMap((r) =>
          listTransitions(JSON.parse(r.payload) as ListTransitionsPayload).map((t) => ({
            topic: r.topic,
            id: r.msg_id,
            payload: t,
          })),
        );

      before(async () => {
        db = await tdb.open();
        const clock = createManualClock(new Date('2026-06-01T12:00:00Z'));
        const logBus = createPostgresLogBus({ db, clock });
        const bus = inTransaction ? logBus : Object.assign(Object.create(logBus), { publishInTransaction: undefined });
        lists = createListService({ db, bus, clock, log });
        const profiles = createProfileService({ db, bus, clock, log, lists });
        await profiles.applyChanges(
          Array.from({ length: 10 }, (_, i) => ({
            changeId: `c${i}`,
            source: 'test',
            contactId: `p${i}`,
            attributes: { score: i * 10 },
            at: 1000,
          })),
        );
      });
      after(async () => {
        await lists?.idle();
        await tdb.close(passed);
      });

      it('writes exactly the differences, with history and one event each, and cascades', async () => {
        await lists.create(
          { id: 'high', name: 'High', kind: 'dynamic', definition: { attribute: 'score', range: { gte: 50 } } },
          { build: false },
        );
        await lists.create(
          { id: 'high-reader', name: 'Reads high', kind: 'dynamic', definition: { inList: 'high' } },
          { build: false },
        );
        assert.equal(await lists.rebuild('high', 3), 5);
        assert.deepEqual(await members('high'), ['p5', 'p6', 'p7', 'p8', 'p9']);
        assert.deepEqual(await members('high-reader'), ['p5', 'p6', 'p7', 'p8', 'p9'], 'the reader followed');
        const first = await events();
        const high = first.filter((e) => e.payload.listId === 'high');
        assert.equal(high.length, 5);
        assert.equal(new Set(high.map((e) => e.id)).size, 3, 'one message per chunk: p5 | p6 p7 p8 | p9');
        const { rows } = await db.query<{ id: number }>(
          `select id from list_history where list_id = 'high' and contact_id = 'p5'`,
        );
        // chunks run on two connections at once: their messages come in either order
        assert.deepEqual(
          high.find((e) => e.payload.contactId === 'p5'),
          {
            topic: 'list.entered',
            id: `list:${rows[0]?.id}`,
            payload: {
              id: rows[0]?.id,
              listId: 'high',
              contactId: 'p5',
              at: '2026-06-01T12:00:00.000Z',
              cause: { kind: 'rebuild', id: 'high@2026-06-01T12:00:00.000Z' },
            },
          },
        );
        // a rebuild's message carries its list, time and cause once, its elements only id and contact
        const raw = await db.query<{ payload: string }>(
          `select payload::text as payload from bus_messages where msg_id = $1`,
          [`list:${rows[0]?.id}`],
        );
        const compact = JSON.parse(raw.rows[0]?.payload ?? '{}') as ListTransitionsPayload;
        assert.equal(compact.listId, 'high');
        assert.deepEqual(compact.cause, { kind: 'rebuild', id: 'high@2026-06-01T12:00:00.000Z' });
        assert.deepEqual(compact.transitions[0], { id: Number(rows[0]?.id), contactId: 'p5' });
        // the outbox rows are removed in the background after the publish: wait for that, briefly
        let left = -1;
        for (let i = 0; i < 100 && left !== 0; i++) {
          left = (await db.query<{ n: number }>('select count(*)::int as n from bus_outbox')).rows[0]?.n ?? -1;
          if (left !== 0) await new Promise((r) => setImmediate(r));
        }
        assert.equal(left, 0, 'published and forgotten');

        // memberships gone stale behind the engine's back: a rebuild puts them right
        await db.query(`update contact_profiles set attributes = '{"score": 0}' where contact_id in ('p6', 'p7')`);
        await db.query(`update contact_profiles set attributes = '{"score": 99}' where contact_id = 'p1'`);
        await db.query(`delete from list_members where list_id = 'high' and contact_id = 'p9'`);
        assert.equal(await lists.rebuild('high', 4), 4);
        assert.deepEqual(await members('high'), ['p1', 'p5', 'p8', 'p9']);
        const second = (await events()).slice(first.length).filter((e) => e.payload.listId === 'high');
        assert.deepEqual(
          second
            .map((e) => ({ contactId: String(e.payload.contactId), sign: e.topic === 'list.entered' ? '+' : '-' }))
            .sort((a, b) => a.contactId.localeCompare(b.contactId))
            .map((e) => `${e.sign}${e.contactId}`),
          ['+p1', '-p6', '-p7', '+p9'],
        );
        // an exit's event carries the id of its history row (the episode's exit)
        const exit = await db.query<{ id: number; entered_at: Date | null }>(
          `select h.id, e.entered_at from list_history h
         join list_episodes e on e.exit_id = h.id where h.list_id = 'high' and h.contact_id = 'p6' and not h.entered`,
        );
        assert.equal(exit.rows.length, 1);
        assert.ok(exit.rows[0]?.entered_at, 'the episode keeps its entry');
        assert.equal(second.find((e) => e.payload.contactId === 'p6')?.payload.id, Number(exit.rows[0]?.id));
        assert.deepEqual(await members('high-reader'), ['p1', 'p5', 'p8', 'p9']);
        assert.equal(await lists.rebuild('high', 100), 0, 'nothing left to change');
      });

      it('cuts chunks at the bounds of the profiles statistics, and past them by key', async () => {
        await db.query('analyze contact_profiles');
        const bounds = await chunkBoundsFromStatistics(db, 3);
        assert.ok(bounds.length >= 2, `bounds from the histogram: ${bounds.join(' ')}`);
        assert.deepEqual([...bounds].sort(), bounds, 'ascending');
        // p2 gone stale inside the histogram's range; q1 and q2 added past its last bound
        await db.query(`update contact_profiles set attributes = '{"score": 77}' where contact_id = 'p2'`);
        await db.query(
          `insert into contact_profiles (contact_id, attributes, attribute_versions, created_at, updated_at)
           values ('q1', '{"score": 70}', '{}', now(), now()), ('q2', '{"score": 1}', '{}', now(), now())`,
        );
        assert.equal(await lists.rebuild('high', 3), 2);
        assert.deepEqual(await members('high'), ['p1', 'p2', 'p5', 'p8', 'p9', 'q1']);
        assert.equal(await lists.rebuild('high', 2), 0, 'nothing left to change');
      });

      // a chunk's entries and exits come back as JSON text (decision 0045): ids with quotes, commas,
      // backslashes, spaces and characters outside ASCII must come back exactly
      it('carries contact ids that need escaping exactly, entering and exiting', async () => {
        const odd = ['o"k,1', 'back\\slash', 'sp ace', 'ümlaut ☃ 😀', '{brace}', 'NULL'];
        await db.query(
          `insert into contact_profiles (contact_id, attributes, attribute_versions, created_at, updated_at)
           select id, '{"odd": true}', '{}', now(), now() from unnest($1::text[]) as id`,
          [odd],
        );
        await lists.create(
          { id: 'odd', name: 'Odd', kind: 'dynamic', definition: { attribute: 'odd', equals: true } },
          { build: false },
        );
        const before = (await events()).length;
        assert.equal(await lists.rebuild('odd', 2), odd.length);
        assert.deepEqual(
          await members('odd'),
          [...odd].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
        );
        await db.query(`update contact_profiles set attributes = '{}' where contact_id = any($1::text[])`, [odd]);
        assert.equal(await lists.rebuild('odd', 2), odd.length);
        assert.deepEqual(await members('odd'), []);
        const mine = (await events()).slice(before).filter((e) => e.payload.listId === 'odd');
        for (const topic of ['list.entered', 'list.exited'])
          assert.deepEqual(
            mine
              .filter((e) => e.topic === topic)
              .map((e) => String(e.payload.contactId))
              .sort(),
            [...odd].sort(),
            topic,
          );
        passed = true;
      });
    });
  }
}
