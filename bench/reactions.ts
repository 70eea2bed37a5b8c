/**
 * Reaction ingest over HTTP: signed SendGrid Event Webhook batches (100 events per request,
 * unique sg_event_id each, delivered/open/click/unsubscribe for contacts of a pre-seeded send
 * ledger) driven by autocannon on loopback into the real app (PostgreSQL, private schema dropped
 * at the end, every stage running in this process as `npm start` does). The load generator runs
 * in a child process (this file with `--load`), so building and signing bodies does not steal
 * the server's event loop. Every 20th request redelivers an already acknowledged body.
 *
 * Figures: events_per_s accepted; p50/p99 of event → effect (when the poller first saw the
 * engagement_events row minus the send time the generator recorded for the request);
 * unsubscribe_effective_ms (p99 of send → suppressions row); lost (acknowledged events with no
 * row); duplicated (accepted more than once); ratio to a bare Fastify endpoint that only parses
 * the same payloads (JSON.parse + count), same autocannon settings, same run.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// @ts-expect-error autocannon ships no type declarations; the slice used here is typed below
import autocannonUntyped from 'autocannon';
import Fastify from 'fastify';
import { pino } from 'pino';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createSandboxEsp } from '../src/connectors/esp/sandbox/adapter.ts';
import { mulberry32 } from '../src/connectors/esp/sandbox/prng.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import type { Db } from '../src/store/port.ts';
import type { StageDefinition } from '../src/bus/stage.ts';
import type { BenchArgs } from './run.ts';

interface AutocannonRequest {
  method: string;
  path: string;
  setupRequest(req: Record<string, unknown>, context: Record<string, unknown>): Record<string, unknown>;
  onResponse(status: number, body: string, context: Record<string, unknown>): void;
}
interface AutocannonResult {
  duration: number;
  requests: { total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
const autocannon = autocannonUntyped as (options: {
  url: string;
  connections: number;
  duration: number;
  pipelining: number;
  timeout: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;

const CAMPAIGN = 'cmp_bench_reactions';
const PATH = '/webhooks/sendgrid';
const UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 '
  + 'Safari/605.1.15';

interface LoadParams {
  url: string;
  seconds: number;
  connections: number;
  perRequest: number;
  contacts: number;
  run: string;
  /** Share of unsubscribe events; each goes to a distinct contact so each creates one suppression. */
  unsubscribeShare: number;
  privateKeyPem: string;
}

interface LoadResult {
  seconds: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  httpP50: number;
  httpP99: number;
  acceptedSum: number;
  duplicatesSum: number;
  parsedSum: number;
  /** Indexes of fresh (not redelivered) requests answered 200. */
  acked: number[];
  resendsAcked: number;
  resendsClean: number;
  /** Send time (epoch ms) of each fresh request by index: the time its events were built and sent. */
  sentAt: number[];
  /** Send time of each unsubscribe by ordinal (the n-th unsubscribe goes to contact `contacts - 1 - n`). */
  unsubscribeSentAt: number[];
}

// ───────────────────────────── load generator (child process) ─────────────────────────────

