/**
 * Blast throughput: a campaign of `--size` recipients (default 1M) from the demo warehouse
 * through every stage into the sandbox ESP, on PostgreSQL (DATABASE_URL or the local test
 * server, private schema), all stages in this process. Reports recipients/s (selected → handed to
 * the ESP), peak RSS, and the SMTP ratio: the same pipeline sending `--smtp-size` messages over
 * SMTP to a local sink, divided by bare pooled nodemailer sending the same messages to the same
 * sink in the same run.
 */
import nodemailer from 'nodemailer';
import { pino } from 'pino';
import { createApp, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createSandboxEsp } from '../src/connectors/esp/sandbox/adapter.ts';
import { createSmtpEsp } from '../src/connectors/esp/smtp/adapter.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import { migrate } from '../src/store/migrate.ts';
import { demoCampaign } from '../src/demo/campaign.ts';
import type { Esp } from '../src/connectors/esp/port.ts';
import { startSmtpSink } from '../test/support/smtp-sink.ts';
import type { BenchArgs } from './run.ts';

const POOL = 5;

type MakeEsp = NonNullable<NonNullable<Parameters<typeof createApp>[1]>['esp']>;

async function runCampaign(url: string, size: number, makeEsp: MakeEsp, label: string): Promise<{ seconds: number; handed: number }> {
  const schema = `bench_blast_${label}_${Date.now()}`;
  const db = await createPostgresDb({ url, schema, maxConnections: 12 });
  await migrate(db);
  // the governor's per-ESP account limit defaults to 1000/s; the bench measures the pipeline, so lift it
  const config = loadConfig({ SWITCHYARD_TRACKING_SECRET: 'bench', LOG_LEVEL: 'silent', SWITCHYARD_WORKER_CONCURRENCY: '4', SWITCHYARD_ESP_RATE_PER_SEC: '1000000' });
  const app = await createApp(config, { db, log: pino({ level: 'silent' }), esp: makeEsp });
  try {
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size } }));
    const t0 = performance.now();
    await app.campaigns.start(c.id);
    app.startWorkers(['select', 'prepare', 'send']);
    for (;;) {
      const s = await app.campaigns.get(c.id);
      if (s.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (performance.now() - t0) / 1000;
    const hist = (await app.metrics.registry.getSingleMetric('switchyard_handler_duration_seconds')!.get()).values
      .filter((v) => (v as { metricName?: string }).metricName?.endsWith('_sum')).map((v) => `${v.labels.group}/${v.labels.topic}=${(v.value as number).toFixed(1)}s`);
    console.log(`  handler time: ${hist.join(' ')}`);
    const { counts } = await app.campaigns.status(c.id);
    return { seconds, handed: counts.sent ?? 0 };
  } finally {
    await app.close();
    await db.exec(`drop schema ${schema} cascade`).catch(() => undefined);
    await db.close();
  }
}

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const size = args.size ?? 1_000_000;
  const smtpSize = Number(args.options['smtp-size'] ?? 10_000);
  const url = args.options.url ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 100);

  const blast = await runCampaign(url, size, ({ clock, ingest }) => createSandboxEsp({ clock, emit: async (e) => { await ingest(e); } }, { outboxLimit: 1000, rates: { delivered: 0, bounce: 0, open: 0, click: 0, unsubscribe: 0, complaint: 0 } }), 'sandbox');
  const perS = size / blast.seconds;
  console.log(`blast: ${size} recipients (${blast.handed} handed to the sandbox) in ${blast.seconds.toFixed(1)} s = ${Math.round(perS)} recipients/s, peak RSS ${Math.round(peak / 1e6)} MB`);

  if (smtpSize === 0) {
    clearInterval(sampler);
    return { recipients_per_s: Math.round(perS), seconds: Number(blast.seconds.toFixed(1)), peak_rss_mb: Math.round(peak / 1e6) };
  }
  // SMTP: the pipeline vs bare nodemailer, same messages, same sink, same pool size
  const sink = await startSmtpSink({ keepMessages: false });
  let esp: Esp | undefined;
  const smtp = await runCampaign(url, smtpSize, ({ clock }) => (esp = createSmtpEsp({ clock }, { host: '127.0.0.1', port: sink.port, pool: { maxConnections: POOL, maxMessages: 100_000 } })), 'smtp');
  void esp;
  const pipelineRate = smtp.handed / smtp.seconds;
  const messages = Array.from({ length: smtp.handed }, (_, i) => ({
    from: 'news@demo.example.com', to: `user${i}@example.com`, subject: 'What is new this autumn, Ada',
    html: '<p>Hello Ada, your pro plan just got three new features.</p>', text: 'Hello Ada, your pro plan just got three new features.',
  }));
  const transport = nodemailer.createTransport({ pool: true, host: '127.0.0.1', port: sink.port, maxConnections: POOL, maxMessages: 100_000 });
  const t0 = performance.now();
  await Promise.all(messages.map((m) => transport.sendMail(m)));
  const bareRate = messages.length / ((performance.now() - t0) / 1000);
  transport.close();
  await sink.close();
  clearInterval(sampler);
  const smtpRatio = pipelineRate / bareRate;
  console.log(`smtp: pipeline ${Math.round(pipelineRate)} msg/s vs bare nodemailer ${Math.round(bareRate)} msg/s = ${smtpRatio.toFixed(2)}`);
  return {
    recipients_per_s: Math.round(perS), seconds: Number(blast.seconds.toFixed(1)), peak_rss_mb: Math.round(peak / 1e6),
    smtp_size: smtp.handed, smtp_pipeline_per_s: Math.round(pipelineRate), smtp_bare_per_s: Math.round(bareRate), smtp_ratio: Number(smtpRatio.toFixed(2)),
  };
}
