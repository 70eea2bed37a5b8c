/**
 * Governor alerts change campaign state only through the campaign service: a pause holds a
 * running campaign with the governor's reason, a resume lifts only the governor's own hold, and
 * an operator's pause or a campaign in another state is left alone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { applyAlertToCampaign } from '../../src/deliverability/campaign-pauses.ts';
import type { GovernorAlert } from '../../src/deliverability/governor-types.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

const config = loadConfig({
  SWITCHYARD_TRACKING_SECRET: 'test-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
});
const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
const alert = (kind: GovernorAlert['kind'], campaignId: string | undefined, reason: string): GovernorAlert => ({
  kind,
  reason,
  at: clock.now(),
  scope: campaignId === undefined ? { sendingDomain: 'demo.example.com' } : { campaignId },
});

describe('governor alerts → campaign status', () => {
  let db: Db;
  let app: App;
  let ids = 0;
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    app = await createApp(config, { db, clock, log: pino({ level: 'silent' }), newId: () => `cmp-p${++ids}` });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  const running = async (): Promise<string> => {
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 10, seed: 1 } }));
    await app.campaigns.start(c.id);
    return c.id;
  };

  it('a pause holds a running campaign with the governor reason; a resume lifts it', async () => {
    const id = await running();
    assert.equal(await applyAlertToCampaign(app.campaigns, alert('paused', id, 'complaint rate 9 %')), true);
    let c = await app.campaigns.get(id);
    assert.equal(c.status, 'paused');
    assert.equal(c.statusReason, 'deliverability governor: complaint rate 9 %');
    const again = await applyAlertToCampaign(app.campaigns, alert('paused', id, 'again'));
    assert.equal(again, false, 'only a running campaign is held');
    assert.equal(await applyAlertToCampaign(app.campaigns, alert('resumed', id, 'breaker closed')), true);
    c = await app.campaigns.get(id);
    assert.equal(c.status, 'running');
    assert.equal(c.statusReason, 'deliverability governor: breaker closed');
  });

  it("a resume never lifts an operator's pause", async () => {
    const id = await running();
    await app.campaigns.pause(id);
    assert.equal(await applyAlertToCampaign(app.campaigns, alert('resumed', id, 'breaker closed')), false);
    const c = await app.campaigns.get(id);
    assert.equal(c.status, 'paused');
    assert.equal(c.statusReason, 'paused by operator');
  });

  it('alerts without a campaign, rate reductions and unknown campaigns change nothing', async () => {
    const id = await running();
    assert.equal(await applyAlertToCampaign(app.campaigns, alert('paused', undefined, 'domain bounce rate')), false);
    assert.equal(await applyAlertToCampaign(app.campaigns, alert('rate_reduced', id, 'deferrals')), false);
    assert.equal(await applyAlertToCampaign(app.campaigns, alert('paused', 'cmp-none', 'complaints')), false);
    assert.equal((await app.campaigns.get(id)).status, 'running');
  });
});
