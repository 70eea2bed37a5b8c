import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { createConsumer } from '../../src/bus/consumer.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { createDemoCrm, ensureDemoCrmSchema, isKnownContact } from '../../src/connectors/crm/demo/adapter.ts';
import { createNoCrm } from '../../src/connectors/crm/none/adapter.ts';
import type { Crm, EngagementUpdate } from '../../src/connectors/crm/port.ts';
import { accumulateEngagement, engagementScore } from '../../src/core/engagement-score.ts';
import { SwitchyardError } from '../../src/core/errors.ts';
import type { EngagementEvent } from '../../src/core/events.ts';
import { createIngest } from '../../src/reactions/ingest.ts';
import {
  applyEngagementBatch,
  engagementStage,
  flushEngagementOutbox,
  runEngagementFlusher,
  type EngagementStageDeps,
} from '../../src/reactions/engagement-stage.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import type { ReactionBatch } from '../../src/bus/topics.ts';

const log = pino({ level: 'silent' });
let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  await ensureDemoCrmSchema(db);
});
after(async () => {
  await db.close();
});

/** A known demo-CRM contact id unique to this test. */
function contactId(): string {
  for (;;) {
    const id = `c_${randomBytes(5).toString('hex')}`;
    if (isKnownContact(id)) return id;
  }
}

/** The demo CRM, with every updateEngagement call recorded. */
function recordingCrm(
  clock: ManualClock,
  options: { failRate?: number } = {},
): { crm: Crm; calls: EngagementUpdate[][] } {
  const inner = createDemoCrm({ db, clock }, options);
  const calls: EngagementUpdate[][] = [];
  return {
    calls,
    crm: {
      ...inner,
      updateEngagement: (u) => {
        calls.push([...u]);
        return inner.updateEngagement(u);
      },
    },
  };
}

function setup(options: { failRate?: number; batchSize?: number; start?: Date } = {}) {
  const clock = createManualClock(options.start ?? new Date('2026-06-01T10:00:00Z'));
  const bus = createPostgresLogBus({ db, clock });
  const ingest = createIngest({ db, bus, clock });
  const { crm, calls } = recordingCrm(clock, options);
  const deps: EngagementStageDeps = {
    db,
    clock,
    crm,
    log,
    options: options.batchSize === undefined ? {} : { batchSize: options.batchSize },
  };
  const group = `engagement-${randomBytes(4).toString('hex')}`;
  return { clock, bus, ingest, crm, calls, deps, group };
}

const ev = (contact: string, type: EngagementEvent['type'], at: Date, isMachine = false): EngagementEvent => ({
  type,
  sourceId: `test:${randomBytes(6).toString('hex')}`,
  provider: 'sandbox',
  occurredAt: at,
  contactId: contact,
  email: `${contact}@example.com`,
  isMachine,
  raw: null,
});

async function storedState(contact: string) {
  const {
    rows: [r],
  } = await db.query<{ raw_score: number; raw_at: Date; last_engaged_at: Date }>(
    'select raw_score, raw_at, last_engaged_at from contact_engagement where contact_id = $1',
    [contact],
  );
  return r;
}

