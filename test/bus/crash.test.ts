/**
 * A consumer is SIGKILLed mid-batch three times; restarted consumers finish the topic. Every
 * message must take effect exactly once (idempotent effect table) and none may be lost, while
 * the raw run log shows that some messages really were delivered more than once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createClock } from '../support/offset-clock.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';
import { migrate } from '../../src/store/migrate.ts';
import { TEST_DATABASE_URL, postgresUnreachable, servicesRequired, uniqueName } from '../support/databases.ts';

const CHILD = fileURLToPath(new URL('../support/crash-consumer.ts', import.meta.url));
const TOTAL = 3000;
const LEASE_MS = 10_000;

function startChild(env: Record<string, string>): {
  child: ChildProcess;
  progress(atLeast: number): Promise<void>;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  let count = 0;
  let waiter: { n: number; resolve: () => void } | undefined;
  lines.on('line', (line) => {
    const m = /^progress (\d+)$/.exec(line);
    if (m) count = Number(m[1]);
    if (waiter && count >= waiter.n) {
      waiter.resolve();
      waiter = undefined;
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    progress: (n) =>
      new Promise<void>((resolve, reject) => {
        if (count >= n) return resolve();
        waiter = { n, resolve };
        void exited.then(() => reject(new Error(`child exited after ${count} messages, before ${n}`)));
      }),
  };
}

describe('consumer crash (SIGKILL) on PostgreSQL', async () => {
  const reason = await postgresUnreachable();
  if (reason !== null && servicesRequired) throw new Error(reason);

  it('every message takes effect exactly once after three SIGKILLs mid-batch', {
    skip: reason ?? undefined,
    timeout: 120_000,
  }, async () => {
    const schema = uniqueName('crash');
    const db = await createPostgresDb({ url: TEST_DATABASE_URL, schema });
    await migrate(db);
    await db.exec(
      'create table crash_effects (msg_id text primary key); create table crash_runs (msg_id text not null)',
    );
    const topic = 'crash.test';
    const bus = createPostgresLogBus({ db, clock: createClock(0) });
    await bus.ensureGroup({ topic, group: 'crashy' });
    for (let i = 0; i < TOTAL; i += 500) {
      await bus.publish(
        topic,
        Array.from({ length: 500 }, (_, j) => ({ id: `msg-${i + j}`, payload: { n: i + j } })),
      );
    }
    const env = { TEST_DATABASE_URL, TEST_SCHEMA: schema, TEST_TOPIC: topic };
    const killPoints = [317, 233, 541]; // messages handled by each child before it is killed
    for (const [k, point] of killPoints.entries()) {
      const c = startChild({ ...env, CLOCK_OFFSET_MS: String(k * (LEASE_MS + 1000)) });
      await c.progress(point);
      c.child.kill('SIGKILL');
      await c.exited;
    }
    const last = startChild({ ...env, CLOCK_OFFSET_MS: String(killPoints.length * (LEASE_MS + 1000)) });
    assert.equal(await last.exited, 0);

    const {
      rows: [effects],
    } = await db.query<{ n: number; lo: string; hi: string }>('select count(*)::int as n from crash_effects');
    const {
      rows: [runs],
    } = await db.query<{ n: number; distinct_n: number }>(
      'select count(*)::int as n, count(distinct msg_id)::int as distinct_n from crash_runs',
    );
    assert.equal(effects!.n, TOTAL, 'every message took effect');
    assert.equal(runs!.distinct_n, TOTAL, 'no message was lost');
    assert.ok(runs!.n > TOTAL, `some messages were redelivered after a kill (runs ${runs!.n})`);
    assert.equal(await bus.deadLetters.count(), 0);
    await bus.close();
    await db.exec(`drop schema ${schema} cascade`);
    await db.close();
  });
});
