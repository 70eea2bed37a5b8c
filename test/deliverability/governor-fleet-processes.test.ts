/**
 * One governor for the whole fleet, with real processes: three send worker processes (the real
 * composition, test/support/fleet-send-worker.ts) on one PostgreSQL send a campaign to a single
 * receiving domain limited to RATE msgs/s, over SMTP into a real local SMTP server. Each process
 * alone would admit RATE; together they must too. The fleet's rate is measured from the times the
 * processes' governors admitted the messages, over the middle 80 % of them, while the processes
 * send side by side (the first and last tenth measure the machine, not the governor: chunks still
 * rendering at the start, and at the end one process left alone on two loaded cores): at most RATE
 * plus one burst over that window, and at least 0.9 × RATE. A per-process governor would show about
 * 3 × RATE there. The server's receive times are printed too but not bounded: on two loaded cores a
 * stall between admission and delivery bunches messages admitted at the rate. More than one process
 * must have done a share of the sending, and the server received every message once.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import type { GovernorOptions } from '../../src/deliverability/governor.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';
import { TEST_DATABASE_URL, uniqueName } from '../support/databases.ts';
import { requirePostgres } from '../support/services.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';

const WORKER = new URL('../support/fleet-send-worker.ts', import.meta.url).pathname;
const RATE = 150;
const AUDIENCE = 3000;
const DOMAIN = 'fleet.example.net';
/** The governor's burst, in seconds of rate. */
const BURST_SECONDS = 1;
const GOVERNOR: GovernorOptions = {
  providers: { smtp: { ratePerSec: 100_000 } },
  receivingGroups: { [DOMAIN]: { initial: RATE, floor: RATE, ceiling: RATE } },
  // the test domain is a reserved one, exempt from receiver rates unless told
  exemptReservedDomains: false,
  // the default 1 s of rate. A smaller one starves a process whose slice takes longer than the
  // burst to hand off (two loaded cores): it can never hold more than a burst's worth
  burstSeconds: BURST_SECONDS,
};

it('three send processes keep one receiving domain at its rate together', { timeout: 180_000 }, async (t) => {
  if ((await requirePostgres(t)) === null) return;
  const schema = uniqueName('fleet');
  const db = await createPostgresDb({ url: TEST_DATABASE_URL, schema });
  await migrate(db);
  const sink = await startSmtpSink({ keepMessages: true });
  const dir = mkdtempSync(join(tmpdir(), 'fleet-'));
  const lines = ['id,email,country,opt_in'];
  for (let i = 0; i < AUDIENCE; i++) lines.push(`c${i},r${i}@${DOMAIN},US,true`);
  writeFileSync(join(dir, 'audience.csv'), `${lines.join('\n')}\n`);
  const env: Record<string, string> = {
    SWITCHYARD_ESP: 'smtp',
    SWITCHYARD_SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    SWITCHYARD_TRACKING_SECRET: 'fleet',
    SWITCHYARD_CSV_DIRS: dir,
    // one data directory for all processes: they share its PII keys
    SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'fleet-data-')),
    SWITCHYARD_DEMO: 'false',
    LOG_LEVEL: 'silent',
  };
  const app = await createApp(loadConfig(env), { db, log: pino({ level: 'silent' }), governor: GOVERNOR });
  const children: ChildProcess[] = [];
  let passed = false;
  t.after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await app.close();
    await sink.close();
    if (passed) await db.exec(`drop schema ${schema} cascade`);
    await db.close();
  });
  for (let i = 0; i < 3; i++) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', WORKER, TEST_DATABASE_URL, schema, JSON.stringify(GOVERNOR)],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    children.push(child);
  }
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          c.once('message', () => resolve());
          c.once('exit', (code) => reject(new Error(`send worker exited (${code}) before it was ready`)));
        }),
    ),
  );

  const c = await app.campaigns.create(
    demoCampaign({
      from: { address: 'news@news.example.com', name: 'Fleet' },
      audience: {
        source: 'csv',
        path: join(dir, 'audience.csv'),
        mapping: { columns: { id: 'id', email: 'email', country: 'country', marketingOptIn: 'opt_in' } },
      },
    }),
  );
  await app.campaigns.start(c.id);
  app.startWorkers(['select', 'prepare']);
  for (;;) {
    if ((await app.campaigns.get(c.id)).status !== 'running') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal((await app.campaigns.get(c.id)).status, 'completed');

  const at = sink
    .messages()
    .map((m) => m.receivedAt)
    .sort((a, b) => a - b);
  assert.equal(at.length, AUDIENCE, 'every recipient received one message');
  const reports = await Promise.all(
    children.map(
      (child) =>
        new Promise<{ attempts: Record<string, number>; admitted: [number, number][] }>((resolve) => {
          child.once('message', (m: { attempts: Record<string, number>; admitted: [number, number][] }) => resolve(m));
          child.send('attempts');
        }),
    ),
  );
  const shares = reports.map((r) => r.attempts[DOMAIN] ?? 0);
  const admittedAt = reports
    .flatMap((r) => r.admitted.flatMap(([time, n]) => Array.from({ length: n }, () => time)))
    .sort((a, b) => a - b);
  const middleRate = (times: number[]) => {
    const [from, to] = [Math.floor(times.length * 0.1), Math.floor(times.length * 0.9)];
    const seconds = (times[to]! - times[from]!) / 1000;
    return { rate: (to - from) / seconds, seconds };
  };
  const perSecond = new Map<number, number>();
  for (const x of at)
    perSecond.set(Math.floor((x - at[0]!) / 1000), (perSecond.get(Math.floor((x - at[0]!) / 1000)) ?? 0) + 1);
  t.diagnostic(`received per second: ${[...perSecond.values()].join(' ')}`);
  const received = middleRate(at);
  const { rate, seconds } = middleRate(admittedAt);
  t.diagnostic(
    `fleet admitted ${rate.toFixed(1)} msgs/s for ${RATE} over the middle ${seconds.toFixed(1)} s; the server `
      + `received ${received.rate.toFixed(1)} msgs/s over its middle ${received.seconds.toFixed(1)} s; `
      + `shares ${shares}`,
  );
  // a token bucket admits at most rate × time plus one burst (1 s of rate) in any window: a stall
  // on two loaded cores lets the burst fill, and it drains on top of the rate when sending resumes
  const bound = RATE * (1 + BURST_SECONDS / seconds);
  assert.ok(
    rate <= bound,
    `the fleet admitted ${rate.toFixed(1)} msgs/s, above ${bound.toFixed(1)} (rate plus one burst)`,
  );
  assert.ok(rate >= 0.9 * RATE, `the fleet admitted ${rate.toFixed(1)} msgs/s, below 0.9 × ${RATE}`);
  assert.ok(shares.filter((n) => n > 0).length >= 2, `more than one process sent (${shares})`);
  assert.equal(
    shares.reduce((a, b) => a + b, 0),
    AUDIENCE,
  );
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  passed = true;
});
