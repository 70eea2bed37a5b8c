/**
 * `npm run bench -- journeys [--size 100000] [--store postgres|pglite] [--batch 5000]`: `size`
 * contacts enter a three-step journey (wait one hour, send an email through the sandbox ESP,
 * branch on an attribute) on the manual clock; the dispatcher advances every run (two passes per
 * run: the wait, then the email and the branch), the send stage sends every queued chunk.
 *
 * Figures: `steps_per_s` (step visits the dispatcher made ÷ its wall time), `entries_per_s`,
 * `sends_per_s` (the send stage, in-process), `duplicate_sends` (messages the ESP accepted beyond
 * one per contact, plus ledger rows beyond one per contact: must be 0), and `steps_ratio`: the
 * dispatcher's rate over a baseline measured in the same run, the same runs' bare durable writes
 * (per batch, one set-wise update of the runs and one insert of their history rows, what moving
 * them cannot do without), so a change to the engine is judged apart from the machine's speed that day.
 */
import { pino } from 'pino';
import { createApp } from '../src/app.ts';
import { createConsumer, type Handler } from '../src/bus/consumer.ts';
import { createManualClock } from '../src/clock/manual.ts';
import { loadConfig } from '../src/config.ts';
import { createSandboxEsp, type SandboxEsp } from '../src/connectors/esp/sandbox/adapter.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPgliteDb } from '../src/store/pglite/adapter.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import type { Db } from '../src/store/port.ts';
import type { BenchArgs } from './run.ts';
import { BENCH_GOVERNOR } from './blast-setup.ts';

const HOUR = 3_600_000;

async function openDb(kind: string): Promise<{ db: Db; drop(): Promise<void> }> {
  if (kind === 'pglite') {
    const db = await createPgliteDb({});
    return { db, drop: () => db.close() };
  }
  const url = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_journeys_${process.pid}`;
  const admin = await createPostgresDb({ url });
  await admin.exec(`drop schema if exists ${schema} cascade; create schema ${schema}`);
  const db = await createPostgresDb({ url, schema });
  return {
    db,
    async drop() {
      await db.close();
      await admin.exec(`drop schema if exists ${schema} cascade`);
      await admin.close();
    },
  };
}

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const size = args.size ?? 100_000;
  const batch = Number(args.options.batch ?? 5000);
  const store = args.options.store ?? 'postgres';
  const { db, drop } = await openDb(store);
  await migrate(db);
  const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
  const log = pino({ level: 'silent' });
  let esp: SandboxEsp | undefined;
  const app = await createApp(
    loadConfig({ SWITCHYARD_TRACKING_SECRET: 'bench', SWITCHYARD_JOURNEY_BATCH: String(batch) }),
    {
      db,
      clock,
      log,
      governor: BENCH_GOVERNOR,
      esp: (d) => {
        esp = createSandboxEsp(
          { clock: d.clock, emit: async () => {} },
          {
            outboxLimit: size * 2,
            rates: { delivered: 0, bounce: 0, open: 0, click: 0, unsubscribe: 0, complaint: 0 },
          },
        );
        return esp;
      },
    },
  );
  try {
    await app.journeys.save('bench', {
      name: 'Bench',
      trigger: { type: 'manual' },
      from: { address: 'hello@mail.example.com' },
      postalAddress: '1 Main St, Springfield',
      start: 'wait',
      steps: [
        { id: 'wait', type: 'wait', duration: { hours: 1 }, next: 'mail' },
        {
          id: 'mail',
          type: 'email',
          subject: 'Hello {{ contact.first_name }}',
          template: { text: 'Hi' },
          next: 'plan',
        },
        { id: 'plan', type: 'branch', condition: { attribute: 'plan', equals: 'pro' } },
      ],
    });

    const enterStart = performance.now();
    for (let i = 0; i < size; i += 10_000) {
      const contacts = Array.from({ length: Math.min(10_000, size - i) }, (_, k) => ({
        id: `c${i + k}`,
        email: `c${i + k}@inbox.example.test`,
        attributes: { country: 'US', plan: (i + k) % 3 === 0 ? 'pro' : 'free', first_name: `N${i + k}` },
      }));
      await app.journeys.enter('bench', contacts, { key: 'bench' });
    }
    const enterMs = performance.now() - enterStart;

    // the dispatcher alone: every run's wait, then (an hour later) its email and branch
    let dispatchMs = 0;
    let passes = 0;
    for (const advance of [0, HOUR]) {
      await clock.advance(advance);
      const t0 = performance.now();
      while ((await app.journeyDispatcher.runOnce()) > 0) passes++;
      dispatchMs += performance.now() - t0;
    }
    const {
      rows: [counted],
    } = await db.query<{ steps: number; active: number }>(
      `select (select count(*)::int from journey_steps) as steps,
              (select count(*)::int from journey_runs where status = 'active') as active`,
    );

    // the send stage, in-process, until the ready topic is drained
    const send = app.stages.find((s) => s.name === 'send')!;
    const consumers = send.consumers.map((c) =>
      createConsumer({ bus: app.bus, clock, log }, { maxAttempts: 5, ...c.options }, c.handler as Handler<unknown>),
    );
    const sendStart = performance.now();
    for (;;) {
      let n = 0;
      for (const c of consumers) n += await c.runOnce();
      if (n === 0) break;
    }
    const sendMs = performance.now() - sendStart;
    const accepted = esp!.outbox().map((r) => r.to);
    const {
      rows: [ledger],
    } = await db.query<{ rows: number; contacts: number; sent: number }>(
      `select count(*)::int as rows, count(distinct contact_id)::int as contacts,
              count(*) filter (where state = 'sent')::int as sent from send_ledger`,
    );
    const duplicates = accepted.length - new Set(accepted).size + (ledger!.rows - ledger!.contacts);

    // baseline: the same runs' bare durable writes, batch by batch
    const baseStart = performance.now();
    for (let i = 0; i < size; i += batch) {
      const ids = Array.from({ length: Math.min(batch, size - i) }, (_, k) => `bench:c${i + k}:1`);
      await db.transaction(async (tx) => {
        await tx.query(`update journey_runs r set updated_at = $2 from unnest($1::text[]) as x(id) where r.id = x.id`, [
          ids,
          clock.now(),
        ]);
        await tx.query(
          `insert into journey_steps (run_id, step_id, type, outcome, stream_id, at)
           select x.id, s.step, 'base', 'baseline', null, $2
           from unnest($1::text[]) as x(id), unnest(array['b1', 'b2', 'b3']) as s(step)`,
          [ids, clock.now()],
        );
      });
    }
    const baseMs = performance.now() - baseStart;
    const stepsPerS = (counted!.steps / dispatchMs) * 1000;
    const baselinePerS = ((size * 3) / baseMs) * 1000;
    return {
      store,
      batch,
      passes,
      steps: counted!.steps,
      runs_still_active: counted!.active,
      entries_per_s: Math.round((size / enterMs) * 1000),
      steps_per_s: Math.round(stepsPerS),
      dispatch_s: Math.round(dispatchMs) / 1000,
      sends: accepted.length,
      sent_rows: ledger!.sent,
      sends_per_s: Math.round((accepted.length / sendMs) * 1000),
      duplicate_sends: duplicates,
      baseline_steps_per_s: Math.round(baselinePerS),
      steps_ratio: Math.round((stepsPerS / baselinePerS) * 1000) / 1000,
    };
  } finally {
    await app.close();
    await drop();
  }
}
