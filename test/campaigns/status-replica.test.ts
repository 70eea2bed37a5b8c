/**
 * SWITCHYARD_REPLICA_URL: a campaign's status counts (a scan of its ledger) are read from the
 * replica, everything else from the primary. Two real PostgreSQL databases stand in for primary
 * and replica; the test copies the ledger across (the replication) and then changes the copy, so
 * the counts can only have come from the replica.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { pino } from 'pino';
import { createApp } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';
import { TEST_DATABASE_URL, uniqueName } from '../support/databases.ts';
import { drain } from '../support/pipeline.ts';
import { requirePostgres } from '../support/services.ts';

it('status counts come from the read replica when one is configured', async (t) => {
  if ((await requirePostgres(t)) === null) return;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  const names = [uniqueName('primary'), uniqueName('replica')];
  for (const n of names) await admin.query(`create database ${n}`);
  const [primaryUrl, replicaUrl] = names.map((n) => TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${n}`));
  const replica = await createPostgresDb({ url: replicaUrl! });
  await migrate(replica);
  const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
  const app = await createApp(
    loadConfig({
      SWITCHYARD_TRACKING_SECRET: 'test-secret',
      DATABASE_URL: primaryUrl!,
      SWITCHYARD_REPLICA_URL: replicaUrl!,
    }),
    {
      clock,
      log: pino({ level: 'silent' }),
      esp: ({ clock: c, ingest }) =>
        createSandboxEsp({ clock: c, emit: async (e) => void (await ingest(e)) }, { eventDelayMs: 86_400_000 }),
      governor: { providers: { sandbox: { ratePerSec: 100_000 } } },
    },
  );
  t.after(async () => {
    await app.close();
    await replica.close();
    for (const n of names) await admin.query(`drop database if exists ${n}`);
    await admin.end();
  });
  const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 300, seed: 3 } }));
  await app.campaigns.start(c.id);
  await drain(app);
  // nothing replicated yet: the replica has no ledger rows for the campaign
  assert.deepEqual((await app.campaigns.status(c.id)).counts, {});
  const { rows } = await app.db.query<Record<string, unknown>>(
    'select campaign_id, contact_id, email, state, chunk, updated_at from send_ledger where campaign_id = $1',
    [c.id],
  );
  assert.ok(rows.length > 0);
  await replica.query(
    `insert into send_ledger (campaign_id, contact_id, email, state, chunk, updated_at)
     select x.campaign_id, x.contact_id, x.email, 'delivered', x.chunk, x.updated_at
     from jsonb_to_recordset($1::jsonb) as x(campaign_id text, contact_id text, email text, chunk int,
       updated_at timestamptz)`,
    [JSON.stringify(rows)],
  );
  const counts = (await app.campaigns.status(c.id)).counts;
  assert.deepEqual(counts, { delivered: rows.length }, 'the replica copy, not the primary, was counted');
  assert.equal((await app.campaigns.get(c.id)).status, 'completed', 'campaign state still comes from the primary');
});
