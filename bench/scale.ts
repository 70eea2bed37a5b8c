/**
 * Scale-out on NATS: a campaign of `--size` demo recipients (default 200k) on NATS JetStream +
 * PostgreSQL, select and prepare in this process, the send stage in 1 and then 2 worker processes
 * (bench/scale-worker.ts) whose ESP answers each batch after `--latency` ms (default 250), so the
 * work is latency-bound, not CPU-bound. `scale_ratio_2v1` is the 2-worker rate over the 1-worker
 * rate. `nats_ratio` is the bus adapter's publish+consume rate over bare nats.js JetStream
 * publish+consume of the same messages (`--messages`, default size/10, 1 KB each) in the same run.
 */
import { spawn } from 'node:child_process';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { pino } from 'pino';
import { createNatsBus } from '../src/bus/nats/adapter.ts';
import { createApp } from '../src/app.ts';
import { createSystemClock } from '../src/clock/system.ts';
import { loadConfig } from '../src/config.ts';
import { demoCampaign } from '../src/demo/campaign.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import type { BenchArgs } from './run.ts';
import { latencyBoundSandbox, SCALE_GOVERNOR, scaleEnv } from './scale-setup.ts';

const DB_URL = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

async function startWorkers(
  schema: string,
  prefix: string,
  n: number,
  latencyMs: number,
): Promise<() => Promise<void>> {
  const entry = new URL('./scale-worker.ts', import.meta.url).pathname;
  const heap = process.execArgv.filter((a) => a.startsWith('--max-semi-space-size'));
  const children = Array.from({ length: n }, () =>
    spawn(process.execPath, [...heap, '--import', 'tsx', entry, DB_URL, schema, NATS_URL, prefix, String(latencyMs)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          c.once('message', () => resolve());
          c.once('exit', (code) => reject(new Error(`scale worker exited with ${code} before it was ready`)));
        }),
    ),
  );
  return async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
  };
}

async function deleteStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  for await (const name of jsm.streams.names())
    if (name.startsWith(`${prefix.toUpperCase()}_`)) await jsm.streams.delete(name);
  await nc.close();
}

/** One campaign with the send stage in `workers` processes; recipients per second from start to completion. */
async function runCampaign(size: number, workers: number, latencyMs: number): Promise<number> {
  const stamp = `${Date.now()}${workers}`;
  const schema = `bench_scale_${stamp}`;
  const prefix = `bs${stamp.slice(-8)}`;
  const db = await createPostgresDb({ url: DB_URL, schema, maxConnections: 12 });
  await migrate(db);
  const app = await createApp(loadConfig(scaleEnv(NATS_URL, prefix)), {
    db,
    log: pino({ level: 'silent' }),
    esp: latencyBoundSandbox(latencyMs),
    governor: SCALE_GOVERNOR,
  });
  const stop = await startWorkers(schema, prefix, workers, latencyMs);
  try {
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size } }));
    const t0 = performance.now();
    await app.campaigns.start(c.id);
    app.startWorkers(['select', 'prepare']);
    for (;;) {
      const s = await app.campaigns.get(c.id);
      if (s.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (performance.now() - t0) / 1000;
    const { counts } = await app.campaigns.status(c.id);
    if ((await app.campaigns.get(c.id)).status !== 'completed')
      throw new Error(`the ${workers}-worker blast did not complete`);
    // the demo audience's consent and country rules exclude some recipients; the rate counts those sent
    const sent = counts.sent ?? 0;
    console.log(`  ${workers} send worker(s): ${sent} of ${size} recipients sent in ${seconds.toFixed(1)} s`);
    return sent / seconds;
  } finally {
    await stop();
    await app.close();
    await db.exec(`drop schema ${schema} cascade`).catch(() => undefined);
    await db.close();
    await deleteStreams(prefix);
  }
}

const BATCH = 1000;