async function generateLoad(p: LoadParams): Promise<LoadResult> {
  let next = 0;
  let unsubscribes = 0;
  // a real 32-bit generator: an LCG in doubles (seed · 1103515245 exceeds 2^53) fell into a cycle
  // of ~10 000 draws, so every run reacted on only a few thousand of the ledger's contacts
  const random = mulberry32(1);
  const bodies = new Map<number, { body: string; headers: Record<string, string> }>();
  const result: LoadResult = {
    seconds: 0,
    requests: 0,
    httpP50: 0,
    httpP99: 0,
    non2xx: 0,
    errors: 0,
    timeouts: 0,
    acceptedSum: 0,
    duplicatesSum: 0,
    parsedSum: 0,
    acked: [],
    resendsAcked: 0,
    resendsClean: 0,
    sentAt: [],
    unsubscribeSentAt: [],
  };

  function build(i: number): { body: string; headers: Record<string, string> } {
    const now = Date.now();
    const ts = Math.floor(now / 1000);
    result.sentAt[i] = now;
    const events = [];
    for (let k = 0; k < p.perRequest; k++) {
      const r = random();
      const type =
        r < p.unsubscribeShare
          ? 'unsubscribe'
          : r < 0.15 + p.unsubscribeShare
            ? 'click'
            : r < 0.5
              ? 'open'
              : 'delivered';
      // unsubscribes walk the ledger from the top, everything else is uniform over it
      if (type === 'unsubscribe') result.unsubscribeSentAt[unsubscribes] = now;
      const c =
        type === 'unsubscribe' ? p.contacts - 1 - (unsubscribes++ % p.contacts) : Math.floor(random() * p.contacts);
      events.push({
        email: `u${c}@bench.example.com`,
        timestamp: ts,
        event: type,
        sg_event_id: `${p.run}-${i}-${k}`,
        'smtp-id': `<m${c}@bench.example.com>`,
        sg_message_id: `sg${c}.filter0001`,
        sy_campaign: CAMPAIGN,
        sy_contact: `c${c}`,
        sy_msg: `${CAMPAIGN}:c${c}`,
        ...(type === 'open' || type === 'click' ? { useragent: UA, ip: '203.0.113.7' } : {}),
        ...(type === 'click' ? { url: 'https://demo.example.com/pricing' } : {}),
      });
    }
    const body = JSON.stringify(events);
    const signature = sign(
      'sha256',
      Buffer.concat([Buffer.from(String(ts)), Buffer.from(body)]),
      p.privateKeyPem,
    ).toString('base64');
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'x-twilio-email-event-webhook-signature': signature,
        'x-twilio-email-event-webhook-timestamp': String(ts),
      },
    };
  }

  type Ctx = { current?: { i: number; resend: boolean } } & Record<string, unknown>;
  const instance = autocannon({
    url: p.url,
    connections: p.connections,
    duration: p.seconds,
    pipelining: 1,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: PATH,
        setupRequest: (req, ctx) => {
          const context = ctx as Ctx;
          const i = next++;
          // every 20th request redelivers a body already acknowledged (a vendor retry after a lost answer)
          const previous = result.acked.length > 0 ? result.acked[result.acked.length - 1]! : undefined;
          const kept = previous === undefined ? undefined : bodies.get(previous);
          const resend = i % 20 === 19 && kept !== undefined;
          const r = kept !== undefined && resend ? kept : build(i);
          if (!resend) bodies.set(i, r);
          if (bodies.size > 2000) bodies.delete(bodies.keys().next().value as number);
          context.current = { i: resend ? previous! : i, resend };
          return { ...req, body: r.body, headers: r.headers };
        },
        onResponse: (status, body, ctx) => {
          const cur = (ctx as Ctx).current!;
          if (status !== 200) return;
          const answer = JSON.parse(body) as { accepted?: number; duplicates?: number; count?: number };
          result.acceptedSum += answer.accepted ?? 0;
          result.duplicatesSum += answer.duplicates ?? 0;
          result.parsedSum += answer.count ?? 0;
          if (cur.resend) {
            result.resendsAcked++;
            if (answer.accepted === 0) result.resendsClean++;
          } else {
            result.acked.push(cur.i);
          }
        },
      },
    ],
  });
  const out = await instance;
  result.seconds = out.duration;
  result.requests = out.requests.total;
  result.non2xx = out.non2xx;
  result.errors = out.errors;
  result.timeouts = out.timeouts;
  result.httpP50 = out.latency.p50;
  result.httpP99 = out.latency.p99;
  return result;
}

function runLoadChild(p: LoadParams): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--load'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
    });
    child.stdin.end(JSON.stringify(p));
  });
}

// ───────────────────────────── measurement (parent) ─────────────────────────────

async function seedLedger(db: Db, contacts: number): Promise<void> {
  // set-wise: one statement for the whole ledger
  await db.query(
    `
    insert into send_ledger (campaign_id, contact_id, email, state, chunk, message_id, esp, esp_message_id, attempts,
      sent_at, updated_at)
    select $1, 'c' || g, 'u' || g || '@bench.example.com', 'sent', g / 1000, 'm' || g || '@bench.example.com',
      'sendgrid', 'sg' || g, 1, now(), now()
    from generate_series(0, $2::int - 1) as g`,
    [CAMPAIGN, contacts],
  );
}

/**
 * True when every consumer group has read its topic to the end and nothing is leased, retried or
 * pending propagation.
 */
async function settled(db: Db): Promise<boolean> {
  const {
    rows: [r],
  } = await db.query<{ behind: string; leases: string; retries: string; pending: string }>(`
    select (select count(*) from bus_groups g where g.cursor < coalesce((select max(seq) from bus_messages m
      where m.topic = g.topic), 0)) as behind,
           (select count(*) from bus_leases) as leases, (select count(*) from bus_retries) as retries,
           (select count(*) from suppression_propagations where status = 'pending') as pending`);
  return Number(r!.behind) + Number(r!.leases) + Number(r!.retries) + Number(r!.pending) === 0;
}

