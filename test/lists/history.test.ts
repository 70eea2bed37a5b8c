/**
 * History by episode (decision 0032): an entry lives on the member row, an exit closes it into an
 * episode, and `list_history` still shows one row per transition, with the ids the events carried
 * and each transition's own cause. Deleting a list keeps its members' entries (no exit).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { type ListTransitionsPayload, listTransitions } from '../../src/bus/topics.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { createListService, type ListService } from '../../src/lists/service.ts';
import type { Db } from '../../src/store/port.ts';
import { testDatabases } from '../support/databases.ts';

const log = pino({ level: 'silent' });
const tdb = (await testDatabases())[0];

describe('list history by episode', () => {
  let db: Db;
  let lists: ListService;
  const clock = createManualClock(new Date('2026-06-01T12:00:00Z'));

  before(async () => {
    db = await tdb!.open();
    const bus = createPostgresLogBus({ db, clock });
    lists = createListService({ db, bus, clock, log });
    await lists.create({ id: 's', name: 'S', kind: 'static' });
  });
  after(async () => {
    await lists.idle();
    await tdb!.close(true);
  });

  // every transition id of the list's published messages, in publish order
  const eventIds = async (): Promise<{ topic: string; id: number; contactId: string }[]> =>
    (
      await db.query<{ topic: string; payload: string }>(
        `select topic, payload::text as payload from bus_messages
         where topic in ('list.entered', 'list.exited') order by seq`,
      )
    ).rows.flatMap((r) =>
      listTransitions(JSON.parse(r.payload) as ListTransitionsPayload).map((t) => ({
        topic: r.topic,
        id: t.id,
        contactId: t.contactId,
      })),
    );

  it('shows entries and exits with the ids and causes of their events, newest first', async () => {
    await lists.addToList('s', ['p1', 'p2'], { kind: 'manual', id: 'alice' });
    await clock.advance(60_000);
    await lists.removeFromList('s', ['p1'], { kind: 'manual', id: 'bob' });
    await clock.advance(60_000);
    await lists.addToList('s', ['p1'], { kind: 'manual', id: 'carol' });

    const h = await lists.history({ listId: 's' }, 10);
    assert.deepEqual(
      h.map((r) => [r.contactId, r.entered, r.cause.id, r.at.toISOString()]),
      [
        ['p1', true, 'carol', '2026-06-01T12:02:00.000Z'],
        ['p1', false, 'bob', '2026-06-01T12:01:00.000Z'],
        ['p2', true, 'alice', '2026-06-01T12:00:00.000Z'],
        ['p1', true, 'alice', '2026-06-01T12:00:00.000Z'],
      ],
    );
    const events = await eventIds();
    assert.deepEqual(
      [...h].reverse().map((r) => r.id),
      events.map((e) => e.id),
      'the history ids are the ids the events carried',
    );
    const byContact = await lists.history({ contactId: 'p2' }, 10);
    assert.deepEqual(
      byContact.map((r) => [r.listId, r.entered]),
      [['s', true]],
    );
    // one closed episode: the exit carries its entry
    const { rows } = await db.query<{ entry_cause_id: string; exit_cause_id: string }>(
      `select entry_cause_id, exit_cause_id from list_episodes where list_id = 's'`,
    );
    assert.deepEqual(rows, [{ entry_cause_id: 'alice', exit_cause_id: 'bob' }]);
  });

  it('keeps the entries of a deleted list, without an exit', async () => {
    await lists.remove('s');
    const h = await lists.history({ listId: 's' }, 10);
    assert.equal(h.length, 4);
    assert.equal(h.filter((r) => !r.entered).length, 1, 'deleting is no exit');
    const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from list_members where list_id = 's'`);
    assert.equal(rows[0]?.n, 0);
  });
});
