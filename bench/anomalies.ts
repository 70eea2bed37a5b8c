/**
 * `npm run bench -- anomalies --size N`: one anomaly detector run per granularity over N engagement
 * events and N/4 sends (16 weeks, 200 campaigns in 10 segments) on PostgreSQL (TEST_DATABASE_URL or
 * 127.0.0.1:5432/test, a private schema dropped afterwards). Each run judges one bucket, which reads
 * the whole history window (16 weeks daily, 6 weeks hourly) through the SERIES statement. Baseline in
 * the same run: a bare `count(*)` per day over the same events. Last line: seconds_day, seconds_hour,
 * bare_count_seconds, day_ratio (detector day run ÷ bare count), anomalies.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { createAnomalyService } from '../src/anomalies/service.ts';
import { createPostgresLogBus } from '../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../src/clock/manual.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import type { BenchArgs } from './run.ts';

const DAY = 86_400_000;

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const n = args.size ?? 1_000_000;
  const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_anom_${randomBytes(4).toString('hex')}`;
  const db = await createPostgresDb({ url, schema, maxConnections: 4 });
  const end = Date.parse('2026-06-01T00:00:00Z');
  const start = end - 16 * 7 * DAY;
  try {
    await migrate(db);
    await db.query(
      `insert into campaigns (id, name, status, definition, created_at, updated_at)
       select 'c' || i, 'c' || i, 'running',
              jsonb_build_object('audience', jsonb_build_object('segment', 's' || (i % 10))), $1, $1
       from generate_series(0, 199) i`,
      [new Date(start)],
    );
    await db.query(
      `insert into engagement_events (source_id, type, provider, occurred_at, received_at, campaign_id, contact_id,
                                      is_machine)
       select 'e' || i, (array['opened','clicked','opened','bounced_hard','unsubscribed'])[1 + i % 5], 'bench',
              to_timestamp($2::float8 / 1000 + (i::float8 / $1) * $3::float8 / 1000),
              to_timestamp($2::float8 / 1000 + (i::float8 / $1) * $3::float8 / 1000),
              'c' || (i % 200), 'k' || (i % 100000), i % 17 = 0
       from generate_series(0, $1 - 1) i`,
      [n, start, end - start],
    );
    await db.query(
      `insert into send_ledger (campaign_id, contact_id, email, state, chunk, sent_at, updated_at)
       select 'c' || (i % 200), 'k' || i, 'k' || i || '@example.com', 'sent', 0,
              to_timestamp($2::float8 / 1000 + (i::float8 / $1) * $3::float8 / 1000), now()
       from generate_series(0, $1 - 1) i`,
      [Math.floor(n / 4), start, end - start],
    );
    await db.exec('analyze');
    const clock = createManualClock(new Date(end + 3_600_000));
    const bus = createPostgresLogBus({ db, clock, instanceId: 'bench' });
    const log = pino({ level: 'silent' });
    const messages = { send: async () => ({}) as never };
    const time = async (g: 'day' | 'hour'): Promise<{ seconds: number; stored: number }> => {
      const s = createAnomalyService(
        { db, bus, clock, log, messages },
        {
          granularities: [g],
          settleMs: 0,
          threshold: 5,
          minBaseline: 20,
          recipients: [],
          from: '',
          intervalMs: 60_000,
        },
      );
      const t0 = performance.now();
      const r = await s.runOnce();
      return { seconds: (performance.now() - t0) / 1000, stored: r.stored };
    };
    const day = await time('day');
    const hour = await time('hour');
    const t0 = performance.now();
    await db.query(
      `select date_trunc('day', occurred_at, 'UTC'), count(*) from engagement_events
       where occurred_at >= $1 and occurred_at < $2 group by 1`,
      [new Date(start), new Date(end)],
    );
    const bare = (performance.now() - t0) / 1000;
    await bus.close();
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    return {
      events: n,
      sends: Math.floor(n / 4),
      seconds_day: r3(day.seconds),
      seconds_hour: r3(hour.seconds),
      bare_count_seconds: r3(bare),
      day_ratio: r3(day.seconds / bare),
      anomalies: day.stored + hour.stored,
    };
  } finally {
    await db.exec(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await db.close();
  }
}
