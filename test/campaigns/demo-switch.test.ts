/**
 * SWITCHYARD_DEMO=false turns the demo workspace off: the API refuses a demo campaign with a 400
 * naming the key, and no CRM is wired (no demo_crm_* table appears). With the default the same
 * campaign is accepted and the demo CRM answers. One in-memory PGlite shared by the apps, the
 * demo-off ones first. test/campaigns/demo-off.test.ts sends a campaign with the key off.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import type { SwitchyardError } from '../../src/core/errors.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders } from '../support/api-keys.ts';

const OFF = /audience source "demo" is off: SWITCHYARD_DEMO is false/;

describe('SWITCHYARD_DEMO', () => {
  let db: Db;
  let ids = 0;
  const open = (env: Record<string, string>): Promise<App> =>
    createApp(loadConfig({ SWITCHYARD_TRACKING_SECRET: 's', ...env }), {
      db,
      log: pino({ level: 'silent' }),
      clock: createManualClock(new Date('2026-06-01T10:00:00Z')),
      newId: () => `cmp-demo-switch-${++ids}`,
    });
  const demoCrmTables = async (): Promise<string[]> =>
    (
      await db.query<{ table_name: string }>(
        `select table_name from information_schema.tables where table_name like 'demo\\_crm\\_%' order by 1`,
      )
    ).rows.map((r) => r.table_name);
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
  });
  after(async () => {
    await db.close();
  });

  it('false: creating or validating a demo campaign is CAMPAIGN_INVALID naming the key, over HTTP a 400', async (t) => {
    const app = await open({ SWITCHYARD_DEMO: 'false' });
    t.after(() => app.close());
    await assert.rejects(
      app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 10 } })),
      (e: SwitchyardError) => e.code === 'CAMPAIGN_INVALID' && OFF.test(e.message),
    );
    const v = await app.campaigns.validate(demoCampaign());
    assert.equal(v.ok, false);
    assert.equal(v.errors.filter((e) => OFF.test(e)).length, 1, v.errors.join('; '));

    const headers = await authHeaders(app);
    const res = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/campaigns',
      headers,
      payload: demoCampaign() as unknown as Record<string, unknown>,
    });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error, 'CAMPAIGN_INVALID');
    assert.match(res.json().message, OFF);
    assert.deepEqual(await app.campaigns.list(), [], 'nothing was stored');
  });

  it('false: no CRM is wired and no demo CRM table is created', async (t) => {
    const app = await open({ SWITCHYARD_DEMO: 'false' });
    t.after(() => app.close());
    assert.equal(app.crm.name, 'none');
    assert.equal((await app.crm.lookup(['cus_00000001', 'cus_00000002', 'cus_00000003'])).size, 0);
    await assert.rejects(
      app.crm.createTask({ contactId: 'cus_00000001', kind: 'reply-follow-up', title: 't', body: 'b' }),
      (e: SwitchyardError) => e.code === 'VALIDATION_FAILED' && !e.retryable && /no CRM is configured/.test(e.message),
    );
    assert.deepEqual(await demoCrmTables(), []);
  });

  it('true (the default): the same campaign is accepted', async (t) => {
    const app = await open({});
    t.after(() => app.close());
    assert.equal(app.config.demo.enabled, true);
    const found = await app.crm.lookup(['cus_00000001', 'cus_00000002', 'cus_00000003']);
    assert.ok(found.size > 0, 'the demo CRM answers');
    for (const r of found.values()) assert.match(r.crmId, /^demo-/);
    assert.deepEqual(await demoCrmTables(), [
      'demo_crm_accounts',
      'demo_crm_deals',
      'demo_crm_opt_outs',
      'demo_crm_tasks',
    ]);
    assert.deepEqual(await app.campaigns.validate(demoCampaign()), { ok: true, errors: [] });
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 10 } }));
    assert.equal(c.status, 'draft');
  });
});
