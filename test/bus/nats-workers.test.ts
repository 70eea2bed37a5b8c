/**
 * `switchyard worker --stage clicks` as real processes on NATS JetStream + PostgreSQL: two workers
 * compete for one consumer group and together turn every reaction batch into its link.clicked
 * announcements, each exactly once; SIGTERM stops both cleanly (exit 0) with nothing left in flight.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNatsBus } from '../../src/bus/nats/adapter.ts';
import { type LinkClicksPayload, TOPICS, type StoredEvent } from '../../src/bus/topics.ts';
import { createSystemClock } from '../../src/clock/system.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';
import { migrate } from '../../src/store/migrate.ts';
import { TEST_DATABASE_URL, uniqueName } from '../support/databases.ts';
import { NATS_TEST_URL, natsUnreachable } from '../support/nats.ts';
import { requirePostgres } from '../support/services.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;

function startWorker(env: NodeJS.ProcessEnv): { ready: Promise<void>; stop(): Promise<number | null>; out(): string } {
  const child = spawn(process.execPath, [BIN, 'worker', '--stage', 'clicks'], { env: { ...process.env, ...env } });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('worker running')) resolve();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    void exited.then((code) => reject(new Error(`worker exited with ${code}: ${out}`)));
  });
  return {
    ready,
    out: () => out,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
  };
}

function click(batch: number, n: number): StoredEvent {
  return {
    sourceId: `src-${batch}-${n}`,
    type: 'clicked',
    provider: 'sendgrid',
    occurredAt: '2026-12-07T12:00:00.000Z',
    email: null,
    messageId: null,
    campaignId: 'cmp_1',
    contactId: `c${n}`,
    isMachine: false,
    reason: null,
    url: `https://shop.example.com/sale/${batch}?utm_campaign=winter`,
  };
}

it('two clicks workers on NATS share the group: every announcement once, clean SIGTERM', async (t) => {
  const reason = await natsUnreachable(NATS_TEST_URL);
  if (reason !== null) return t.skip(reason);
  if ((await requirePostgres(t)) === null) return;
  const dbName = uniqueName('nw');
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const url = TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${dbName}`);
  const prefix = uniqueName('w').replaceAll('_', '');
  const db = await createPostgresDb({ url });
  await migrate(db);
  const bus = createNatsBus({ db, clock: createSystemClock(), url: NATS_TEST_URL }, { prefix });
  const env = {
    SWITCHYARD_BUS: 'nats',
    SWITCHYARD_NATS_URL: `nats://${NATS_TEST_URL.replace(/^nats:\/\//, '')}`,
    SWITCHYARD_NATS_PREFIX: prefix,
    DATABASE_URL: url,
    SWITCHYARD_DEMO: 'false',
    LOG_LEVEL: 'warn',
  };
  const workers = [startWorker(env), startWorker(env)];
  t.after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await bus.close();
    await db.close();
    await admin.query(`drop database if exists ${dbName}`);
    await admin.end();
    const nc = await connect({ servers: NATS_TEST_URL });
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names())
      if (name.startsWith(`${prefix.toUpperCase()}_`)) await jsm.streams.delete(name);
    await nc.close();
  });
  const out = { topic: TOPICS.linkClicked, group: 'observer' };
  await bus.ensureGroup(out);
  await Promise.all(workers.map((w) => w.ready));
  const batches = 40;
  await bus.publish(
    TOPICS.reactions,
    Array.from({ length: batches }, (_, b) => ({
      id: `batch-${b}`,
      payload: { events: Array.from({ length: 5 }, (_, n) => click(b, n)) },
    })),
  );
  const seen: string[] = [];
  while (seen.length < batches * 5) {
    const got = await bus.fetch(out, { max: 100, leaseMs: 60_000, maxAttempts: 3 });
    // one chunk per reaction batch, carrying its clicks
    seen.push(...got.messages.flatMap((m) => (m.payload as LinkClicksPayload).clicks.map((c) => c.sourceId)));
    await got.settle(got.messages.map(() => ({ kind: 'ack' })));
    if (got.messages.length === 0) await bus.waitForMessages(out.topic, 5_000);
  }
  assert.equal(new Set(seen).size, batches * 5, 'every click announced');
  assert.equal(seen.length, batches * 5, 'and none twice');
  assert.deepEqual(await Promise.all(workers.map((w) => w.stop())), [0, 0]);
  const clicks = (await bus.depth()).find((d) => d.topic === TOPICS.reactions && d.group === 'clicks');
  assert.deepEqual({ pending: clicks?.pending, inFlight: clicks?.inFlight }, { pending: 0, inFlight: 0 });
  assert.ok(workers.every((w) => /worker stopping/.test(w.out())));
});
