/**
 * SWITCHYARD_DEMO=false end to end: the app starts with no demo workspace at all. A CSV campaign still
 * sends through the configured SMTP ESP (recipients pass enrichment unenriched), the demo audience is
 * refused, no demo_crm_* table or row is created, and a suppression (from a reaction or the CLI)
 * propagates to every connected system but a CRM. `switchyard start` with the key off starts and stops
 * cleanly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { registerSuppressionCommands } from '../../src/cli/commands/suppression.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import type { SwitchyardError } from '../../src/core/errors.ts';
import { demoContactId } from '../../src/connectors/warehouse/demo/generate.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { drain } from '../support/pipeline.ts';
import { startServerProcess } from '../support/server-process.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts';

const RECIPIENTS = 40;

async function demoTables(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ table_name: string }>(
    `select table_name from information_schema.tables where table_name like 'demo\\_%' order by 1`,
  );
  return rows.map((r) => r.table_name);
}

describe('SWITCHYARD_DEMO=false end to end', () => {
  const csvDir = mkdtempSync(join(tmpdir(), 'csv-demo-off-'));
  let db: Db;
  let sink: SmtpSink;
  let app: App;
  let ids = 0;
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    sink = await startSmtpSink();
    const config = loadConfig({
      SWITCHYARD_DEMO: 'false',
      SWITCHYARD_TRACKING_SECRET: 's',
      SWITCHYARD_CSV_DIRS: csvDir,
      SWITCHYARD_ESP: 'smtp',
      SWITCHYARD_SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    });
    app = await createApp(config, {
      db,
      log: pino({ level: 'silent' }),
      clock: createManualClock(new Date('2026-06-01T10:00:00Z')),
      newId: () => `cmp-demo-off-${++ids}`,
    });
  });
  after(async () => {
    await app.close();
    await sink.close();
    await db.close();
    rmSync(csvDir, { recursive: true, force: true });
  });

  it('wires no CRM and creates no demo table', async () => {
    assert.equal(app.config.demo.enabled, false);
    assert.equal(app.crm.name, 'none');
    assert.equal((await app.crm.lookup([demoContactId(1), demoContactId(2)])).size, 0, 'no contact is known');
    assert.deepEqual(await demoTables(db), []);
  });

  it('a CSV campaign sends every recipient once, unenriched; the demo audience is refused', async () => {
    const path = join(csvDir, 'audience.csv');
    const lines = ['customer_id,email_address,country_code,marketing_opt_in'];
    for (let i = 0; i < RECIPIENTS; i++) lines.push(`${demoContactId(i)},off${i}@example.com,US,true`);
    writeFileSync(path, `${lines.join('\n')}\n`);
    const mapping = {
      columns: {
        id: 'customer_id',
        email: 'email_address',
        country: 'country_code',
        marketingOptIn: 'marketing_opt_in',
      },
    };
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'csv', path, mapping } }));
    await app.campaigns.start(c.id);
    await drain(app);

    assert.equal((await app.campaigns.get(c.id)).status, 'completed');
    const { rows } = await db.query<{ state: string; n: string }>(
      'select state, count(*) as n from send_ledger where campaign_id = $1 group by state',
      [c.id],
    );
    assert.deepEqual(
      rows.map((r) => [r.state, Number(r.n)]),
      [['sent', RECIPIENTS]],
    );
    const received = sink
      .messages()
      .map((m) => m.envelope.rcptTo[0]!.toLowerCase())
      .sort();
    assert.deepEqual(received, Array.from({ length: RECIPIENTS }, (_, i) => `off${i}@example.com`).sort());

    await assert.rejects(
      app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 10 } })),
      (e: SwitchyardError) =>
        e.code === 'CAMPAIGN_INVALID' && /audience source "demo" is off: SWITCHYARD_DEMO is false/.test(e.message),
    );
    assert.deepEqual(await demoTables(db), [], 'sending touched no demo CRM table');
  });

  it('an unsubscribe propagates to the ESP, warehouse and compliance log, never to a CRM', async () => {
    const email = 'off3@example.com';
    await app.ingest([
      {
        type: 'unsubscribed',
        sourceId: 'test:demo-off-unsub',
        provider: 'tracking',
        occurredAt: app.clock.now(),
        email,
        raw: {},
      },
    ]);
    await drain(app);
    const { rows } = await db.query<{ system: string }>(
      'select system from suppression_propagations where email = $1 order by system',
      [email],
    );
    assert.deepEqual(
      rows.map((r) => r.system),
      ['compliance', 'esp', 'warehouse'],
    );
    assert.deepEqual(await demoTables(db), []);
  });

  it('a manual suppression from the CLI queues the same systems', async () => {
    const out: string[] = [];
    const program = new Command().exitOverride();
    registerSuppressionCommands(program, async () => ({ ...app, close: async () => {} }), {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
      setExitCode: () => {},
    });
    await program.parseAsync(['node', 'switchyard', 'suppression', 'add', 'manual.off@example.com']);
    assert.deepEqual(out, ['suppressed; 3 system(s) queued for propagation']);
    const { rows } = await db.query<{ system: string }>(
      'select system from suppression_propagations where email = $1 order by system',
      ['manual.off@example.com'],
    );
    assert.deepEqual(
      rows.map((r) => r.system),
      ['compliance', 'esp', 'warehouse'],
    );
  });
});

describe('switchyard start with SWITCHYARD_DEMO=false', () => {
  it('starts both listeners, logs no warning or error, and stops on SIGTERM with exit 0', {
    timeout: 120_000,
  }, async (t) => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'sy-demo-off-')), 'data');
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SWITCHYARD_DEMO: 'false',
      SWITCHYARD_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    };
    delete env.DATABASE_URL;
    const server = await startServerProcess(t, env);
    // a served request also means start has finished and its signal handlers are in place
    assert.equal((await fetch(`${server.publicUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${server.adminUrl}/healthz`)).status, 200);
    assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
    assert.doesNotMatch(server.stdout(), /"level":(40|50|60)/, 'no warning, error or fatal log line');
    assert.equal(server.stderr(), '');
  });
});
