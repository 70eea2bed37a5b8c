/**
 * Concurrent ingest calls share one write (group commit): each caller still gets its own counts,
 * an event two callers carry is stored and announced once, the group's suppressions and reaction
 * batch reach the bus, and one caller's bad input fails only that caller.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import type { Bus } from '../../src/bus/port.ts';
import { TOPICS, type ReactionBatch, type SuppressedPayload } from '../../src/bus/topics.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import type { EngagementEvent } from '../../src/core/events.ts';
import { createIngest, type Ingest } from '../../src/reactions/ingest.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

let db: Db;
let bus: Bus;
let ingest: Ingest;
const clock = createManualClock(new Date('2026-12-07T00:00:00Z'));
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  bus = createPostgresLogBus({ db, clock });
  ingest = createIngest({ db, bus, clock });
});
after(async () => {
  await db.close();
});

function event(id: string, type: EngagementEvent['type'], email: string): EngagementEvent {
  return { type, sourceId: `sendgrid:${id}`, provider: 'sendgrid', occurredAt: clock.now(), email, raw: { id } };
}

async function readAll<P>(topic: string, group: string): Promise<P[]> {
  const batch = await bus.fetch<P>({ topic, group }, { max: 100, leaseMs: 60_000, maxAttempts: 5 });
  await batch.settle(batch.messages.map(() => ({ kind: 'ack' })));
  return batch.messages.map((m) => m.payload);
}

describe('ingest group commit', () => {
  it('concurrent calls get their own counts; a shared event is stored and announced once', async () => {
    // a first group starts at once; the three calls made meanwhile share the next one
    const first = ingest([event('g0', 'delivered', 'a@example.com')]);
    const [a, b, c] = await Promise.all([
      ingest([event('g1', 'opened', 'a@example.com'), event('g2', 'unsubscribed', 'b@example.com')]),
      ingest([event('g2', 'unsubscribed', 'b@example.com'), event('g3', 'complained', 'c@example.com')]),
      ingest([event('g0', 'delivered', 'a@example.com')]),
    ]);
    assert.deepEqual(await first, { accepted: 1, duplicates: 0 });
    assert.deepEqual(a, { accepted: 2, duplicates: 0 });
    assert.deepEqual(b, { accepted: 1, duplicates: 1 }, 'g2 belongs to the first caller of the group');
    assert.deepEqual(c, { accepted: 0, duplicates: 1 }, 'g0 was stored by the earlier group');
    const { rows } = await db.query<{ n: number }>(
      `select count(*)::int as n from engagement_events where source_id like 'sendgrid:g%'`,
    );
    assert.equal(rows[0]!.n, 4);
    const batches = await readAll<ReactionBatch>(TOPICS.reactions, 'test-reactions');
    assert.equal(batches.length, 2, 'the three calls made during the first write shared one write');
    assert.deepEqual(
      batches.flatMap((p) => p.events.map((e) => e.sourceId)).sort(),
      ['sendgrid:g0', 'sendgrid:g1', 'sendgrid:g2', 'sendgrid:g3'],
      'every new event once, in some batch',
    );
    const suppressed = await readAll<SuppressedPayload>(TOPICS.suppressed, 'test-suppressed');
    assert.deepEqual(suppressed.map((s) => [s.email, s.reason, s.source]).sort(), [
      ['b@example.com', 'unsubscribed', 'sendgrid:unsubscribed'],
      ['c@example.com', 'complained', 'sendgrid:complained'],
    ]);
  });

  it("one caller's bad event fails only that caller; the others of its group are stored", async () => {
    const bad: EngagementEvent = { ...event('bad1', 'opened', 'd@example.com'), occurredAt: new Date(Number.NaN) };
    const first = ingest([event('h0', 'delivered', 'd@example.com')]);
    const [good, failed] = await Promise.allSettled([
      ingest([event('h1', 'opened', 'd@example.com')]),
      ingest([bad, event('h2', 'clicked', 'd@example.com')]),
    ]);
    assert.deepEqual(await first, { accepted: 1, duplicates: 0 });
    assert.deepEqual(good, { status: 'fulfilled', value: { accepted: 1, duplicates: 0 } });
    assert.equal(failed.status, 'rejected');
    const { rows } = await db.query<{ source_id: string }>(
      `select source_id from engagement_events where source_id like 'sendgrid:h%' order by source_id`,
    );
    assert.deepEqual(
      rows.map((r) => r.source_id),
      ['sendgrid:h0', 'sendgrid:h1'],
    );
  });
});
