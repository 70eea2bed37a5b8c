/**
 * Child process for test/bus/crash.test.ts: consumes a topic on the real PostgreSQL and applies an
 * idempotent effect per message, printing progress after each message so the parent can SIGKILL
 * it mid-batch. Its clock runs CLOCK_OFFSET_MS ahead, which is how a restarted consumer sees the
 * killed one's leases as expired without anyone sleeping.
 */
import { pino } from 'pino';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createConsumer } from '../../src/bus/consumer.ts';
import { createClock } from './offset-clock.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';

const env = process.env;
const clock = createClock(Number(env.CLOCK_OFFSET_MS ?? 0));
const db = await createPostgresDb({ url: env.TEST_DATABASE_URL!, schema: env.TEST_SCHEMA! });
const bus = createPostgresLogBus({ db, clock });
const topic = env.TEST_TOPIC!;
let handled = 0;
const consumer = createConsumer(
  { bus, clock, log: pino({ level: 'silent' }) },
  { topic, group: 'crashy', batchSize: 50, concurrency: 4, leaseMs: 10_000 },
  async (m) => {
    await db.query('insert into crash_effects (msg_id) values ($1) on conflict do nothing', [m.id]);
    await db.query('insert into crash_runs (msg_id) values ($1)', [m.id]);
    handled++;
    process.stdout.write(`progress ${handled}\n`);
  },
);
for (;;) {
  await consumer.runOnce();
  const d = (await bus.depth()).find((x) => x.topic === topic && x.group === 'crashy');
  if (d !== undefined && d.pending + d.inFlight + d.retrying === 0) break;
}
process.stdout.write('drained\n');
await bus.close();
await db.close();
