/**
 * The transactional outbox on PGlite and PostgreSQL: messages exist exactly when their
 * transaction committed, are published once however often they are relayed, and ingest's
 * announcements survive a bus that fails right after the commit.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { addToOutbox, OUTBOX_GRACE_MS, publishOutboxed, relayOutbox, runOutboxRelay } from '../../src/bus/outbox.ts';
import type { Bus } from '../../src/bus/port.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { createIngest } from '../../src/reactions/ingest.ts';
import type { Db } from '../../src/store/port.ts';
import { testDatabases, uniqueName } from '../support/databases.ts';
import { TOPICS } from '../../src/bus/topics.ts';

const log = pino({ level: 'silent' });

async function published(db: Db, topic: string): Promise<{ id: string; key: string | null }[]> {
  const { rows } = await db.query<{ msg_id: string; msg_key: string | null }>(
    'select msg_id, msg_key from bus_messages where topic = $1 order by seq',
    [topic],
  );
  return rows.map((r) => ({ id: r.msg_id, key: r.msg_key }));
}

async function outboxSize(db: Db): Promise<number> {
  const {
    rows: [r],
  } = await db.query<{ n: number }>('select count(*)::int as n from bus_outbox');
  return r!.n;
}

for (const tdb of await testDatabases()) {
  describe(`bus outbox on ${tdb.label}`, { skip: tdb.skip }, () => {
    after(() => tdb.close(true));

    it(
      `${tdb.label}: a rolled-back transaction leaves nothing; a committed one is published once, keys kept, `
        + `however often relayed`,
      async () => {
        const db = await tdb.open();
        const clock = createManualClock(new Date('2026-11-26T12:00:00Z'));
        const bus = createPostgresLogBus({ db, clock });
        const topic = uniqueName('t').replace(/[^a-z0-9_.-]/gi, '_');
        await assert.rejects(
          db.transaction(async (tx) => {
            await addToOutbox(tx, topic, [{ id: 'lost', payload: { n: 0 } }], clock.now());
            throw new Error('rolled back');
          }),
        );
        const written = await db.transaction((tx) =>
          addToOutbox(
            tx,
            topic,
            [
              { id: 'a', key: 'k1', payload: { n: 1 } },
              { id: 'b', payload: { n: 2 } },
            ],
            clock.now(),
          ),
        );
        assert.equal(written.seqs.length, 2);
        assert.equal(await publishOutboxed({ db, bus }, [written]), 2);
        assert.equal(await relayOutbox({ db, bus }), 0, 'deleted once published');
        // a second publish of the same rows (the delete was lost) is the same messages
        await bus.publish(topic, [{ id: 'a', key: 'k1', payload: { n: 1 } }]);
        assert.deepEqual(await published(db, topic), [
          { id: 'a', key: 'k1' },
          { id: 'b', key: null },
        ]);
        await bus.close();
      },
    );

    it(
      `${tdb.label}: ingest's events and suppressions are announced even when the bus fails right after the `
        + `commit`,
      async () => {
        const db = await tdb.open();
        await db.exec('delete from bus_outbox');
        const clock = createManualClock(new Date('2026-11-26T12:00:00Z'));
        const real = createPostgresLogBus({ db, clock });
        let down = true;
        // a bus outside the store (as NATS): it cannot publish in ingest's transaction, so ingest uses the outbox
        const { publishInTransaction: _inStore, ...external } = real;
        const flaky: Bus = {
          ...external,
          publish: (topic, messages) => (down ? Promise.reject(new Error('bus down')) : real.publish(topic, messages)),
        };
        const ingest = createIngest({ db, bus: flaky, clock });
        const email = `${uniqueName('u')}@example.com`;
        const result = await ingest([
          {
            type: 'unsubscribed',
            sourceId: uniqueName('sg'),
            provider: 'sendgrid',
            occurredAt: clock.now(),
            email,
            raw: {},
          },
        ]);
        assert.deepEqual(result, { accepted: 1, duplicates: 0 }, 'the events are stored: the caller must not retry');
        assert.equal(await outboxSize(db), 2, 'the reaction batch and the suppression wait in the outbox');
        const before = (await published(db, TOPICS.suppressed)).length;

        // the relay leaves rows to their writer for the grace time, then publishes them
        down = false;
        assert.equal(
          await relayOutbox({ db, bus: real }, { writtenBefore: new Date(clock.now().getTime() - OUTBOX_GRACE_MS) }),
          0,
        );
        await clock.advance(OUTBOX_GRACE_MS);
        const stop = new AbortController();
        const relay = runOutboxRelay({ db, bus: real, clock, log }, stop.signal, 1_000);
        // the loop relays what is due, finds nothing more and goes to sleep on the clock
        while (clock.pending() === 0) await new Promise((r) => setImmediate(r));
        stop.abort();
        await relay;
        assert.equal(await outboxSize(db), 0);
        const suppressed = await published(db, TOPICS.suppressed);
        assert.equal(suppressed.length, before + 1);
        assert.equal(suppressed.at(-1)!.key, email);
        const { rows } = await db.query<{ payload: string }>(
          'select payload from bus_messages where topic = $1 order by seq desc limit 1',
          [TOPICS.reactions],
        );
        assert.equal((JSON.parse(rows[0]!.payload) as { events: { email: string }[] }).events[0]!.email, email);
        await real.close();
      },
    );
  });
}
