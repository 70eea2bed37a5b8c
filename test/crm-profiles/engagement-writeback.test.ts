/**
 * Engagement write-back to HubSpot (real adapter against the local HubSpot, PGlite, manual
 * clock): score changes of one contact within the coalescing window become one batch update with
 * the latest score; when HubSpot answers 429 with Retry-After longer than the retry delay, the
 * rows wait the Retry-After and nothing is lost.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { createCrmBatcher } from '../../src/connectors/crm/batcher.ts';
import { createHubspotCrm } from '../../src/connectors/crm/hubspot/adapter.ts';
import { budgetBucket, createSharedRateLimiter } from '../../src/connectors/crm/shared-rate-limit.ts';
import type { Crm } from '../../src/connectors/crm/port.ts';
import type { ReactionBatch } from '../../src/bus/topics.ts';
import { applyEngagementBatch, flushEngagementOutbox } from '../../src/reactions/engagement-stage.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { startHubspotServer, type HubspotServer } from '../connectors/crm/hubspot-server.ts';

const click = (contactId: string, at: Date, n: number): ReactionBatch['events'][number] => ({
  sourceId: `s:${contactId}:${n}`,
  type: 'clicked',
  provider: 'sandbox',
  occurredAt: at.toISOString(),
  email: null,
  messageId: null,
  campaignId: null,
  contactId,
  isMachine: false,
  reason: null,
  url: null,
});

describe('engagement write-back to HubSpot', () => {
  let db: Db;
  let clock: ManualClock;
  let server: HubspotServer;
  let crm: Crm;
  let hubspotId: string;
  const updates = (): number => server.requests.filter((r) => r.path.endsWith('/batch/update')).length;

  before(async () => {
    clock = createManualClock(new Date('2026-03-01T00:00:00Z'));
    server = await startHubspotServer(() => clock.now().getTime());
    hubspotId = server.addContact({ switchyard_contact_id: 'c-1' });
    db = await createPgliteDb({});
    await migrate(db);
    const rateLimit = { requests: 100, perMs: 10_000 };
    const limiter = createSharedRateLimiter(
      { db, clock },
      budgetBucket('hubspot', rateLimit.requests, rateLimit.perMs),
    );
    const hubspot = createHubspotCrm(
      { db, clock, limiter },
      { token: server.token, baseUrl: server.baseUrl, rateLimit, maxAttempts: 1 },
    );
    crm = createCrmBatcher(hubspot, { clock });
  });
  after(async () => {
    await db.close();
    await server.close();
  });

  it('three changes within the window are one HubSpot update with the latest score', async () => {
    const deps = { db, clock, crm, log: pino({ level: 'silent' }), options: { coalesceMs: 5_000 } };
    for (let n = 0; n < 3; n++) {
      await applyEngagementBatch(db, { events: [click('c-1', clock.now(), n)] }, `m-${n}`, clock.now(), {
        coalesceMs: 5_000,
      });
      await clock.advance(1_000);
      assert.equal(await flushEngagementOutbox(deps), 0, 'not due yet');
    }
    await clock.advance(2_000);
    assert.equal(await flushEngagementOutbox(deps), 1);
    assert.equal(updates(), 1);
    const { rows } = await db.query<{ n: number }>('select count(*)::int as n from crm_engagement_outbox');
    assert.equal(rows[0]?.n, 0);
    const score = Number(server.contact(hubspotId)?.properties.switchyard_engagement_score);
    assert.ok(score > 0, `score ${score}`);
  });

  it('a 429 with Retry-After postpones the rows by it; they are sent once it has passed', async () => {
    const deps = { db, clock, crm, log: pino({ level: 'silent' }), options: { coalesceMs: 0, retryDelayMs: 1_000 } };
    await applyEngagementBatch(db, { events: [click('c-1', clock.now(), 9)] }, 'm-9', clock.now(), { coalesceMs: 0 });
    server.throttle(1, 120);
    await assert.rejects(flushEngagementOutbox(deps), /rate limit/);
    const {
      rows: [o],
    } = await db.query<{ due_at: Date }>('select due_at from crm_engagement_outbox where contact_id = $1', ['c-1']);
    assert.equal(new Date(o!.due_at).getTime(), clock.now().getTime() + 120_000);
    await clock.advance(60_000);
    assert.equal(await flushEngagementOutbox(deps), 0, 'HubSpot said two minutes');
    // every process's HubSpot budget waits out the Retry-After too (shared bucket): a second more
    await clock.advance(61_000);
    const sent = updates();
    assert.equal(await flushEngagementOutbox(deps), 1);
    assert.equal(updates(), sent + 1);
  });
});
