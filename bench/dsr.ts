/**
 * `npm run bench -- dsr --size 10000`: that many verified erasure requests fanned out to five
 * sinks over local HTTP servers in their vendors' wire formats with realistic latency (HubSpot GDPR
 * delete, SendGrid global suppressions, Stripe customers, the signed compliance webhook, each
 * 20–80 ms per call; the PostgreSQL warehouse with a configured delete) plus our own store, with
 * the runner as `switchyard start` runs it. Before, each subject is seeded across our store (consent
 * records, sends, events, bus messages, dead letters); after, every table, the bus log, dead
 * letters and the captured log output are scanned for the subjects' addresses and names.
 * Last line: requests_per_s, p99_complete_s, plaintext_hits (must be 0), exceptions (0 when healthy).
 * Options: --latency-ms N (mean per call, default 50), --concurrency N (runner, default 256).
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { createSystemClock } from '../src/clock/system.ts';
import { createConsentLedger } from '../src/compliance/consent/ledger.ts';
import { createSubjectKeys } from '../src/compliance/consent/subject-keys.ts';
import { createOwnStoreEraser, ownStoreSystem } from '../src/compliance/dsr/own-store.ts';
import type { DsrSystem } from '../src/compliance/dsr/port.ts';
import { createDsrRunner, DEFAULT_RUNNER_OPTIONS } from '../src/compliance/dsr/runner.ts';
import { createDsrService } from '../src/compliance/dsr/service.ts';
import {
  billingSystem,
  complianceSystem,
  crmSystem,
  espSystem,
  warehouseSystem,
} from '../src/compliance/dsr/systems.ts';
import { createStripeCustomers } from '../src/connectors/billing/stripe/customers.ts';
import { createWebhookComplianceSystem } from '../src/connectors/compliance/webhook/adapter.ts';
import { createHubspotCrm } from '../src/connectors/crm/hubspot/adapter.ts';
import { budgetBucket, createSharedRateLimiter } from '../src/connectors/crm/shared-rate-limit.ts';
import { createSendGridSuppressionSink } from '../src/connectors/esp/sendgrid/suppression-sink.ts';
import { createPostgresWarehouseEraser } from '../src/connectors/warehouse/postgres/erase.ts';
import { createLocalMasterKeys } from '../src/privacy/local-keys.ts';
import { createPrivacy } from '../src/privacy/service.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPgliteDb } from '../src/store/pglite/adapter.ts';
import type { Db } from '../src/store/port.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import { startHubspotServer } from '../test/connectors/crm/hubspot-server.ts';
import { startFakeComplianceSink } from '../test/support/fake-compliance-sink.ts';
import { startFakeSendGridSuppressions } from '../test/support/fake-esp-suppressions.ts';
import { startFakeStripe } from '../test/support/fake-stripe.ts';
import type { BenchArgs } from './run.ts';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function pgReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const size = args.size ?? 10_000;
  const mean = Number(args.options['latency-ms'] ?? 50);
  const concurrency = Number(args.options.concurrency ?? 256);
  const latency = () => sleep(mean * (0.4 + Math.random() * 1.2));
  const slow: typeof fetch = async (input, init) => {
    await latency();
    return fetch(input, init);
  };
  const clock = createSystemClock();
  const logLines: string[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    }),
  );
  const usePg = await pgReachable();
  const schema = `dsr_bench_${randomBytes(4).toString('hex')}`;
  const db: Db = usePg ? await createPostgresDb({ url: PG_URL, schema, maxConnections: 8 }) : await createPgliteDb({});
  await migrate(db);

  // the people: a unique name token per subject, so a trace of the name is findable. The token
  // holds '#', which no sealed value (base64url) can: `Zq<digits>x` alone matched ciphertext by
  // chance about once per 10 000 sealed payloads
  const people = Array.from({ length: size }, (_, i) => ({
    email: `subject${i}.${randomBytes(3).toString('hex')}@bench.example.com`,
    name: `Zq#${i}#x Person`,
  }));
  const hubspot = await startHubspotServer(() => Date.now());
  const stripe = await startFakeStripe();
  const sendgrid = await startFakeSendGridSuppressions();
  const sink = await startFakeComplianceSink();
  for (const [i, p] of people.entries()) {
    hubspot.addContact({ email: p.email, firstname: p.name });
    if (i % 2 === 0) stripe.addCustomer(p.email, p.name, i % 4 === 0);
  }
  let warehouse: DsrSystem | undefined;
  const whSchema = `${schema}_wh`;
  if (usePg) {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`create schema ${whSchema}; create table ${whSchema}.contacts (email text, name text)`);
    await c.query(`insert into ${whSchema}.contacts select * from unnest($1::text[], $2::text[])`, [
      people.map((p) => p.email),
      people.map((p) => p.name),
    ]);
    await c.end();
    warehouse = warehouseSystem(
      createPostgresWarehouseEraser({
        url: PG_URL,
        statements: [`delete from ${whSchema}.contacts where email = any($1)`],
      }),
    );
  }

  const privacy = createPrivacy(
    { db, clock, keys: createLocalMasterKeys([randomBytes(32)]), indexKey: randomBytes(32) },
    { cacheSize: 100_000 },
  );
  const keys = createSubjectKeys('bench-secret', (e) => privacy.blindIndex(e).toString('hex'));
  // seed our own store: consent records, sends, events, a bus message and a dead letter per subject
  const consent = createConsentLedger({ db, clock, log, keys });
  const now = clock.now();
  for (let i = 0; i < size; i += 500) {
    const part = people.slice(i, i + 500);
    await db.transaction(async (tx) => {
      for (const p of part)
        await consent.recordIn(tx, {
          email: p.email,
          topic: 'news',
          channel: 'email',
          basis: 'express',
          action: 'grant',
          source: 'bench',
          actor: 'end_user',
          ip: '203.0.113.7',
        });
    });
    const rows = part.map((p, j) => ({ id: `c${i + j}`, email: p.email, name: p.name }));
    await db.query(
      `insert into send_ledger (campaign_id, contact_id, email, state, chunk, updated_at)
       select 'cmp_bench', x.id, x.email, 'sent', 0, $2 from jsonb_to_recordset($1::jsonb) as x(id text, email text)`,
      [JSON.stringify(rows), now],
    );
    await db.query(
      `insert into engagement_events (source_id, type, provider, occurred_at, received_at, email, contact_id, raw)
       select 'ev-' || x.id, 'open', 'sandbox', $2, $2, x.email, x.id, jsonb_build_object('name', x.name)
       from jsonb_to_recordset($1::jsonb) as x(id text, email text, name text)`,
      [JSON.stringify(rows), now],
    );
    // bus payloads carry personal data sealed per subject, as the privacy module writes them
    const sealed = await privacy.sealMany(rows.map((r) => ({ email: r.email, value: JSON.stringify(r) })));
    await db.query(
      `insert into bus_messages (topic, msg_id, msg_key, payload, published_at)
       select 'bench.seed', 'm-' || x.id, x.id, json_build_object('pii', x.sealed)::text, $2
       from jsonb_to_recordset($1::jsonb) as x(id text, sealed text)`,
      [JSON.stringify(rows.map((r, j) => ({ id: r.id, sealed: sealed[j] }))), now],
    );
  }
  await db.query(
    `insert into dead_letters (stage, topic, seq, msg_id, payload, code, message, attempts,
       first_failed_at, last_failed_at)
     values ('bench', 'bench.seed', 0, 'dl-0', $1, 'BENCH', 'seeded', 1, $2, $2)`,
    [JSON.stringify({ pii: await privacy.sealFor(people[0]!.email, JSON.stringify(people[0])) }), now],
  );

  const bucket = budgetBucket(`hubspot:${schema}`, 1_000_000, 10_000);
  const crm = createHubspotCrm(
    { db, clock, limiter: createSharedRateLimiter({ db, clock }, bucket) },
    { token: hubspot.token, baseUrl: hubspot.baseUrl, rateLimit: { requests: 1_000_000, perMs: 10_000 }, fetch: slow },
  );
  const systems: DsrSystem[] = [
    crmSystem(crm),
    espSystem(
      'sendgrid',
      createSendGridSuppressionSink({ clock, fetch: slow }, { apiKey: 'SG.fake-key', baseUrl: sendgrid.baseUrl }),
    ),
    billingSystem(createStripeCustomers({ secretKey: stripe.secretKey, baseUrl: stripe.baseUrl, fetch: slow })),
    complianceSystem(createWebhookComplianceSystem({ clock, fetch: slow }, { url: sink.url, secret: sink.secret })),
    ...(warehouse ? [warehouse] : []),
    ownStoreSystem(createOwnStoreEraser({ db, clock, shred: (e) => privacy.shred(e, 'erased') }), { db, clock }),
  ];
  let n = 0;
  // intake arrives through the API process, whose pool is not the worker's: its own connections
  const intakeDb: Db = usePg ? await createPostgresDb({ url: PG_URL, schema, maxConnections: 4 }) : db;
  const service = createDsrService(
    {
      db: intakeDb,
      clock,
      log,
      keys,
      newId: () => `dsr_${String(++n).padStart(6, '0')}`,
      sendMail: async () => undefined,
      systems: systems.map((s) => s.name),
    },
    { publicUrl: 'http://127.0.0.1', verifyTtlMs: 86_400_000 },
  );
  const runner = createDsrRunner(
    { db, clock, log, systems, callbackSecret: 'x', postJson: async () => 200 },
    { ...DEFAULT_RUNNER_OPTIONS, concurrency, batchSize: Math.max(500, concurrency * 2), pollMs: 100 },
  );

  const started = Date.now();
  const stop = new AbortController();
  const running = runner.run(stop.signal);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < people.length) {
        const p = people[next++]!;
        await service.submit({
          type: 'erasure',
          identities: [
            { type: 'email', value: p.email },
            { type: 'name', value: p.name },
          ],
          jurisdiction: 'gdpr',
          channel: 'api',
          identityVerified: true,
        });
      }
    }),
  );
  const submitS = (Date.now() - started) / 1000;
  for (;;) {
    const { rows } = await db.query<{ n: number }>(
      `select count(*)::int as n from dsr_requests where status = 'completed'`,
    );
    const ex = await db.query<{ n: number }>('select count(*)::int as n from dsr_exceptions where resolved_at is null');
    if (rows[0]!.n >= size || (ex.rows[0]!.n > 0 && rows[0]!.n + ex.rows[0]!.n >= size)) break;
    if (Date.now() - started > 30 * 60_000) break;
    await sleep(250);
  }
  const elapsed = (Date.now() - started) / 1000;
  stop.abort();
  await running;

  const durations = (
    await db.query<{ s: number }>(
      `select extract(epoch from completed_at - received_at)::float8 as s from dsr_requests where status = 'completed'`,
    )
  ).rows
    .map((r) => Number(r.s))
    .sort((a, b) => a - b);
  const p99 = durations[Math.min(durations.length - 1, Math.floor(durations.length * 0.99))] ?? null;
  const exceptions = Number(
    (await db.query<{ n: number }>('select count(*)::int as n from dsr_exceptions')).rows[0]!.n,
  );

  // the scan: every table of our store (rows as text), the bus log and dead letters among them, and the log output
  const emails = new Set(people.map((p) => p.email));
  const nameToken = /Zq#\d+#x/g;
  const emailToken = /[A-Za-z0-9._+-]+@bench\.example\.com/g;
  let hits = 0;
  const hitTables = new Map<string, number>();
  const scanText = (where: string, text: string) => {
    let k = 0;
    for (const m of text.matchAll(emailToken)) if (emails.has(m[0])) k += 1;
    k += [...text.matchAll(nameToken)].length;
    if (k > 0) hitTables.set(where, (hitTables.get(where) ?? 0) + k);
    hits += k;
  };
  const tables = (
    await db.query<{ t: string }>(
      `select table_name as t from information_schema.tables
       where table_schema = current_schema() and table_type = 'BASE TABLE'`,
    )
  ).rows.map((r) => r.t);
  for (const t of tables) {
    const { rows } = await db.query<{ r: string }>(`select x::text as r from "${t}" x`);
    for (const r of rows) scanText(t, r.r);
  }
  scanText('log output', logLines.join(''));

  await Promise.all([hubspot.close(), stripe.close(), sendgrid.close(), sink.close()]);
  if (intakeDb !== db) await intakeDb.close();
  if (usePg) {
    await db.exec(`drop schema if exists ${schema} cascade; drop schema if exists ${whSchema} cascade`);
  }
  await db.close();
  return {
    store: usePg ? 'postgres' : 'pglite',
    sinks: systems.map((s) => s.name),
    latency_ms_mean: mean,
    completed: durations.length,
    elapsed_s: Number(elapsed.toFixed(1)),
    submit_s: Number(submitS.toFixed(1)),
    requests_per_s: Number((durations.length / elapsed).toFixed(1)),
    p99_complete_s: p99 === null ? null : Number(p99.toFixed(2)),
    plaintext_hits: hits,
    ...(hits > 0 ? { plaintext_tables: Object.fromEntries(hitTables) } : {}),
    exceptions,
  };
}
