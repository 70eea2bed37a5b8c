/**
 * The governor wired into the send stage (manual clock, sandbox ESP, in-process drain): outcomes
 * of the hand-off reach the governor (receiving-domain deferrals), a complaint spike arriving as
 * reactions pauses the campaign with the governor's reason, and a chunk of a paused sending
 * domain is deferred before any ledger claim, then sent after an operator resume.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp, type SandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { drain } from '../support/pipeline.ts';
import { authHeaders } from '../support/api-keys.ts';

const silent = pino({ level: 'silent' });
const config = loadConfig({
  SWITCHYARD_TRACKING_SECRET: 'test-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
});

/** Lets the background campaign transition started by a governor alert finish (no timers). */
async function settle(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise<void>((r) => setImmediate(r));
}

async function ledgerStates(db: Db, campaignId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ state: string; n: number }>(
    'select state, count(*)::int as n from send_ledger where campaign_id = $1 group by state',
    [campaignId],
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

describe('deliverability governor in the send stage', () => {
  let db: Db;
  let app: App;
  let esp: SandboxEsp;
  let clock: ManualClock;
  let ids = 0;
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
    app = await createApp(config, {
      db,
      clock,
      log: silent,
      newId: () => `cmp-g${++ids}`,
      esp: ({ clock: c, ingest }) =>
        (esp = createSandboxEsp(
          {
            clock: c,
            emit: async (e) => {
              await ingest(e);
            },
          },
          {
            eventDelayMs: 86_400_000,
            receivingDomainLimits: { 'example.org': 5 },
          },
        )),
      // rates high enough that the manual clock never has to move for tokens; breaker sized for a small test
      governor: {
        providers: { sandbox: { ratePerSec: 100_000 } },
        receivingAimd: { initial: 5_000, floor: 5_000, ceiling: 5_000 },
        breaker: { minSamples: 20, complaintRate: 0.05, operatorComplaintRate: 0.5, halfOpenSamples: 10 },
        // the demo audience is on reserved domains, exempt by default; governed here to test the breakers
        exemptReservedDomains: false,
      },
    });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('hand-off outcomes reach the governor: deferrals of a throttling receiver show in its group', async () => {
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 300, seed: 11 } }));
    await app.campaigns.start(c.id);
    await drain(app);
    const s = app.governor.status();
    const org = s.receivingGroups.find((g) => g.scope.receivingGroup === 'example.org');
    const com = s.receivingGroups.find((g) => g.scope.receivingGroup === 'example.com');
    assert.ok(org !== undefined && com !== undefined, 'both groups are tracked');
    assert.equal(org.scope.provider, 'sandbox');
    assert.equal(org.scope.sendingDomain, 'demo.example.com');
    assert.ok(org.deferralPct > 0, `example.org deferrals recorded (${org.deferralPct} %)`);
    assert.equal(com.deferralPct, 0);
    assert.ok(com.attempts > 0);
    const campaign = s.campaigns.find((x) => x.scope.campaignId === c.id);
    assert.equal(campaign?.breaker?.state, 'closed');
    // the deferred example.org messages wait for the chunk retry: the campaign is still running
    assert.equal((await app.campaigns.get(c.id)).status, 'running');
  });

  it(
    'a complaint spike pauses the campaign; its status carries the governor reason; its chunks are deferred '
      + 'without claims',
    async () => {
      const c = (await app.campaigns.list()).find((x) => x.id === 'cmp-g1')!;
      const accepted = esp.outbox().filter((m) => m.correlation.campaignId === c.id);
      assert.ok(accepted.length >= 20, `enough accepted sends for the breaker (${accepted.length})`);
      const complainers = accepted.slice(0, 30); // ~15 % of the accepted sends, over the 5 % threshold
      await app.ingest(
        complainers.map((m) => ({
          type: 'complained' as const,
          sourceId: `test:complaint:${m.correlation.ledgerId}`,
          provider: 'sandbox',
          occurredAt: clock.now(),
          email: m.to,
          campaignId: c.id,
          contactId: m.correlation.contactId,
          raw: {},
        })),
      );
      await drain(app, { only: ['governor'] });
      await settle(async () => (await app.campaigns.get(c.id)).status === 'paused');

      const status = await app.campaigns.status(c.id);
      assert.equal(status.campaign.status, 'paused');
      assert.match(status.campaign.statusReason ?? '', /^deliverability governor: .*complaint/i);
      const gs = app.governor.status().campaigns.find((x) => x.scope.campaignId === c.id);
      assert.equal(gs?.breaker?.state, 'open');
      assert.equal(status.deliverability?.breaker?.state, 'open', 'campaign status includes the governor view');
      assert.ok((status.deliverability?.complaintPct ?? 0) > 5);
      const metrics = await app.metrics.registry.metrics();
      assert.match(
        metrics,
        new RegExp(
          `switchyard_deliverability_breaker_open\\{scope="campaign",provider="",sending_domain=""`
            + `,receiving_group="",campaign_id="${c.id}"\\} 1`,
        ),
      );
      assert.match(
        metrics,
        new RegExp(
          String.raw`switchyard_deliverability_breaker_open\{scope="sending_domain",provider=""`
            + String.raw`,sending_domain="demo.example.com",receiving_group="",campaign_id=""\} 1`,
        ),
      );
      assert.match(
        metrics,
        new RegExp(
          String.raw`switchyard_deliverability_deferral_percent\{scope="receiving_group"`
            + ',provider="sandbox",sending_domain="demo.example.com"'
            + String.raw`,receiving_group="example.org",campaign_id=""\} [1-9]`,
        ),
      );

      // the operator resumes the campaign row, but the governor still holds it: the retried chunk
      // is deferred before the ledger claim — no row is rendered/sending, nothing more is sent
      const sentBefore = esp.outbox().length;
      const before = await ledgerStates(db, c.id);
      await app.campaigns.resume(c.id);
      await clock.advance(10 * 60_000);
      await drain(app);
      assert.equal(esp.outbox().length, sentBefore, 'nothing handed to the ESP');
      const afterStates = await ledgerStates(db, c.id);
      assert.equal(afterStates.rendered ?? 0, 0, 'no claims held');
      assert.equal(afterStates.sending ?? 0, 0);
      assert.equal(afterStates.retry, before.retry, 'the waiting recipients stay unclaimed');
      assert.equal(
        (afterStates.sent ?? 0) + (afterStates.complained ?? 0),
        (before.sent ?? 0) + (before.complained ?? 0),
      );
      const depth = (await app.bus.depth()).filter((d) => d.topic.startsWith('blast.ready.') && d.group === 'send');
      assert.ok(
        depth.some((d) => d.pending + d.retrying + d.inFlight > 0),
        'the chunk waits on the bus',
      );
    },
  );

  it(
    'a new campaign from the paused sending domain waits unclaimed until an operator resume (POST '
      + '/v1/deliverability/resume)',
    async () => {
      const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 100, seed: 12 } }));
      await app.campaigns.start(c.id);
      const sentBefore = esp.outbox().length;
      await drain(app);
      assert.equal(esp.outbox().length, sentBefore);
      const states = await ledgerStates(db, c.id);
      assert.equal(states.rendered ?? 0, 0);
      assert.equal(states.sent ?? 0, 0);

      const bad = await app.adminServer.inject({
        method: 'POST',
        url: '/v1/deliverability/resume',
        payload: {},
        headers: await authHeaders(app),
      });
      assert.equal(bad.statusCode, 400);
      const res = await app.adminServer.inject({
        method: 'POST',
        url: '/v1/deliverability/resume',
        payload: { sendingDomain: 'demo.example.com' },
        headers: await authHeaders(app),
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(
        (res.json() as { sendingDomains: { breaker: { state: string } }[] }).sendingDomains[0]?.breaker.state,
        'closed',
      );
      await clock.advance(60_000);
      await drain(app);
      const sent = esp.outbox().filter((m) => m.correlation.campaignId === c.id).length;
      assert.ok(sent > 0, 'sent after the resume');
      assert.equal((await ledgerStates(db, c.id)).rendered ?? 0, 0);
    },
  );
});
