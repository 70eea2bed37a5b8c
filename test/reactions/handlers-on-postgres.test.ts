/**
 * The reaction handlers' SQL on the PostgreSQL server (15 here; PGlite embeds 18 and is covered by
 * the other files of test/reactions and test/compliance): engagement merge and outbox flush,
 * propagation claim/record, review queue claim/resolve. Skips with the reason when the server is
 * unreachable, fails instead under SWITCHYARD_REQUIRE_SERVICES=1.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { propagateDue, enqueuePropagations } from '../../src/compliance/propagation.ts';
import { createRecordingSuppressionSink } from '../../src/compliance/sinks.ts';
import { getSuppressionStatus } from '../../src/compliance/suppression-status.ts';
import { createDemoCrm, ensureDemoCrmSchema, isKnownContact } from '../../src/connectors/crm/demo/adapter.ts';
import { accumulateEngagement } from '../../src/core/engagement-score.ts';
import { applyEngagementBatch, flushEngagementOutbox } from '../../src/reactions/engagement-stage.ts';
import { createIngest } from '../../src/reactions/ingest.ts';
import { addReviewItems, claimReviewItem, resolveReviewItem, reviewItemId } from '../../src/reactions/review-queue.ts';
import { testDatabases } from '../support/databases.ts';
import type { StoredEvent } from '../../src/bus/topics.ts';

const log = pino({ level: 'silent' });
const DAY = 86_400_000;

for (const tdb of (await testDatabases()).filter((d) => d.label === 'postgres')) {
  describe(`reaction handlers on ${tdb.label}`, { skip: tdb.skip }, () => {
    let passed = true;
    after(() => tdb.close(passed));
    const check = (name: string, fn: () => Promise<void>): void => {
      it(name, async () => {
        try {
          await fn();
        } catch (err) {
          passed = false;
          throw err;
        }
      });
    };

    check(
      'engagement: batches merge like the core formula (late events too, underflow clamped) and flush to the CRM',
      async () => {
        const db = await tdb.open();
        await ensureDemoCrmSchema(db);
        const clock = createManualClock(new Date('2026-06-01T00:00:00Z'));
        let contact = 'pg_c1';
        for (let i = 2; !isKnownContact(contact); i++) contact = `pg_c${i}`;
        const ev = (type: StoredEvent['type'], at: number): StoredEvent => ({
          sourceId: `pg:${type}:${at}`,
          type,
          provider: 't',
          occurredAt: new Date(at).toISOString(),
          email: null,
          messageId: null,
          campaignId: null,
          contactId: contact,
          isMachine: false,
          reason: null,
          url: null,
        });
        const now = clock.now().getTime();
        const batches = [
          [ev('opened', now - 40_000 * DAY)],
          [ev('clicked', now)],
          [ev('replied', now - 3 * DAY), ev('opened', now - DAY)],
        ];
        for (const [i, events] of batches.entries())
          await applyEngagementBatch(db, { events }, `pg-m${i}`, clock.now(), { coalesceMs: 0 });
        const expected = accumulateEngagement(
          batches.flat().map((e) => ({ type: e.type, occurredAt: new Date(e.occurredAt), isMachine: false })),
        )!;
        const {
          rows: [r],
        } = await db.query<{ raw_score: number }>('select raw_score from contact_engagement where contact_id = $1', [
          contact,
        ]);
        assert.ok(Math.abs(Number(r!.raw_score) - expected.raw) < 1e-9);
        const crm = createDemoCrm({ db, clock });
        assert.equal(await flushEngagementOutbox({ db, clock, crm, log }), 1);
        assert.ok(((await crm.lookup([contact])).get(contact)?.engagementScore ?? 0) > 0);
      },
    );

    check('propagation: claim, confirm and status', async () => {
      const db = await tdb.open();
      const clock = createManualClock();
      const sink = createRecordingSuppressionSink('esp');
      await enqueuePropagations(db, [{ email: 'PG.user@example.com', reason: 'manual' }], ['esp'], clock.now());
      assert.equal(await propagateDue({ db, clock, log, sinks: [sink] }), 1);
      const status = await getSuppressionStatus(db, 'pg.user@example.com');
      assert.deepEqual(
        status.systems.map((s) => [s.system, s.status, s.attempts]),
        [['esp', 'confirmed', 1]],
      );
    });

    check('review queue: add, claim, resolve', async () => {
      const db = await tdb.open();
      const clock = createManualClock();
      const bus = createPostgresLogBus({ db, clock });
      const deps = { db, clock, crm: createDemoCrm({ db, clock }), ingest: createIngest({ db, bus, clock }) };
      assert.equal(
        await addReviewItems(
          db,
          [{ sourceId: 'pg:reply', contactId: null, campaignId: null, intent: 'other', confidence: 0, excerpt: 'hm' }],
          clock.now(),
        ),
        1,
      );
      const id = reviewItemId('pg:reply');
      assert.equal((await claimReviewItem(db, id, 'alice', clock.now())).status, 'claimed');
      assert.equal((await resolveReviewItem(deps, id, { by: 'alice', action: 'ignore' })).resolution, 'ignore');
    });
  });
}
