/**
 * Blast throughput: a campaign of `--size` recipients (default 1M) from the demo warehouse
 * through every stage into the sandbox ESP, on PostgreSQL (DATABASE_URL or the local test
 * server, private schema), all stages in this process. Reports recipients/s (selected → handed to
 * the ESP), peak RSS, and the SMTP ratio: the same pipeline sending `--smtp-size` messages over
 * SMTP to a local sink, divided by bare pooled nodemailer sending the same messages to the same
 * sink in the same run. `limit_ratio` is recipients/s divided by the ledger floor measured in the
 * same run on the same server: a bare batched insert and update of ledger-shaped rows (see
 * ledgerFloor and bench/README.md).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import nodemailer from 'nodemailer';
import { pino } from 'pino';
import { createApp, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { smtpMailOptions } from '../src/connectors/esp/smtp/adapter.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import { migrate } from '../src/store/migrate.ts';
import { demoCampaign } from '../src/demo/campaign.ts';
import { CHUNK_SIZE } from '../src/campaigns/types.ts';
import type { OutboundMessage } from '../src/connectors/esp/port.ts';
import { startSmtpSinkProcess, type SmtpSinkProcess } from '../test/support/smtp-sink-process.ts';
import { startHubspotServer, type HubspotServer } from '../test/connectors/crm/hubspot-server.ts';
import { createProfileCache } from '../src/crm-profiles/cache.ts';
import { demoContactId } from '../src/connectors/warehouse/demo/generate.ts';
import type { BenchArgs } from './run.ts';
import { BENCH_ENV, BENCH_GOVERNOR, SMTP_POOL, keptSmtp, silentSandbox, type MakeEsp } from './blast-setup.ts';
import { serverDelta, serverSample, timedDb } from './blast-sql.ts';

/** Send-stage worker processes (bench/blast-worker.ts) on the same schema; resolves once all listen. */
async function startSendWorkers(
  url: string,
  schema: string,
  n: number,
  smtp?: WorkerSmtp,
  piiAtRest = true,
): Promise<{ stop(): Promise<{ rssMb: number; cpuMs: number }[]> }> {
  const entry = new URL('./blast-worker.ts', import.meta.url).pathname;
  // BENCH_CPU_PROF_DIR=dir: each send worker writes a V8 CPU profile there (the main process: run it with --cpu-prof)
  const profile =
    process.env.BENCH_CPU_PROF_DIR === undefined
      ? []
      : ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF_DIR];
  // the same V8 heap flags as this process (npm run bench sets a 64 MB young generation semi-space)
  const heap = process.execArgv.filter((a) => a.startsWith('--max-semi-space-size'));
  const children = Array.from({ length: n }, () =>
    spawn(
      process.execPath,
      [
        ...profile,
        ...heap,
        '--import',
        'tsx',
        entry,
        url,
        schema,
        ...(smtp === undefined ? [] : [smtp.url, smtp.acceptedFile, String(smtp.window ?? '')]),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
        env: { ...process.env, BENCH_PII_AT_REST: piiAtRest ? '1' : '0' },
      },
    ),
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
  return {
    async stop() {
      return Promise.all(
        children.map(
          (child) =>
            new Promise<{ rssMb: number; cpuMs: number }>((resolve) => {
              let out = '';
              child.stdout!.on('data', (d: Buffer) => {
                out += d.toString();
              });
              child.once('exit', () => {
                const [rssMb = 0, cpuMs = 0] = out.trim().split(' ').map(Number);
                resolve({ rssMb, cpuMs });
              });
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/**
 * One campaign of `size` demo recipients. With `sendWorkers` > 0 the send stage runs in that many
 * child processes and this one runs select and prepare (one process per stage, as deployed);
 * otherwise all stages run here.
 */
/** The send workers' ESP when not the silent sandbox: SMTP to `url`, accepted messages written to `acceptedFile`. */
interface WorkerSmtp {
  url: string;
  acceptedFile: string;
  window?: number;
}

/** A CRM other than the demo one for the select/prepare process, and what to do before the clock starts. */
interface CampaignCrm {
  env: Record<string, string>;
  /** Runs after the app is created, before the campaign starts (e.g. warming the profile cache). */
  prepare?(app: App, db: Awaited<ReturnType<typeof createPostgresDb>>): Promise<void>;
}

async function runCampaign(
  url: string,
  size: number,
  makeEsp: MakeEsp,
  label: string,
  sendWorkers = 0,
  workerSmtp?: WorkerSmtp,
  crm?: CampaignCrm,
  piiAtRest = true,
): Promise<{ seconds: number; handed: number; workerRssMb: number[]; cpuMs: { main: number; sendWorkers: number[] } }> {
  const schema = `bench_blast_${label}_${Date.now()}`;
  const db = await createPostgresDb({ url, schema, maxConnections: 12 });
  await migrate(db);
  // BENCH_SQL_TIMES=1: each process prints its statements' summed wall time per leg (stderr)
  const timed = process.env.BENCH_SQL_TIMES === '1' ? timedDb(db) : undefined;
  const app = await createApp(loadConfig({ ...BENCH_ENV, ...crm?.env }), {
    db: timed?.db ?? db,
    log: pino({ level: 'silent' }),
    esp: makeEsp,
    governor: BENCH_GOVERNOR,
    piiAtRest,
  });
  const workers = sendWorkers > 0 ? await startSendWorkers(url, schema, sendWorkers, workerSmtp, piiAtRest) : undefined;
  let stopped: { rssMb: number; cpuMs: number }[] = [];
  try {
    await crm?.prepare?.(app, db);
    const server0 = await serverSample(db);
    const cpu0 = process.cpuUsage();
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size } }));
    const t0 = performance.now();
    await app.campaigns.start(c.id);
    app.startWorkers(workers === undefined ? ['select', 'prepare', 'send'] : ['select', 'prepare']);
    for (;;) {
      const s = await app.campaigns.get(c.id);
      if (s.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(`  server: ${serverDelta(server0, await serverSample(db))}`);
    if (timed !== undefined) console.log(`  select/prepare statements:\n${timed.report()}`);
    const hist = (await app.metrics.registry.getSingleMetric('switchyard_handler_duration_seconds')!.get()).values
      .filter((v) => (v as { metricName?: string }).metricName?.endsWith('_sum'))
      .map((v) => `${v.labels.group}/${v.labels.topic}=${(v.value as number).toFixed(1)}s`);
    console.log(`  handler time: ${hist.join(' ')}`);
    const { counts } = await app.campaigns.status(c.id);
    const cpu = process.cpuUsage(cpu0);
    if (workers !== undefined) stopped = await workers.stop();
    if ((await app.campaigns.get(c.id)).status !== 'completed') throw new Error(`the ${label} blast did not complete`);
    return {
      seconds,
      handed: counts.sent ?? 0,
      workerRssMb: stopped.map((w) => w.rssMb),
      cpuMs: { main: Math.round((cpu.user + cpu.system) / 1000), sendWorkers: stopped.map((w) => w.cpuMs) },
    };
  } finally {
    if (workers !== undefined && stopped.length === 0) await workers.stop();
    await app.close();
    await db.exec(`drop schema ${schema} cascade`).catch(() => undefined);
    await db.close();
  }
}

/** Runs of one kind as one: mean seconds and CPU per run (rates and CPU per recipient stay per blast). */
function combined(runs: readonly Awaited<ReturnType<typeof runCampaign>>[]): Awaited<ReturnType<typeof runCampaign>> {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    seconds: mean(runs.map((r) => r.seconds)),
    handed: runs[0]!.handed,
    workerRssMb: runs[0]!.workerRssMb.map((_, w) => Math.max(...runs.map((r) => r.workerRssMb[w] ?? 0))),
    cpuMs: {
      main: Math.round(mean(runs.map((r) => r.cpuMs.main))),
      sendWorkers: runs[0]!.cpuMs.sendWorkers.map((_, w) =>
        Math.round(mean(runs.map((r) => r.cpuMs.sendWorkers[w] ?? 0))),
      ),
    },
  };
}

// A plain table with send_ledger's columns and primary key, no other index, default storage
// settings: what any ledger design writes at the least.
const FLOOR_TABLE = `
  create table ledger_floor (
    campaign_id text not null, contact_id text not null, email text not null, state text not null,
    reason text, chunk integer not null, message_id text, esp text, esp_message_id text,
    attempts integer not null default 0, last_error text, due_at timestamptz, sent_at timestamptz,
    updated_at timestamptz not null,
    primary key (campaign_id, contact_id))`;
const FLOOR_INSERT = `
  insert into ledger_floor (campaign_id, contact_id, email, state, chunk, message_id, attempts, updated_at)
  select $1, c, e, 'claimed', $2, m, 1, $3 from unnest($4::text[], $5::text[], $6::text[]) as x(c, e, m)
  returning ctid::text as tid`;
// Rows are found by the versions the insert returned (a TID scan): on a table growing from empty
// the statistics are always stale, and a join or key-range plan made on them turns quadratic.
// The provider's id is derived in SQL, so the statement joins nothing.
const FLOOR_UPDATE = `
  update ledger_floor set state = 'sent', esp = 'sandbox', esp_message_id = 'esp-' || contact_id,
    sent_at = $1, updated_at = $1
  where ctid = any($2::tid[])`;

/**
 * The least ledger work per recipient, on the blast's server: `size` ledger-shaped rows, each
 * inserted once and updated once to its final state, CHUNK_SIZE rows per statement, on `lanes`
 * connections at once (as many as the blast's send processes). Returns rows/s.
 */
async function ledgerFloor(url: string, size: number, lanes: number): Promise<{ rowsPerS: number; seconds: number }> {
  const schema = `bench_floor_${Date.now()}`;
  const db = await createPostgresDb({ url, schema, maxConnections: lanes });
  try {
    await db.exec(FLOOR_TABLE);
    const campaign = 'floor';
    const chunks = Math.ceil(size / CHUNK_SIZE);
    let next = 0;
    const lane = async () => {
      for (let k = next++; k < chunks; k = next++) {
        const ids = Array.from({ length: Math.min(CHUNK_SIZE, size - k * CHUNK_SIZE) }, (_, i) =>
          String(k * CHUNK_SIZE + i).padStart(8, '0'),
        );
        const emails = ids.map((id) => `c${id}@example.com`);
        const messageIds = ids.map((id) => `${campaign}.${id}@bench.invalid`);
        const { rows } = await db.query<{ tid: string }>(FLOOR_INSERT, [
          campaign,
          k,
          new Date(),
          ids,
          emails,
          messageIds,
        ]);
        await db.query(FLOOR_UPDATE, [new Date(), rows.map((r) => r.tid)]);
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: lanes }, lane));
    const seconds = (performance.now() - t0) / 1000;
    const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from ledger_floor where state = 'sent'`);
    if (rows[0]?.n !== size) throw new Error(`ledger floor: ${rows[0]?.n} of ${size} rows reached 'sent'`);
    return { rowsPerS: size / seconds, seconds };
  } finally {
    await db.exec(`drop schema ${schema} cascade`).catch(() => undefined);
    await db.close();
  }
}

/** Bare pooled nodemailer: the same mail options the SMTP adapter composes (headers, envelope),
 *  same pool size, same sink, all handed over at once as a plain nodemailer user would. */
async function sendBare(
  sink: SmtpSinkProcess,
  messages: readonly OutboundMessage[],
): Promise<{ rate: number; received: number; cpuMsPerMessage: number }> {
  const before = await sink.count();
  const transport = nodemailer.createTransport({
    pool: true,
    host: sink.host,
    port: sink.port,
    maxConnections: SMTP_POOL,
    maxMessages: 100_000,
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(messages.map((m) => transport.sendMail(smtpMailOptions(m))));
  const cpu = process.cpuUsage(cpu0);
  const rate = messages.length / ((performance.now() - t0) / 1000);
  transport.close();
  return {
    rate,
    received: (await sink.count()) - before,
    cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / messages.length,
  };
}

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const size = args.size ?? 1_000_000;
  const smtpSize = Number(args.options['smtp-size'] ?? 10_000);
  const url = args.options.url ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);

  // one send process per core, as docs/architecture.md (Processes) deploys the send stage at volume
  const sendWorkers = Number(args.options['send-workers'] ?? availableParallelism());
  // a short blast first, not measured: this process loads and compiles the pipeline's modules once
  // (~1 s of CPU), which otherwise falls on whichever leg runs first (the sealed one)
  const warmup = Number(args.options.warmup ?? Math.min(5_000, size));
  if (warmup > 0) await runCampaign(url, warmup, silentSandbox, 'warmup', sendWorkers);
  // pii_ratio's legs in ABBA order (sealed, unsealed, unsealed, sealed), each side the mean of its two
  // runs: on a shared host the load drifts during a run, and whichever leg ran first paid more or
  // less than the other by the drift alone (bench/README.md ## blast). --pii-order=ab: one of each.
  const withBaseline = args.options['pii-baseline'] !== '0';
  const abba = withBaseline && args.options['pii-order'] !== 'ab';
  const legs: { sealed: boolean; run: Awaited<ReturnType<typeof runCampaign>> }[] = [];
  for (const sealed of abba ? [true, false, false, true] : withBaseline ? [true, false] : [true]) {
    const run = sealed
      ? await runCampaign(url, size, silentSandbox, 'sandbox', sendWorkers)
      : await runCampaign(url, size, silentSandbox, 'plain', sendWorkers, undefined, undefined, false);
    console.log(`  ${sealed ? 'sealed' : 'unsealed'} leg: ${Math.round(size / run.seconds)} recipients/s`);
    legs.push({ sealed, run });
  }
  const blast = combined(legs.filter((l) => l.sealed).map((l) => l.run));
  const perS = size / blast.seconds;
  const workerRss = blast.workerRssMb.length === 0 ? '' : `, send workers' peak RSS ${blast.workerRssMb.join(', ')} MB`;
  console.log(
    `blast: ${size} recipients (${blast.handed} handed to the sandbox) in ${blast.seconds.toFixed(1)} s = `
      + `${Math.round(perS)} recipients/s, peak RSS ${Math.round(peak / 1e6)} MB${workerRss}`,
  );
  // the same blast with ledger addresses unsealed (no per-subject keys, no sealing, no fingerprint
  // check): pii_ratio is the cost of PII at rest, held to ≥ 0.9 (docs/decisions/0015-pii-at-rest.md)
  const piiBaseline = withBaseline ? combined(legs.filter((l) => !l.sealed).map((l) => l.run)) : undefined;
  const piiRatio = piiBaseline === undefined ? undefined : perS / (size / piiBaseline.seconds);
  // CPU of Switchyard's processes per recipient, both legs: steadier than the rates on a shared host
  // (PostgreSQL's own CPU is not in it); pii_cpu_ratio = unsealed ÷ sealed, 1.0 = PII at rest is free
  const cpuPer = (b: typeof blast) => ((b.cpuMs.main + b.cpuMs.sendWorkers.reduce((x, y) => x + y, 0)) * 1000) / size;
  const piiCpuRatio = piiBaseline === undefined ? undefined : cpuPer(piiBaseline) / cpuPer(blast);
  if (piiBaseline !== undefined)
    console.log(
      `without PII at rest: ${Math.round(size / piiBaseline.seconds)} recipients/s in `
        + `${piiBaseline.seconds.toFixed(1)} s; pii_ratio ${piiRatio!.toFixed(3)}; CPU per recipient `
        + `${cpuPer(blast).toFixed(1)} µs sealed, ${cpuPer(piiBaseline).toFixed(1)} µs unsealed, `
        + `pii_cpu_ratio ${piiCpuRatio!.toFixed(3)}`,
    );
  // the floor right after the blast, on the same server, with as many connections as send processes
  const floor = await ledgerFloor(url, size, Math.max(1, sendWorkers));
  const limitRatio = perS / floor.rowsPerS;
  console.log(
    `ledger floor: ${size} rows inserted and updated in ${floor.seconds.toFixed(1)} s = `
      + `${Math.round(floor.rowsPerS)} rows/s; limit_ratio ${limitRatio.toFixed(3)}`,
  );
  const blastFields = {
    recipients_per_s: Math.round(perS),
    floor_rows_per_s: Math.round(floor.rowsPerS),
    limit_ratio: Number(limitRatio.toFixed(3)),
    ...(piiBaseline === undefined
      ? {}
      : {
          pii_ratio: Number(piiRatio!.toFixed(3)),
          plain_recipients_per_s: Math.round(size / piiBaseline.seconds),
          pii_cpu_ratio: Number(piiCpuRatio!.toFixed(3)),
          // each leg's rate in the order run (S = sealed, U = unsealed)
          pii_legs: legs.map((l) => `${l.sealed ? 'S' : 'U'}${Math.round(size / l.run.seconds)}`).join(' '),
          plain_cpu_us_per_recipient: {
            main: round1((piiBaseline.cpuMs.main * 1000) / size),
            send_workers: piiBaseline.cpuMs.sendWorkers.map((ms) => round1((ms * 1000) / size)),
          },
        }),
    seconds: Number(blast.seconds.toFixed(1)),
    peak_rss_mb: Math.round(Math.max(peak / 1e6, ...blast.workerRssMb)),
    send_workers: sendWorkers,
    ...(blast.workerRssMb.length > 0
      ? { main_rss_mb: Math.round(peak / 1e6), send_worker_rss_mb: blast.workerRssMb }
      : {}),
    // CPU per recipient of each process (main: select + prepare, or everything without send workers)
    cpu_us_per_recipient: {
      main: round1((blast.cpuMs.main * 1000) / size),
      send_workers: blast.cpuMs.sendWorkers.map((ms) => round1((ms * 1000) / size)),
    },
  };

  // --crm=hubspot: the same blast with HubSpot as the CRM, compared with the demo CRM's above
  if (args.options.crm === 'hubspot') {
    const cache = args.options['crm-cache'] === 'cold' ? 'cold' : 'warm';
    const hub = await hubspotBlast(url, size, sendWorkers, cache);
    const crmRatio = hub.perS / perS;
    console.log(
      `hubspot (${cache} cache): ${size} recipients (${hub.handed} handed) = ${Math.round(hub.perS)} recipients/s, `
        + `${hub.requests} HubSpot requests during the blast; crm_ratio ${crmRatio.toFixed(3)}`,
    );
    Object.assign(blastFields, {
      crm: 'hubspot',
      crm_cache: cache,
      crm_recipients_per_s: Math.round(hub.perS),
      crm_ratio: Number(crmRatio.toFixed(3)),
      crm_requests: hub.requests,
      ...(cache === 'warm' ? { crm_warm_s: Number(hub.warmSeconds.toFixed(1)) } : {}),
    });
  } else if (args.options.crm !== undefined && args.options.crm !== 'demo')
    throw new Error(`--crm=${args.options.crm}: only hubspot (or demo, the default) is known`);

  if (smtpSize === 0) {
    clearInterval(sampler);
    return blastFields;
  }
  // SMTP: the pipeline vs bare nodemailer, same messages, same sink (its own process), same pool size
  const sink = await startSmtpSinkProcess();
  // --smtp-window=N overrides the adapter's commit window (default: the pool size) to measure its effect
  const smtpWindow = args.options['smtp-window'] === undefined ? undefined : Number(args.options['smtp-window']);
  // the send stage runs in its own process here too (with --send-workers=0, in this one); either
  // way the messages the server accepted are kept so bare nodemailer can send exactly those
  let accepted: OutboundMessage[] = [];
  const acceptedFile = join(mkdtempSync(join(tmpdir(), 'blast-smtp-')), 'accepted.jsonl');
  const smtpWorkers = Math.min(sendWorkers, 1);
  const smtp = await runCampaign(url, smtpSize, keptSmtp(sink, smtpWindow, accepted), 'smtp', smtpWorkers, {
    url: `${sink.host}:${sink.port}`,
    acceptedFile,
    window: smtpWindow,
  });
  if (smtpWorkers > 0)
    accepted = readFileSync(acceptedFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as OutboundMessage);
  rmSync(dirname(acceptedFile), { recursive: true, force: true });
  const pipelineCpuMs = (smtpWorkers > 0 ? smtp.cpuMs.sendWorkers[0]! : smtp.cpuMs.main) / Math.max(1, smtp.handed);
  const pipelineReceived = await sink.count();
  const pipelineRate = smtp.handed / smtp.seconds;
  const bare = await sendBare(sink, accepted);
  await sink.close();
  clearInterval(sampler);
  const bytes = accepted.reduce((n, m) => n + m.subject.length + m.text.length + (m.html?.length ?? 0), 0);
  const smtpRatio = pipelineRate / bare.rate;
  console.log(
    `smtp: sink received ${pipelineReceived} from the pipeline (${smtp.handed} sent in the ledger), `
      + `${bare.received} from bare nodemailer (${accepted.length} messages, mean subject+text+html `
      + `${Math.round(bytes / Math.max(1, accepted.length))} chars)`,
  );
  console.log(
    `smtp: pipeline ${Math.round(pipelineRate)} msg/s vs bare nodemailer ${Math.round(bare.rate)} msg/s = `
      + `${smtpRatio.toFixed(2)}`,
  );
  // CPU per message of the sending process (the sink and PostgreSQL are other processes): on a
  // busy machine this is steadier than the rates, and both legs are bound by that process's core
  console.log(
    `smtp: sending process's CPU per message: pipeline ${pipelineCpuMs.toFixed(2)} ms `
      + `(${smtpWorkers > 0 ? 'send worker' : 'all stages'}) vs bare ${bare.cpuMsPerMessage.toFixed(2)} ms`,
  );
  return {
    ...blastFields,
    smtp_size: smtp.handed,
    smtp_pipeline_per_s: Math.round(pipelineRate),
    smtp_bare_per_s: Math.round(bare.rate),
    smtp_ratio: Number(smtpRatio.toFixed(2)),
    smtp_cpu_ms_per_msg_pipeline: Number(pipelineCpuMs.toFixed(2)),
    smtp_cpu_ms_per_msg_bare: Number(bare.cpuMsPerMessage.toFixed(2)),
  };
}

/** HubSpot's requests per 10 s in the bench: the most SWITCHYARD_HUBSPOT_RATE allows. */
const BENCH_HUBSPOT_RATE = 1000;

/**
 * The blast again with HubSpot as the CRM (the local HubSpot server, holding every audience
 * contact): with `cache` warm, every profile is fetched through the real adapter before the clock
 * starts, so the blast reads them all from the store; cold, the blast fetches them itself.
 * Returns its rate and the requests HubSpot received during the blast.
 */
async function hubspotBlast(
  url: string,
  size: number,
  sendWorkers: number,
  cache: 'warm' | 'cold',
): Promise<{ perS: number; requests: number; warmSeconds: number; handed: number }> {
  const server: HubspotServer = await startHubspotServer(() => Date.now());
  const tiers = ['smb', 'mid-market', 'enterprise'];
  for (let i = 0; i < size; i++)
    server.addContact({
      switchyard_contact_id: demoContactId(i),
      switchyard_tier: tiers[i % 3]!,
      lifecyclestage: 'customer',
    });
  let warmSeconds = 0;
  let before = 0;
  try {
    const blast = await runCampaign(url, size, silentSandbox, 'hubspot', sendWorkers, undefined, {
      env: {
        SWITCHYARD_CRM: 'hubspot',
        SWITCHYARD_HUBSPOT_TOKEN: server.token,
        SWITCHYARD_HUBSPOT_BASE_URL: server.baseUrl,
        SWITCHYARD_HUBSPOT_RATE: String(BENCH_HUBSPOT_RATE),
      },
      async prepare(app, db) {
        if (cache === 'warm') {
          // the same cache the blast reads, filled through the real adapter and rate limit
          const profiles = createProfileCache(
            { db, clock: app.clock, crm: app.crm },
            { maxAgeMs: app.config.crmProfiles.maxAgeMs, batchSize: 100 },
          );
          const t0 = performance.now();
          const step = 10_000;
          let next = 0;
          const lane = async (): Promise<void> => {
            for (let from = next; from < size; from = next) {
              next += step;
              const ids = Array.from({ length: Math.min(step, size - from) }, (_, i) => demoContactId(from + i));
              await profiles.read(ids);
            }
          };
          await Promise.all(Array.from({ length: 4 }, lane));
          warmSeconds = (performance.now() - t0) / 1000;
          console.log(`hubspot: profile cache warmed with ${size} contacts in ${warmSeconds.toFixed(1)} s`);
        }
        before = server.requests.length;
      },
    });
    const requests = server.requests.length - before;
    return { perS: size / blast.seconds, requests, warmSeconds, handed: blast.handed };
  } finally {
    await server.close();
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