/** Bare nats.js: the same messages published (windows of BATCH in flight) and consumed with acks. */
async function rawLeg(payloads: string[], prefix: string): Promise<number> {
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const stream = `${prefix.toUpperCase()}_RAW`;
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.raw.>`] });
  await jsm.consumers.add(stream, {
    durable_name: 'g',
    ack_policy: 'explicit' as never,
    filter_subject: `${prefix}.raw.t.*`,
  });
  const t0 = performance.now();
  for (let i = 0; i < payloads.length; i += BATCH) {
    await Promise.all(
      payloads.slice(i, i + BATCH).map((p, j) => {
        const h = headers();
        h.set('Nats-Msg-Id', `t:m${i + j}`);
        return js.publish(`${prefix}.raw.t.m`, p, { headers: h });
      }),
    );
  }
  const consumer = await js.consumers.get(stream, 'g');
  let got = 0;
  while (got < payloads.length) {
    const batch = await consumer.fetch({ max_messages: BATCH, expires: 1000 });
    for await (const m of batch) {
      JSON.parse(m.string());
      m.ack();
      got++;
    }
  }
  await nc.flush();
  const seconds = (performance.now() - t0) / 1000;
  await jsm.streams.delete(stream);
  await nc.close();
  return payloads.length / seconds;
}

/** The bus adapter on the same server: publish in calls of BATCH, fetch and settle batches of BATCH. */
async function adapterLeg(payloads: string[], prefix: string): Promise<number> {
  const schema = `bench_scale_bus_${Date.now()}`;
  const db = await createPostgresDb({ url: DB_URL, schema, maxConnections: 4 });
  await migrate(db);
  const bus = createNatsBus({ db, clock: createSystemClock(), url: NATS_URL }, { prefix });
  const topic = 'bench.t';
  const spec = { topic, group: 'g' };
  try {
    await bus.ensureGroup(spec);
    const t0 = performance.now();
    for (let i = 0; i < payloads.length; i += BATCH) {
      await bus.publish(
        topic,
        payloads.slice(i, i + BATCH).map((p, j) => ({ id: `m${i + j}`, payload: JSON.parse(p) as unknown })),
      );
    }
    let got = 0;
    while (got < payloads.length) {
      const b = await bus.fetch(spec, { max: BATCH, leaseMs: 60_000, maxAttempts: 5 });
      got += b.messages.length;
      await b.settle(b.messages.map(() => ({ kind: 'ack' })));
    }
    return payloads.length / ((performance.now() - t0) / 1000);
  } finally {
    await bus.close();
    await db.exec(`drop schema ${schema} cascade`).catch(() => undefined);
    await db.close();
    await deleteStreams(prefix);
  }
}

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const size = args.size ?? 200_000;
  const latencyMs = Number(args.options.latency ?? 1000);
  const messages = Number(args.options.messages ?? Math.max(1000, Math.round(size / 10)));
  const payloads = Array.from({ length: messages }, (_, i) =>
    JSON.stringify({ seq: i, recipients: Array.from({ length: 10 }, (_, k) => `contact-${i}-${k}@example.com`) }),
  ).map((p) => p.padEnd(1000, ' '));
  const stamp = String(Date.now()).slice(-7);
  const raw = await rawLeg(payloads, `br${stamp}`);
  const adapter = await adapterLeg(payloads, `ba${stamp}`);
  console.log(`  bus: raw nats.js ${Math.round(raw)} msg/s, adapter ${Math.round(adapter)} msg/s`);
  const one = await runCampaign(size, 1, latencyMs);
  const two = await runCampaign(size, 2, latencyMs);
  const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
  return {
    latency_ms: latencyMs,
    one_worker_per_sec: Math.round(one),
    two_workers_per_sec: Math.round(two),
    scale_ratio_2v1: round(two / one),
    bus_messages: messages,
    raw_nats_per_sec: Math.round(raw),
    adapter_per_sec: Math.round(adapter),
    nats_ratio: round(adapter / raw),
  };
}
