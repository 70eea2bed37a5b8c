/**
 * Bus throughput on PostgreSQL: postgres-log publish and consume rates, each divided by a bare
 * batched `INSERT … SELECT unnest(…)` of the same payloads into a plain table on the same server
 * in the same run. Uses DATABASE_URL (default the local test server) and a private schema.
 */
import { pino } from 'pino';
import { createPostgresLogBus } from '../src/bus/postgres-log/adapter.ts';
import { createConsumer } from '../src/bus/consumer.ts';
import { createSystemClock } from '../src/clock/system.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import type { BenchArgs } from './run.ts';

const BATCH = 1000;

function payload(i: number): {
  campaignId: string;
  chunk: number;
  contactId: string;
  email: string;
  fields: Record<string, unknown>;
} {
  return {
    campaignId: 'c-bench',
    chunk: i >> 10,
    contactId: `ct-${i}`,
    email: `user${i}@example.com`,
    fields: { firstName: 'Ada', tz: 'Europe/Berlin', plan: 'pro' },
  };
}

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const size = args.size ?? 200_000;
  const url = args.options.url ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_bus_${Date.now()}`;
  const db = await createPostgresDb({ url, schema, maxConnections: 4 });
  const clock = createSystemClock();
  try {
    await migrate(db);
    await db.exec(
      `create table bench_baseline (seq bigserial primary key, topic text not null, msg_id text not null,
        payload jsonb not null)`,
    );
    const batches = Array.from({ length: Math.ceil(size / BATCH) }, (_, b) =>
      Array.from({ length: Math.min(BATCH, size - b * BATCH) }, (_, j) => {
        const i = b * BATCH + j;
        return { id: `m-${i}`, payload: payload(i) };
      }),
    );

    let t = performance.now();
    for (const batch of batches) {
      await db.query(
        'insert into bench_baseline (topic, msg_id, payload) select $1, * from unnest($2::text[], $3::jsonb[])',
        ['bench', batch.map((m) => m.id), batch.map((m) => JSON.stringify(m.payload))],
      );
    }
    const baselinePerS = size / ((performance.now() - t) / 1000);

    const bus = createPostgresLogBus({ db, clock });
    await bus.ensureGroup({ topic: 'bench', group: 'g' });
    t = performance.now();
    for (const batch of batches) await bus.publish('bench', batch);
    const publishPerS = size / ((performance.now() - t) / 1000);

    let handled = 0;
    const consumer = createConsumer(
      { bus, clock, log: pino({ level: 'silent' }) },
      { topic: 'bench', group: 'g', batchSize: BATCH, concurrency: 1 },
      async () => {
        handled++;
      },
    );
    t = performance.now();
    while ((await consumer.runOnce()) > 0);
    const consumePerS = handled / ((performance.now() - t) / 1000);
    await bus.close();
    if (handled !== size) throw new Error(`consumed ${handled} of ${size}`);

    const round = (x: number): number => Math.round(x);
    console.log(`baseline unnest insert: ${round(baselinePerS)} rows/s`);
    console.log(
      `postgres-log publish:   ${round(publishPerS)} msg/s  ratio ${(publishPerS / baselinePerS).toFixed(2)}`,
    );
    console.log(
      `postgres-log consume:   ${round(consumePerS)} msg/s  ratio ${(consumePerS / baselinePerS).toFixed(2)}`,
    );
    return {
      baseline_rows_per_s: round(baselinePerS),
      publish_per_s: round(publishPerS),
      consume_per_s: round(consumePerS),
      publish_ratio: Number((publishPerS / baselinePerS).toFixed(2)),
      consume_ratio: Number((consumePerS / baselinePerS).toFixed(2)),
    };
  } finally {
    await db.exec(`drop schema ${schema} cascade`).catch(() => undefined);
    await db.close();
  }
}
