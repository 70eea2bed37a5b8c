/**
 * The dashboard under load: a blast of `--size` recipients (default 1M) from the demo warehouse
 * through every stage into the silent sandbox ESP on PostgreSQL (DATABASE_URL or the local test
 * server, a private schema per leg), run in legs in one process (`--order`, default off,on,on,off):
 * off with no listener open (no dashboard, no sampler), on with the admin listener open and a
 * logged-in dashboard session
 * polling the System page's data request (GET /v1/dashboard/system) every `--poll-ms` (default
 * 1000, twice the page's rate). Reports that request's latency (p50, p99, max, over real HTTP)
 * and `recipients_ratio`: the blast's recipients/s with the dashboard divided by without.
 * As `npm run bench -- blast` deploys it, the send stage runs in `--send-workers` child processes
 * (bench/blast-worker.ts, default one per core; 0 runs it here) and this process runs select,
 * prepare and, in the `on` legs, the admin listener.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { pino } from 'pino';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { demoCampaign } from '../src/demo/campaign.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import { BENCH_ENV, BENCH_GOVERNOR, silentSandbox } from './blast-setup.ts';
import type { BenchArgs } from './run.ts';

interface Leg {
  seconds: number;
  perS: number;
  latenciesMs: number[];
}

/** Send-stage processes on the leg's schema; resolves once each is consuming, with their stop. */
async function startSendWorkers(url: string, schema: string, n: number): Promise<() => Promise<void>> {
  const entry = new URL('./blast-worker.ts', import.meta.url).pathname;
  const heap = process.execArgv.filter((a) => a.startsWith('--max-semi-space-size'));
  const children = Array.from({ length: n }, () =>
    spawn(process.execPath, [...heap, '--import', 'tsx', entry, url, schema], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  );
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          child.once('message', () => resolve());
          child.once('exit', (code) => reject(new Error(`send worker exited with ${code} before it was ready`)));
        }),
    ),
  );
  return async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
  };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

async function blast(
  url: string,
  size: number,
  sendWorkers: number,
  dashboard: { pollMs: number } | null,
): Promise<Leg> {
  const schema = `bench_dashboard_${dashboard === null ? 'off' : 'on'}_${Date.now()}`;
  const db = await createPostgresDb({ url, schema, maxConnections: 12 });
  await migrate(db);
  const app = await createApp(
    loadConfig({ ...BENCH_ENV, PORT: '0', SWITCHYARD_ADMIN_PORT: '0', SWITCHYARD_INBOUND_SMTP_PORT: '0' }),
    { db, log: pino({ level: 'silent' }), esp: silentSandbox, governor: BENCH_GOVERNOR },
  );
  const stopWorkers = sendWorkers > 0 ? await startSendWorkers(url, schema, sendWorkers) : undefined;
  const latenciesMs: number[] = [];
  let polling: Promise<void> | undefined;
  let done = false;
  try {
    if (dashboard !== null) {
      const { adminUrl } = await app.listen();
      const { key } = await app.keys.create({ name: 'bench-dashboard', role: 'analyst' }, { by: 'bench' });
      const login = await fetch(`${adminUrl}/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key }),
      });
      const cookie = String(login.headers.get('set-cookie')).split(';')[0]!;
      polling = (async () => {
        while (!done) {
          const t0 = performance.now();
          const res = await fetch(`${adminUrl}/v1/dashboard/system`, { headers: { cookie } });
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`GET /v1/dashboard/system: ${res.status}`);
          const ms = performance.now() - t0;
          latenciesMs.push(ms);
          await new Promise((r) => setTimeout(r, Math.max(0, dashboard.pollMs - ms)));
        }
      })();
    }
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size } }));
    const t0 = performance.now();
    await app.campaigns.start(c.id);
    app.startWorkers(stopWorkers === undefined ? ['select', 'prepare', 'send'] : ['select', 'prepare']);
    for (;;) {
      const s = await app.campaigns.get(c.id);
      if (s.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (performance.now() - t0) / 1000;
    if ((await app.campaigns.get(c.id)).status !== 'completed') throw new Error('the blast did not complete');
    return { seconds, perS: size / seconds, latenciesMs };
  } finally {
    done = true;
    await polling;
    await stopWorkers?.();
    await app.close();
    await db.exec(`drop schema ${schema} cascade`).catch(() => undefined);
    await db.close();
  }
}

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const size = args.size ?? 1_000_000;
  const pollMs = Number(args.options['poll-ms'] ?? 1000);
  const url = args.options.url ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const sendWorkers = Number(args.options['send-workers'] ?? availableParallelism());
  // legs in ABBA order by default, so a host that drifts (or warms up) during the run weighs on
  // both sides alike; the ratio is total time without ÷ total time with
  const order = String(args.options.order ?? 'off,on,on,off').split(',');
  if (order.some((o) => o !== 'on' && o !== 'off') || !order.includes('on') || !order.includes('off')) {
    throw new Error('--order is a comma-separated list of on/off with at least one of each');
  }
  const legs: { on: boolean; leg: Leg }[] = [];
  for (const o of order) {
    const leg = await blast(url, size, sendWorkers, o === 'on' ? { pollMs } : null);
    legs.push({ on: o === 'on', leg });
    console.log(
      `${o === 'on' ? 'with' : 'without'} dashboard: ${size} recipients in ${leg.seconds.toFixed(1)} s = `
        + `${Math.round(leg.perS)}/s${o === 'on' ? `, ${leg.latenciesMs.length} System requests` : ''}`,
    );
  }
  const side = (on: boolean) => legs.filter((l) => l.on === on).map((l) => l.leg);
  const rate = (ls: Leg[]) => (size * ls.length) / ls.reduce((n, l) => n + l.seconds, 0);
  const sorted = side(true)
    .flatMap((l) => l.latenciesMs)
    .sort((a, b) => a - b);
  const round = (n: number): number => Math.round(n * 10) / 10;
  console.log(
    `System requests: ${sorted.length}, p50 ${round(quantile(sorted, 0.5))} ms, `
      + `p99 ${round(quantile(sorted, 0.99))} ms`,
  );
  return {
    requests: sorted.length,
    p50_ms: round(quantile(sorted, 0.5)),
    p99_ms: round(quantile(sorted, 0.99)),
    max_ms: round(sorted.at(-1) ?? Number.NaN),
    recipients_per_s_without: Math.round(rate(side(false))),
    recipients_per_s_with: Math.round(rate(side(true))),
    recipients_ratio: Number((rate(side(true)) / rate(side(false))).toFixed(3)),
    legs: legs.map((l) => `${l.on ? 'on' : 'off'}:${Math.round(l.leg.perS)}`).join(','),
    poll_ms: pollMs,
    send_workers: sendWorkers,
  };
}
