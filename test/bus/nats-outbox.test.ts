/**
 * The transactional outbox relaying to NATS JetStream: ingest commits its events while the broker
 * is unreachable, the relay publishes them once the grace time has passed, a second relay of the
 * same rows is a duplicate, and a consumer group receives each announcement exactly once.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { OUTBOX_GRACE_MS, relayOutbox } from '../../src/bus/outbox.ts';
import type { Bus } from '../../src/bus/port.ts';
import { createNatsBus } from '../../src/bus/nats/adapter.ts';
import { TOPICS } from '../../src/bus/topics.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { createIngest } from '../../src/reactions/ingest.ts';
import { testDatabases, uniqueName } from '../support/databases.ts';
import { NATS_TEST_URL, natsUnreachable } from '../support/nats.ts';

const unreachable = await natsUnreachable(NATS_TEST_URL);

for (const tdb of await testDatabases()) {
  const prefix = uniqueName('o').replaceAll('_', '');
  describe(`outbox relay to NATS on ${tdb.label}`, { skip: tdb.skip ?? unreachable ?? false }, () => {
    after(async () => {
      await tdb.close(true);
      const nc = await connect({ servers: NATS_TEST_URL });
      const jsm = await jetstreamManager(nc);
      for await (const name of jsm.streams.names())
        if (name.startsWith(`${prefix.toUpperCase()}_`)) await jsm.streams.delete(name);
      await nc.close();
    });

    it(`${tdb.label}: announcements committed while NATS was unreachable are relayed to it once`, async () => {
      const db = await tdb.open();
      await db.exec('delete from bus_outbox');
      const clock = createManualClock(new Date('2026-12-07T12:00:00Z'));
      const real = createNatsBus({ db, clock, url: NATS_TEST_URL }, { prefix });
      const group = { topic: TOPICS.suppressed, group: 'propagation' };
      await real.ensureGroup(group);
      const down: Bus = { ...real, publish: () => Promise.reject(new Error('NATS down')) };
      const email = `${uniqueName('u')}@example.com`;
      const result = await createIngest({ db, bus: down, clock })([
        {
          type: 'unsubscribed',
          sourceId: uniqueName('sg'),
          provider: 'sendgrid',
          occurredAt: clock.now(),
          email,
          raw: {},
        },
      ]);
      assert.deepEqual(result, { accepted: 1, duplicates: 0 });
      const rows = await db.query<{ n: number }>('select count(*)::int as n from bus_outbox');
      assert.equal(rows.rows[0]!.n, 2, 'the reaction batch and the suppression wait in the outbox');

      await clock.advance(OUTBOX_GRACE_MS);
      assert.equal(await relayOutbox({ db, bus: real }), 2);
      assert.equal(await relayOutbox({ db, bus: real }), 0, 'relayed rows are deleted');
      const batch = await real.fetch(group, { max: 10, leaseMs: 30_000, maxAttempts: 3 });
      assert.deepEqual(
        batch.messages.map((m) => m.key),
        [email],
      );
      await batch.settle([{ kind: 'ack' }]);
      // the same announcement again (a relay whose delete was lost) is a duplicate, not a second message
      const again = await real.publish(TOPICS.suppressed, [
        { id: batch.messages[0]!.id, key: email, payload: batch.messages[0]!.payload },
      ]);
      assert.deepEqual(again, { published: 0, duplicates: 1 });
      assert.equal((await real.fetch(group, { max: 10, leaseMs: 30_000, maxAttempts: 3 })).messages.length, 0);
      await real.close();
    });
  });
}