async function groupCount(db: Db): Promise<number> {
  return Number((await db.query<{ n: string }>('select count(*) as n from bus_groups')).rows[0]!.n);
}

/** Starts these stages and waits until everything is settled and the CRM outbox is empty. */
async function drainStages(
  db: Db,
  app: { stages: StageDefinition[]; startWorkers(only?: readonly string[]): unknown },
  stages: readonly StageDefinition[],
): Promise<void> {
  const d0 = performance.now();
  const before = await groupCount(db);
  app.startWorkers(stages.map((s) => s.name));
  // settled() reads the groups' cursors: wait until every consumer started here has created its group
  const groups = before + stages.reduce((n, s) => n + s.consumers.length, 0);
  const wait = () => new Promise((r) => setTimeout(r, 50));
  while ((await groupCount(db)) < groups && performance.now() - d0 < 60_000) await wait();
  while (!(await settled(db)) && performance.now() - d0 < 300_000) await wait();
  const crmPending = async () =>
    Number((await db.query<{ n: string }>('select count(*) as n from crm_engagement_outbox')).rows[0]!.n);
  while ((await crmPending()) > 0 && performance.now() - d0 < 300_000) await wait();
}

interface Visibility {
  events: Map<string, number>;
  suppressions: Map<string, number>;
  cycles: number[];
}

/**
 * While the load runs, polls for marker rows by primary key: the first event of each request
 * (engagement_events) and each unsubscribe's suppressions row, in a sliding window ahead of the
 * highest seen. A row first seen by the poll that started at t was committed at or before t and
 * after the previous poll started, so t overstates its visibility by at most one poll cycle.
 * The windows ahead are sized to what can commit within a poll cycle (a few times the requests
 * and unsubscribes in flight at once); a marker committed beyond them is seen later, from behind,
 * which can only overstate its latency. The poller has its own connections (not the app's pool,
 * not counted in the app's PostgreSQL CPU).
 */
function startVisibilityPoller(
  db: Db,
  run: string,
  contacts: number,
  ahead: { requests: number; unsubscribes: number },
): { stop(): Promise<Visibility> } {
  const seen: Visibility = { events: new Map(), suppressions: new Map(), cycles: [] };
  let maxRequest = -1;
  let maxUnsubscribe = -1;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const ids: string[] = [];
      for (let i = Math.max(0, maxRequest - 400); i <= maxRequest + ahead.requests; i++) {
        const id = `sendgrid:${run}-${i}-0`;
        if (!seen.events.has(id)) ids.push(id);
      }
      const emails: string[] = [];
      for (let k = Math.max(0, maxUnsubscribe - 300); k <= maxUnsubscribe + ahead.unsubscribes && k < contacts; k++) {
        const email = `u${contacts - 1 - k}@bench.example.com`;
        if (!seen.suppressions.has(email)) emails.push(email);
      }
      // each query's own start time, both in flight at once (separate pool connections)
      const started = Date.now();
      const [ev, su] = await Promise.all([
        (async () => ({
          t: Date.now(),
          rows: (
            await db.query<{ source_id: string }>(
              'select source_id from engagement_events where source_id = any($1::text[])',
              [ids],
            )
          ).rows,
        }))(),
        (async () => ({
          t: Date.now(),
          rows: (
            await db.query<{ email: string }>('select email from suppressions where email = any($1::text[])', [emails])
          ).rows,
        }))(),
      ]);
      for (const r of ev.rows) {
        seen.events.set(r.source_id, ev.t);
        maxRequest = Math.max(maxRequest, Number(r.source_id.split('-')[1]));
      }
      for (const r of su.rows) {
        seen.suppressions.set(r.email, su.t);
        maxUnsubscribe = Math.max(maxUnsubscribe, contacts - 1 - Number(r.email.slice(1, r.email.indexOf('@'))));
      }
      seen.cycles.push(Date.now() - started + 5);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return seen;
    },
  };
}

const APP_NAME = 'switchyard_bench_reactions';

/**
 * CPU time of this run's PostgreSQL backends (the pool's connections carry APP_NAME and the run
 * id, so another session's bench on the same server is not counted), read from
 * /proc every 250 ms; a backend that exits between samples loses at most its last interval.
 * Shared server processes (WAL writer, checkpointer) are not counted. null where /proc is not
 * readable (another host, another OS).
 */