describe('engagement stage', () => {
  it(
    'scores human opens, clicks and replies (machine ones excluded) and matches the core formula, also for '
      + 'late events',
    async () => {
      const { clock } = setup();
      const c = contactId();
      const t = clock.now();
      const first: EngagementEvent[] = [
        ev(c, 'opened', t),
        ev(c, 'opened', t, true),
        ev(c, 'clicked', new Date(t.getTime() + 1000)),
        ev(c, 'delivered', t),
      ];
      const late: EngagementEvent[] = [
        ev(c, 'replied', new Date(t.getTime() - 10 * 86_400_000)),
        ev(c, 'clicked', new Date(t.getTime() - 3600_000), true),
      ];
      const toBatch = (es: EngagementEvent[]): ReactionBatch => ({
        events: es.map((e) => ({
          sourceId: e.sourceId,
          type: e.type,
          provider: e.provider,
          occurredAt: e.occurredAt.toISOString(),
          email: e.email ?? null,
          messageId: null,
          campaignId: null,
          contactId: e.contactId ?? null,
          isMachine: e.isMachine ?? false,
          reason: null,
          url: null,
        })),
      });
      assert.equal(await applyEngagementBatch(db, toBatch(first), `m:${c}:1`, clock.now(), { coalesceMs: 5000 }), 1);
      await applyEngagementBatch(db, toBatch(late), `m:${c}:2`, clock.now(), { coalesceMs: 5000 });
      const expected = accumulateEngagement(
        [...first, ...late].map((e) => ({ type: e.type, occurredAt: e.occurredAt, isMachine: e.isMachine ?? false })),
      )!;
      const r = await storedState(c);
      assert.ok(Math.abs(Number(r!.raw_score) - expected.raw) < 1e-9, `${r!.raw_score} vs ${expected.raw}`);
      assert.equal(new Date(r!.last_engaged_at).getTime(), t.getTime() + 1000);
      // same message id again: nothing changes
      assert.equal(await applyEngagementBatch(db, toBatch(first), `m:${c}:1`, clock.now(), { coalesceMs: 5000 }), 0);
      assert.equal(Number((await storedState(c))!.raw_score), Number(r!.raw_score));
      const {
        rows: [o],
      } = await db.query<{ score: number }>('select score from crm_engagement_outbox where contact_id = $1', [c]);
      assert.equal(
        Number(o!.score),
        engagementScore(
          [...first, ...late].map((e) => ({ type: e.type, occurredAt: e.occurredAt, isMachine: e.isMachine ?? false })),
          clock.now(),
        ),
      );
    },
  );

  it('a redelivered bus message (handler failed after applying) does not count twice', async () => {
    const { clock, bus, ingest, deps, group } = setup({ start: new Date('2026-05-01T10:00:00Z') });
    const c = contactId();
    const stage = engagementStage(deps);
    const inner = stage.consumers[0]!.handler as unknown as (m: never, ctx: { signal: AbortSignal }) => Promise<void>;
    let failOnce = true;
    const consumer = createConsumer<ReactionBatch>(
      { bus, clock, log },
      { ...stage.consumers[0]!.options, group, backoffBaseMs: 100 },
      async (m, ctx) => {
        await inner(m as never, ctx);
        if (failOnce) {
          failOnce = false;
          throw new SwitchyardError('CRM_UNAVAILABLE', 'lost the ack', { retryable: true });
        }
      },
    );
    await ingest([ev(c, 'replied', clock.now())]);
    assert.equal(await consumer.runOnce(), 1);
    await clock.advance(1000);
    assert.equal(await consumer.runOnce(), 1);
    assert.equal(failOnce, false);
    const r = await storedState(c);
    assert.equal(Number(r!.raw_score), 10);
  });

  it('replies that ask to stop or complain add no engagement; other replies do', async () => {
    const { clock, bus, ingest, deps, group } = setup({ start: new Date('2026-05-02T10:00:00Z') });
    const stage = engagementStage(deps);
    const consumer = createConsumer<ReactionBatch>(
      { bus, clock, log },
      { ...stage.consumers[0]!.options, group },
      stage.consumers[0]!.handler as never,
    );
    const texts = {
      stop: 'please remove me from this list. I never signed up for this.',
      complaint: 'This is spam.',
      german: 'Bitte abmelden, danke.',
      plain: 'Not interested.',
      interested: 'Sounds great, tell me more about the pricing.',
      thanks: 'Thanks, see you at the event!',
    };
    const contacts = Object.fromEntries(Object.keys(texts).map((k) => [k, contactId()]));
    await ingest(
      Object.entries(texts).map(([k, text]) => ({
        ...ev(contacts[k]!, 'replied', clock.now()),
        provider: 'inbound',
        raw: { trimmedText: text, verified: true },
      })),
    );
    assert.ok((await consumer.runOnce()) >= 1); // a new group also reads earlier tests' batches
    for (const k of ['stop', 'complaint', 'german', 'plain'])
      assert.equal(await storedState(contacts[k]!), undefined, `${k} reply scored`);
    for (const k of ['interested', 'thanks']) assert.equal(Number((await storedState(contacts[k]!))!.raw_score), 10);
  });

  it('coalesces: changes within 5 s of the first one go to the CRM as one update with the latest score', async () => {
    const { clock, bus, ingest, crm, calls, deps, group } = setup({ start: new Date('2026-04-01T10:00:00Z') });
    const c = contactId();
    const stage = engagementStage(deps);
    const consumer = createConsumer(
      { bus, clock, log },
      { ...stage.consumers[0]!.options, group },
      stage.consumers[0]!.handler as never,
    );
    await ingest([ev(c, 'opened', clock.now())]);
    await consumer.runOnce();
    await clock.advance(2000);
    await ingest([ev(c, 'clicked', clock.now())]);
    await consumer.runOnce();
    await clock.advance(2000);
    assert.equal(await flushEngagementOutbox(deps), 0, 'not due before 5 s after the first change');
    await clock.advance(1000);
    assert.equal(await flushEngagementOutbox(deps), 1);
    const mine = calls.flat().filter((u) => u.contactId === c);
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.score, 33); // raw 1·2^(−2 s/30 d) + 3 ≈ 4 → 100·(1 − e^−0.4) = 32.97
    assert.equal((await crm.lookup([c])).get(c)?.engagementScore, 33);
    assert.equal(await flushEngagementOutbox(deps), 0, 'sent rows leave the outbox');
  });

  it('sends every due contact in calls of at most batchSize', async () => {
    // each test starts on an earlier day than the one before, so only its own rows are due
    const { clock, bus, ingest, calls, deps, group } = setup({ batchSize: 3, start: new Date('2026-03-01T10:00:00Z') });
    const stage = engagementStage(deps);
    const consumer = createConsumer(
      { bus, clock, log },
      { ...stage.consumers[0]!.options, group },
      stage.consumers[0]!.handler as never,
    );
    const contacts = Array.from({ length: 7 }, contactId);
    await ingest(contacts.map((c) => ev(c, 'clicked', clock.now())));
    while ((await consumer.runOnce()) > 0) {
      /* drain */
    }
    await clock.advance(5000);
    const before = calls.length;
    assert.equal(await flushEngagementOutbox(deps), 7);
    assert.deepEqual(
      calls.slice(before).map((c) => c.length),
      [3, 3, 1],
    );
  });

  it(
    'a failing CRM call postpones its rows and rethrows; ' + 'the flusher loop runs on the clock until aborted',
    async () => {
      const start = new Date('2026-02-01T10:00:00Z');
      const failing = setup({ failRate: 1, start });
      const c = contactId();
      await applyEngagementBatch(
        db,
        {
          events: [
            {
              sourceId: `s:${c}`,
              type: 'replied',
              provider: 'inbound',
              occurredAt: failing.clock.now().toISOString(),
              email: null,
              messageId: null,
              campaignId: null,
              contactId: c,
              isMachine: false,
              reason: null,
              url: null,
            },
          ],
        },
        `m:${c}`,
        failing.clock.now(),
        { coalesceMs: 0 },
      );
      await assert.rejects(flushEngagementOutbox(failing.deps), (e: SwitchyardError) => e.code === 'CRM_UNAVAILABLE');
      const {
        rows: [o],
      } = await db.query<{ due_at: Date }>('select due_at from crm_engagement_outbox where contact_id = $1', [c]);
      assert.equal(new Date(o!.due_at).getTime(), failing.clock.now().getTime() + 30_000);

      const ok = setup({ start });
      await db.query('update crm_engagement_outbox set due_at = $2 where contact_id = $1', [c, ok.clock.now()]);
      const stop = new AbortController();
      const loop = runEngagementFlusher(ok.deps, stop.signal);
      await ok.clock.advance(1000);
      assert.ok(ok.calls.flat().some((u) => u.contactId === c && u.score === 63.2));
      stop.abort();
      await loop;
    },
  );

  it('with no CRM configured the score is kept and nothing is queued for a CRM', async () => {
    const { clock, bus, ingest, deps, group } = setup({ start: new Date('2026-05-03T10:00:00Z') });
    const stage = engagementStage({ ...deps, crm: createNoCrm() });
    assert.equal(stage.loops?.length ?? 0, 0, 'no flusher');
    const consumer = createConsumer<ReactionBatch>(
      { bus, clock, log },
      { ...stage.consumers[0]!.options, group },
      stage.consumers[0]!.handler as never,
    );
    const c = contactId();
    await ingest([ev(c, 'clicked', clock.now())]);
    // the group is new: it also reads the earlier tests' batches
    assert.ok((await consumer.runOnce()) >= 1);
    assert.ok(Number((await storedState(c))!.raw_score) > 0);
    const { rows } = await db.query('select 1 from crm_engagement_outbox where contact_id = $1', [c]);
    assert.equal(rows.length, 0);
  });
});
