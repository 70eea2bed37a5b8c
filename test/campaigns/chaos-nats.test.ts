/**
 * Chaos on NATS JetStream + PostgreSQL, real processes: three `switchyard worker` processes for
 * each blast stage (select, prepare, send) run one campaign into a counting SMTP server while the
 * test SIGKILLs a random worker five times (each replaced by a new one), restarts a private
 * `nats-server -js` (its own port and store directory) once, and terminates every worker's
 * PostgreSQL connection once (pg_terminate_backend, found by application_name). The campaign must
 * complete with nobody receiving two messages, and every recipient accounted for: `sent` (and at
 * the server), `suppressed`, or `unknown` — in doubt, committed at the final dot by a process that
 * died before the server answered — at most the SMTP commit window (5) per kill or disconnect.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { pino } from 'pino';
import fc from 'fast-check';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';
import { TEST_DATABASE_URL, uniqueName } from '../support/databases.ts';
import { freePort } from '../support/free-port.ts';
import { natsAnswers } from '../support/nats.ts';
import { requirePostgres } from '../support/services.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;
const NATS_SERVER = '/usr/sbin/nats-server';
const AUDIENCE = 4000;
const STAGES = ['select', 'prepare', 'send'] as const;
const WINDOW = 5;

it('three workers per blast stage on NATS survive kills, a NATS restart and a PostgreSQL disconnect', {
  timeout: 600_000,
}, async (t) => {
  if ((await requirePostgres(t)) === null) return;
  const natsPort = await freePort();
  const natsDir = mkdtempSync(join(tmpdir(), 'chaos-nats-'));
  let nats: ChildProcess | undefined;
  // stopped whatever happens next: a live child would keep this test file's process from exiting
  t.after(() => void nats?.kill('SIGKILL'));
  const startNats = async (): Promise<void> => {
    nats = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', natsDir], { stdio: 'ignore' });
    // natsAnswers, not natsUnreachable: under SWITCHYARD_REQUIRE_SERVICES the latter throws at the
    // first look, before the server just spawned is listening
    for (let i = 0; !(await natsAnswers(`127.0.0.1:${natsPort}`)); i++) {
      if (i > 100) throw new Error('the private nats-server did not start');
      await sleep(100);
    }
  };
  await startNats();
  const schema = uniqueName('chaosnats');
  const appName = schema;
  const url =
    `${TEST_DATABASE_URL}${TEST_DATABASE_URL.includes('?') ? '&' : '?'}application_name=${appName}&options=`
    + `${encodeURIComponent(`-c search_path=${schema},public`)}`;
  const db = await createPostgresDb({ url: TEST_DATABASE_URL, schema });
  await migrate(db);
  const sink = await startSmtpSink();
  const env = {
    ...process.env,
    DATABASE_URL: url,
    SWITCHYARD_BUS: 'nats',
    SWITCHYARD_NATS_URL: `nats://127.0.0.1:${natsPort}`,
    SWITCHYARD_NATS_PREFIX: `cn${schema.slice(-10)}`,
    SWITCHYARD_ESP: 'smtp',
    SWITCHYARD_SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    SWITCHYARD_LEASE_MS: '3000',
    SWITCHYARD_SMTP_COMMIT_WINDOW: String(WINDOW),
    SWITCHYARD_TRACKING_SECRET: 'chaos',
    LOG_LEVEL: 'silent',
    SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'chaos-nats-data-')),
  };
  const { DATABASE_URL: _worker, ...parentEnv } = env;
  const app = await createApp(loadConfig({ ...parentEnv, DATABASE_URL: TEST_DATABASE_URL }), {
    db,
    log: pino({ level: 'silent' }),
  });
  const workers: { stage: string; child: ChildProcess; exited: Promise<number | null> }[] = [];
  let passed = false;
  t.after(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    nats?.kill('SIGKILL');
    await app.close().catch(() => undefined);
    await sink.close();
    if (passed) await db.exec(`drop schema ${schema} cascade`);
    await db.close();
  });
  let stderr = '';
  const startWorker = (stage: string): void => {
    const child = spawn(process.execPath, [BIN, 'worker', '--stage', stage], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    workers.push({ stage, child, exited: new Promise((resolve) => child.once('exit', resolve)) });
  };
  for (const stage of STAGES) for (let i = 0; i < 3; i++) startWorker(stage);

  const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: AUDIENCE, seed: 9 } }));
  await app.campaigns.start(c.id);

  // seeded, reproducible: which worker dies at which message count
  const plan = fc.sample(fc.array(fc.nat(8), { minLength: 5, maxLength: 5 }), { numRuns: 1, seed: 20 })[0]!;
  const points = [200, 600, 1000, 1500, 2000];
  const live = () => workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  const reached = async (n: number): Promise<void> => {
    const until = Date.now() + 240_000;
    while (sink.count() < n) {
      if (Date.now() > until) throw new Error(`stuck at ${sink.count()} messages: ${stderr}`);
      await sleep(50);
    }
  };
  let kills = 0;
  for (const [i, point] of points.entries()) {
    await reached(point);
    const alive = live();
    const victim = alive[plan[i]! % alive.length]!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    kills++;
    startWorker(victim.stage);
    if (i === 1) {
      // the broker goes away and comes back on the same port and store
      nats!.kill('SIGTERM');
      await new Promise((r) => nats!.once('exit', r));
      await sleep(500);
      await startNats();
    }
    if (i === 3) {
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      const { rowCount } = await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1',
        [appName],
      );
      await admin.end();
      t.diagnostic(`terminated ${rowCount} worker connection(s)`);
    }
  }
  const until = Date.now() + 300_000;
  while ((await app.campaigns.get(c.id)).status === 'running') {
    if (Date.now() > until) throw new Error(`the campaign did not complete (${sink.count()} received): ${stderr}`);
    await sleep(250);
  }
  assert.equal((await app.campaigns.get(c.id)).status, 'completed');

  const { rows } = await db.query<{ email: string; state: string }>(
    'select email, state from send_ledger where campaign_id = $1',
    [c.id],
  );
  const opened = await app.privacy.openMany(rows.map((r) => r.email));
  rows.forEach((r, i) => {
    r.email = opened[i]!;
  });
  const received = sink.messages().map((m) => m.envelope.rcptTo[0]!.toLowerCase());
  assert.equal(new Set(received).size, received.length, 'nobody received two messages');
  assert.equal(rows.length, AUDIENCE, 'every recipient has a ledger row');
  const byState = (state: string): Set<string> => new Set(rows.filter((r) => r.state === state).map((r) => r.email));
  const sent = byState('sent');
  const unknown = byState('unknown');
  const atServer = new Set(received);
  const missing = [...sent].filter((e) => !atServer.has(e));
  const unrecorded = [...atServer].filter((e) => !sent.has(e) && !unknown.has(e));
  assert.deepEqual({ missing, unrecorded }, { missing: [], unrecorded: [] }, 'the ledger and the SMTP server agree');
  assert.deepEqual(
    [...new Set(rows.map((r) => r.state))].filter((s) => !['sent', 'unknown', 'suppressed'].includes(s)),
    [],
  );
  t.diagnostic(
    `${kills} kills, 1 NATS restart, 1 PostgreSQL disconnect; ${received.length} received, ${sent.size} sent, `
      + `${unknown.size} in doubt (bound ${WINDOW * (kills + 1)})`,
  );
  assert.ok(unknown.size <= WINDOW * (kills + 1), `in doubt bounded by the commit window per kill (${unknown.size})`);
  passed = true;
});