function startBackendCpu(db: Db, appName: string): { stop(): Promise<number | null> } {
  const firstSeen = new Map<number, number>();
  const last = new Map<number, number>();
  let readable = true;
  let stopped = false;
  const ticksMs = 10; // USER_HZ is 100 on Linux
  const read = (pid: number): number | undefined => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) * ticksMs;
    } catch {
      return undefined;
    }
  };
  const sample = async (): Promise<void> => {
    const { rows } = await db.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [
      appName,
    ]);
    for (const { pid } of rows) {
      const ms = read(pid);
      if (ms === undefined) {
        readable = false;
        continue;
      }
      if (!firstSeen.has(pid)) firstSeen.set(pid, ms);
      last.set(pid, ms);
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await sample().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await sample().catch(() => undefined);
      if (!readable || firstSeen.size === 0) return null;
      let total = 0;
      for (const [pid, start] of firstSeen) total += last.get(pid)! - start;
      return total;
    },
  };
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/**
 * Visibility − send time, sorted, for the markers the poller saw. The send times come from the load
 * generator (it records when it built each request and each unsubscribe), not from the stored rows:
 * the events table keeps no vendor payload for most types (docs/privacy.md).
 */
function effectLatencies(
  seen: Visibility,
  load: LoadResult,
  contacts: number,
): { events: number[]; unsubscribes: number[]; pollP50: number; pollMax: number } {
  const events: number[] = [];
  for (const [id, t] of seen.events) {
    const sent = load.sentAt[Number(id.split('-')[1])];
    if (sent != null) events.push(t - sent);
  }
  const unsubscribes: number[] = [];
  for (const [email, t] of seen.suppressions) {
    // the first unsubscribe to this contact created the row
    const sent = load.unsubscribeSentAt[contacts - 1 - Number(email.slice(1, email.indexOf('@')))];
    if (sent != null) unsubscribes.push(t - sent);
  }
  return {
    events: events.sort((a, b) => a - b),
    unsubscribes: unsubscribes.sort((a, b) => a - b),
    pollP50: percentile(
      [...seen.cycles].sort((a, b) => a - b),
      0.5,
    ),
    pollMax: Math.max(...seen.cycles),
  };
}

async function bareBaseline(base: Omit<LoadParams, 'url' | 'run'>): Promise<LoadResult> {
  const server = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024 });
  server.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  server.post(PATH, async (request) => ({
    count: (JSON.parse((request.body as Buffer).toString('utf8')) as unknown[]).length,
  }));
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  try {
    return await runLoadChild({ ...base, url, run: `bare${Date.now()}` });
  } finally {
    await server.close();
  }
}

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const dbUrl = args.options.url ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const seconds = Number(args.options.seconds ?? 15);
  const connections = Number(args.options.connections ?? 20);
  const contacts = args.size ?? 200_000;
  const stages = args.options.stages?.split(',');
  // --consumers-after: the load runs with the request path only (stage `outbox`); when it ends, the
  // other stages start and drain what it left, alone, so their CPU per event is measured apart
  const consumersAfter = ['1', 'each'].includes(args.options['consumers-after'] ?? '');
  const drainEach = args.options['consumers-after'] === 'each';
  const byStage: Record<string, [number, number | null]> = {};
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const base = {
    seconds,
    connections,
    perRequest: Number(args.options['per-request'] ?? 100),
    contacts,
    unsubscribeShare: Number(args.options['unsubscribe-share'] ?? 0.02),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };

  const bareCpu0 = process.cpuUsage();
  const bare = await bareBaseline(base);
  const bareCpu = process.cpuUsage(bareCpu0);
  const bareRate = bare.parsedSum / bare.seconds;
  console.log(
    `bare fastify (JSON.parse + count): ${Math.round(bareRate)} events/s, ${bare.requests} requests, `
      + `non2xx ${bare.non2xx}`,
  );

  const schema = `bench_reactions_${Date.now()}`;
  const run = `r${Date.now().toString(36)}`;
  const url = new URL(dbUrl);
  const appName = `${APP_NAME}_${run}`;
  url.searchParams.set('application_name', appName);
  const db = await createPostgresDb({ url: url.toString(), schema, maxConnections: 12 });
  const pollDb = await createPostgresDb({ url: dbUrl, schema, maxConnections: 2 });
  try {
    await migrate(db);
    await seedLedger(db, contacts);
    const config = loadConfig({
      SWITCHYARD_TRACKING_SECRET: 'bench',
      LOG_LEVEL: 'silent',
      SWITCHYARD_DEMO: 'false',
      PORT: '0',
      SWITCHYARD_HOST: '127.0.0.1',
      SWITCHYARD_ADMIN_PORT: '0',
      SWITCHYARD_SENDGRID_WEBHOOK_PUBLIC_KEY: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    });
    const app = await createApp(config, {
      db,
      log: pino({ level: 'silent' }),
      esp: ({ clock, ingest }) =>
        createSandboxEsp({
          clock,
          emit: async (e) => {
            await ingest(e);
          },
        }),
    });
    let load: LoadResult;
    let settleMs: number;
    let seen: Visibility;
    let appCpuMs: number;
    let pgCpuMs: number | null;
    let drain: { seconds: number; appCpuMs: number; pgCpuMs: number | null } | undefined;
    try {
      // --stages=a,b runs only those stages (e.g. `outbox`: the request path without the consumers)
      app.startWorkers(consumersAfter ? ['outbox'] : stages);
      const { publicUrl } = await app.listen(); // webhooks are on the public listener
      const poller = startVisibilityPoller(pollDb, run, contacts, {
        requests: 2 * connections + 10,
        unsubscribes: Math.ceil(2 * connections * base.perRequest * base.unsubscribeShare) + 20,
      });
      const backendCpu = startBackendCpu(db, appName);
      const cpu0 = process.cpuUsage();
      load = await runLoadChild({ ...base, url: publicUrl, run });
      const cpu = process.cpuUsage(cpu0);
      appCpuMs = (cpu.user + cpu.system) / 1000;
      pgCpuMs = await backendCpu.stop();
      seen = await poller.stop();
      if (consumersAfter) {
        const drainCpu = startBackendCpu(db, appName);
        const appCpu0 = process.cpuUsage();
        const d0 = performance.now();
        const rest = app.stages.filter((s) => s.name !== 'outbox');
        // =each: one stage at a time, in the app's order, each measured until it caught up
        for (const batch of drainEach ? rest.map((s) => [s]) : [rest]) {
          const stageCpu = startBackendCpu(db, appName);
          const stageApp0 = process.cpuUsage();
          await drainStages(db, app, batch);
          const stageApp = process.cpuUsage(stageApp0);
          const pg = await stageCpu.stop();
          byStage[batch.length === 1 ? batch[0]!.name : 'all'] = [
            Math.round((stageApp.user + stageApp.system) / Math.max(1, load.acceptedSum)),
            pg === null ? null : Math.round((pg * 1000) / Math.max(1, load.acceptedSum)),
          ];
        }
        const appCpu = process.cpuUsage(appCpu0);
        drain = {
          seconds: (performance.now() - d0) / 1000,
          appCpuMs: (appCpu.user + appCpu.system) / 1000,
          pgCpuMs: await drainCpu.stop(),
        };
      }
      const t0 = performance.now();
      while (!(await settled(db)) && performance.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 100));
      settleMs = Math.round(performance.now() - t0);
    } finally {
      await app.close();
    }
    const accepted = Math.max(1, load.acceptedSum);
    return {
      ...(await figures(db, run, load, bareRate, settleMs, effectLatencies(seen, load, contacts))),
      bare_events_per_s: Math.round(bareRate),
      bare_cpu_us_per_event: Math.round((bareCpu.user + bareCpu.system) / Math.max(1, bare.parsedSum)),
      // during the load only; the app process includes the visibility poller
      app_cpu_us_per_event: Math.round((appCpuMs * 1000) / accepted),
      pg_cpu_us_per_event: pgCpuMs === null ? null : Math.round((pgCpuMs * 1000) / accepted),
      // --consumers-after: the consumers alone, from their start until settled (includes the settle polls)
      ...(drain === undefined
        ? {}
        : {
            consumers_events_per_s: Math.round(accepted / drain.seconds),
            consumers_app_cpu_us_per_event: Math.round((drain.appCpuMs * 1000) / accepted),
            consumers_pg_cpu_us_per_event:
              drain.pgCpuMs === null ? null : Math.round((drain.pgCpuMs * 1000) / accepted),
            // [app, PostgreSQL] CPU µs per event of each stage (=each) or of all together
            consumers_cpu_us_per_event_by_stage: byStage,
          }),
    };
  } finally {
    await pollDb.close().catch(() => undefined);
    await db.exec(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await db.close();
  }
}

async function figures(
  db: Db,
  run: string,
  load: LoadResult,
  bareRate: number,
  settleMs: number,
  effect: { events: number[]; unsubscribes: number[]; pollP50: number; pollMax: number },
): Promise<Record<string, unknown>> {
  const like = `sendgrid:${run}-%`;
  const stored = Number(
    (await db.query<{ n: string }>('select count(*) as n from engagement_events where source_id like $1', [like]))
      .rows[0]!.n,
  );
  const perRequest =
    Number(
      (
        await db.query<{ n: string }>(
          `select count(*) as n from engagement_events where source_id like $1 and split_part(source_id, '-', 2) = '0'`,
          [like],
        )
      ).rows[0]!.n,
    ) || 100;
  const {
    rows: [acked],
  } = await db.query<{ n: string }>(
    `
    select count(*) as n from engagement_events where source_id like $1 and split_part(source_id, '-',
      2)::int = any($2::int[])`,
    [like, load.acked],
  );
  const ackedEvents = load.acked.length * perRequest;
  const lost = ackedEvents - Number(acked!.n);
  const {
    rows: [engaged],
  } = await db.query<{ batches: string; applied: string; suppressed: string; confirmed: string }>(`
    select (select count(*) from bus_messages where topic = 'reaction.received') as batches,
           (select count(*) from engagement_applied_batches) as applied,
           (select count(*) from suppressions) as suppressed,
           (select count(*) from suppression_propagations where status = 'confirmed') as confirmed`);
  const eventsPerS = load.acceptedSum / load.seconds;
  console.log(
    `app: ${Math.round(eventsPerS)} events/s accepted over ${load.seconds} s (${load.requests} requests, `
      + `non2xx ${load.non2xx}, errors ${load.errors}, timeouts ${load.timeouts})`,
  );
  console.log(
    `  stored ${stored} rows; acknowledged ${ackedEvents} fresh events, ${lost} of them missing; accepted `
      + `sum ${load.acceptedSum}`,
  );
  console.log(
    `  redelivered ${load.resendsAcked} acknowledged requests, ${load.resendsClean} answered accepted=0 `
      + `(duplicates sum ${load.duplicatesSum})`,
  );
  const e = effect.events;
  const u = effect.unsubscribes;
  console.log(
    `  event→row visible (${e.length} markers): p50 ${percentile(e, 0.5)} ms, p99 ${percentile(e, 0.99)} `
      + `ms, max ${e[e.length - 1]} ms; HTTP p50 ${load.httpP50} ms, p99 ${load.httpP99} ms`,
  );
  console.log(
    `  (visibility is overstated by at most one poll cycle: p50 ${effect.pollP50} ms, max ${effect.pollMax} ms)`,
  );
  console.log(
    `  unsubscribe→suppression visible (${u.length} markers): p50 ${percentile(u, 0.5)} ms, p99 `
      + `${percentile(u, 0.99)} ms, max ${u[u.length - 1]} ms`,
  );
  console.log(
    `  pipeline settled ${settleMs} ms after the load ended: ${engaged!.batches} reaction batches, `
      + `${engaged!.applied} applied to scores, ${engaged!.suppressed} suppressed, ${engaged!.confirmed} `
      + `propagation rows confirmed`,
  );
  return {
    events_per_s: Math.round(eventsPerS),
    p50_ms: percentile(e, 0.5),
    p99_ms: percentile(e, 0.99),
    unsubscribe_effective_ms: percentile(u, 0.99),
    lost,
    // rows are unique by source id; a double count would show as more accepted than stored
    duplicated: Math.max(0, load.acceptedSum - stored) + (load.resendsAcked - load.resendsClean),
    ratio: Number((eventsPerS / bareRate).toFixed(3)),
    settle_ms: settleMs,
    requests: load.requests,
    non2xx: load.non2xx,
    http_p50_ms: load.httpP50,
    http_p99_ms: load.httpP99,
    markers: e.length,
    unsubscribe_markers: u.length,
    poll_cycle_p50_ms: effect.pollP50,
  };
}

if (process.argv.includes('--load')) {
  let input = '';
  process.stdin.on('data', (d: Buffer) => {
    input += d.toString();
  });
  process.stdin.on('end', () => {
    generateLoad(JSON.parse(input) as LoadParams).then(
      (r) => {
        // exit once the line is written: a pipe takes it asynchronously, and exiting at once cut
        // results longer than the pipe's buffer (send times of a fast bare run) short
        process.stdout.write(`${JSON.stringify(r)}\n`, () => process.exit(0));
      },
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
