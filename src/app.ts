/**
 * Composition root: reads config once, opens the store, picks adapters, builds services and their
 * bus stages, and hands them to the two HTTP servers (public and admin) and the workers. The only file in src/ that
 * imports adapters, and the only one that reads process.env.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createPublicServer, type RouteRegistrar } from './api/server.ts';
import { createAdminServer } from './api/admin-server.ts';
import { adminGuardOptions, publicGuardOptions } from './api/guards/register.ts';
import { createAuditLog, type AuditLog } from './access/audit.ts';
import { createKeyService, type KeyService } from './access/keys.ts';
import { ensureLocalAdminKey, type LocalKeyOutcome } from './access/local-key.ts';
import { createConsumer, type Consumer, type Handler } from './bus/consumer.ts';
import type { StageDefinition } from './bus/stage.ts';
import type { Bus } from './bus/port.ts';
import { createPostgresLogBus } from './bus/postgres-log/adapter.ts';
import type { Clock } from './clock/port.ts';
import { createSystemClock } from './clock/system.ts';
import { loadConfig, readConfigFile, type Config, type RawConfig } from './config.ts';
import { createLogger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { migrate } from './store/migrate.ts';
import { createPgliteDb } from './store/pglite/adapter.ts';
import type { Db } from './store/port.ts';
import { createPostgresDb } from './store/postgres/adapter.ts';
import { registerCampaignRoutes } from './api/routes/campaigns.ts';
import { createCampaignService, type CampaignService } from './campaigns/service.ts';
import { sendStage } from './campaigns/send-stage.ts';
import { runDispatcher } from './campaigns/staging.ts';
import { runOutboxRelay } from './bus/outbox.ts';
import { blastEarlyStages } from './campaigns/stages.ts';
import { createTemplateCache, type RenderSettings } from './campaigns/template-cache.ts';
import type { Audience } from './campaigns/types.ts';
import { createCrmBatcher } from './connectors/crm/batcher.ts';
import { createDemoCrm, ensureDemoCrmSchema } from './connectors/crm/demo/adapter.ts';
import type { Crm } from './connectors/crm/port.ts';
import type { Esp } from './connectors/esp/port.ts';
import { createSandboxEsp } from './connectors/esp/sandbox/adapter.ts';
import { createSmtpEsp } from './connectors/esp/smtp/adapter.ts';
import { createSendGridEsp } from './connectors/esp/sendgrid/adapter.ts';
import { createMailgunEsp } from './connectors/esp/mailgun/adapter.ts';
import { createSesEsp } from './connectors/esp/ses/adapter.ts';
import { createPostmarkEsp } from './connectors/esp/postmark/adapter.ts';
import { createFailoverEsp } from './deliverability/failover-esp.ts';
import { createCsvWarehouse } from './connectors/warehouse/csv/adapter.ts';
import { resolveCsvDirs } from './connectors/warehouse/csv/allowed-path.ts';
import { createDemoWarehouse } from './connectors/warehouse/demo/adapter.ts';
import { createPostgresWarehouse } from './connectors/warehouse/postgres/adapter.ts';
import type { Warehouse } from './connectors/warehouse/port.ts';
import { SwitchyardError } from './core/errors.ts';
import { createIngest, type Ingest } from './reactions/ingest.ts';
import { ledgerOutcomeStage } from './reactions/ledger-stage.ts';
import { createUnsubscriber } from './reactions/unsubscribe.ts';
import { engagementStage } from './reactions/engagement-stage.ts';
import { clicksStage } from './reactions/clicks-stage.ts';
import { softBounceStage } from './reactions/soft-bounce-stage.ts';
import { repliesStage } from './reactions/replies-stage.ts';
import { createInboundHandler } from './reactions/inbound-handler.ts';
import { createInboundSmtpListener } from './reactions/inbound/smtp-listener.ts';
import { decideRecipient, parseDomainList } from './core/inbound/recipients.ts';
import { propagationStage } from './compliance/propagation.ts';
import type { SuppressionSink } from './compliance/sink-port.ts';
import { createComplianceLogSink, createCrmSuppressionSink, createRecordingSuppressionSink, createWarehouseTableSink } from './compliance/sinks.ts';
import { registerReviewRoutes } from './api/routes/review.ts';
import { registerDeliverabilityRoutes } from './api/routes/deliverability.ts';
import { registerTrackingRoutes } from './api/routes/tracking.ts';
import { registerWebhookRoutes } from './api/routes/webhooks.ts';
import { createWebhookVerifiers } from './composition/webhook-verifiers.ts';
import type { WebhookSecrets } from './connectors/webhook-port.ts';
import { confirmSubscription } from './connectors/esp/ses/subscription.ts';
import { createSnsCertificateLoader } from './connectors/esp/ses/cert-loader.ts';
import { createWebhookReplayGuard } from './reactions/webhook-replay.ts';
import { createGovernor, type Governor, type GovernorOptions } from './deliverability/governor.ts';
import { createAlertHandler } from './deliverability/campaign-pauses.ts';
import { governorReactionsStage } from './deliverability/reactions-stage.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;


/** The CLI's `webhooks verify` builds its registry with this, as the HTTP routes' is built here. */
export { createWebhookVerifiers };

export interface App {
  config: Config;
  log: Logger;
  clock: Clock;
  db: Db;
  bus: Bus;
  metrics: Metrics;
  /** The internet-facing listener: health, tracking, one-click unsubscribe, webhooks. */
  publicServer: FastifyInstance;
  /** The private listener: /v1 (API keys required), /docs, /openapi.json, /metrics, health. */
  adminServer: FastifyInstance;
  keys: KeyService;
  audit: AuditLog;
  stages: StageDefinition[];
  esp: Esp;
  crm: Crm;
  campaigns: CampaignService;
  ingest: Ingest;
  /** Deliverability governor used by the send stage (one per process). */
  governor: Governor;
  /** Builds consumers for the named stages (all when omitted) and starts them. */
  startWorkers(only?: readonly string[]): Consumer[];
  /** Opens both HTTP listeners; resolves to the URL of each. */
  listen(): Promise<{ publicUrl: string; adminUrl: string }>;
  /** First start: creates an admin key and its file in the data directory when no active admin key exists. */
  ensureLocalAdminKey(): Promise<LocalKeyOutcome>;
  /** Opens the inbound SMTP listener (bounces, complaints, replies); resolves to its port, or null when disabled. */
  listenInbound(): Promise<number | null>;
  close(): Promise<void>;
}

export interface AppOptions {
  clock?: Clock;
  log?: Logger;
  /** An already opened (and migrated) store, e.g. one shared by a test file. */
  db?: Db;
  /** Use this ESP instead of the configured one (tests, benchmarks). */
  esp?: (deps: { clock: Clock; ingest: Ingest }) => Esp;
  /** Audience resolution override (tests). */
  openWarehouse?: (audience: Audience) => Warehouse;
  newId?: () => string;
  /** Deliverability governor options (rates, breakers, warm-up); defaults per docs/deliverability.md. */
  governor?: GovernorOptions;
}

/** The tracking secret(s): configured, or generated once into the data directory (local use). */
export function trackingSecrets(config: Config): string[] {
  if (config.raw.SWITCHYARD_TRACKING_SECRET !== undefined) return config.raw.SWITCHYARD_TRACKING_SECRET.split(',').map((x) => x.trim()).filter(Boolean);
  const file = join(config.dataDir, 'tracking-secret');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  }
  return [readFileSync(file, 'utf8').trim()];
}

/** One ESP adapter by name, from config; `apiKey` is the key of its role (primary / secondary). */
function createEspNamed(name: RawConfig['SWITCHYARD_ESP'], apiKey: string | undefined, config: Config, deps: { clock: Clock; ingest: Ingest }): Esp {
  const raw = config.raw;
  const need = <T>(value: T | undefined, key: string): T => {
    if (value === undefined) throw new SwitchyardError('CONFIG_INVALID', `${key}: required for the ${name} ESP`);
    return value;
  };
  switch (name) {
    case 'sandbox':
      return createSandboxEsp({ clock: deps.clock, emit: async (events) => { await deps.ingest(events); } }, { flushEveryMs: 1000 });
    case 'smtp': {
      const url = new URL(need(raw.SWITCHYARD_SMTP_URL, 'SWITCHYARD_SMTP_URL'));
      const dkim = raw.SWITCHYARD_DKIM_DOMAIN && raw.SWITCHYARD_DKIM_SELECTOR && raw.SWITCHYARD_DKIM_PRIVATE_KEY
        ? { domainName: raw.SWITCHYARD_DKIM_DOMAIN, keySelector: raw.SWITCHYARD_DKIM_SELECTOR, privateKey: raw.SWITCHYARD_DKIM_PRIVATE_KEY } : undefined;
      return createSmtpEsp({ clock: deps.clock }, {
        host: url.hostname, port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 587)), secure: url.protocol === 'smtps:',
        ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
        pool: { maxConnections: raw.SWITCHYARD_SMTP_POOL_SIZE, maxMessages: 1000 }, dkim, commitWindow: raw.SWITCHYARD_SMTP_COMMIT_WINDOW,
      });
    }
    case 'sendgrid':
      return createSendGridEsp({ clock: deps.clock }, { apiKey: need(apiKey, 'API key') });
    case 'mailgun':
      return createMailgunEsp({ clock: deps.clock }, { apiKey: need(apiKey, 'API key'), domain: need(raw.SWITCHYARD_MAILGUN_DOMAIN, 'SWITCHYARD_MAILGUN_DOMAIN'), region: raw.SWITCHYARD_MAILGUN_REGION });
    case 'ses':
      return createSesEsp({ clock: deps.clock }, {
        region: need(raw.SWITCHYARD_SES_REGION, 'SWITCHYARD_SES_REGION'),
        credentials: { accessKeyId: need(raw.SWITCHYARD_SES_ACCESS_KEY_ID, 'SWITCHYARD_SES_ACCESS_KEY_ID'), secretAccessKey: need(raw.SWITCHYARD_SES_SECRET_ACCESS_KEY, 'SWITCHYARD_SES_SECRET_ACCESS_KEY') },
        ...(raw.SWITCHYARD_SES_CONFIGURATION_SET ? { configurationSetName: raw.SWITCHYARD_SES_CONFIGURATION_SET } : {}),
      });
    case 'postmark':
      return createPostmarkEsp({ clock: deps.clock }, { serverToken: need(apiKey, 'API key'), messageStream: raw.SWITCHYARD_POSTMARK_MESSAGE_STREAM });
  }
}

/**
 * The ESP of the send stage: SWITCHYARD_ESP, wrapped in failover to SWITCHYARD_ESP_SECONDARY when
 * that is set (src/deliverability/failover-esp.ts; switches are logged).
 */
export function createConfiguredEsp(config: Config, deps: { clock: Clock; ingest: Ingest; log?: Logger }): Esp {
  const raw = config.raw;
  const primary = createEspNamed(raw.SWITCHYARD_ESP, raw.SWITCHYARD_ESP_API_KEY, config, deps);
  if (raw.SWITCHYARD_ESP_SECONDARY === undefined) return primary;
  const secondary = createEspNamed(raw.SWITCHYARD_ESP_SECONDARY, raw.SWITCHYARD_ESP_SECONDARY_API_KEY, config, deps);
  return createFailoverEsp(primary, secondary, {
    clock: deps.clock, failureThreshold: raw.SWITCHYARD_FAILOVER_THRESHOLD, coolDownMs: raw.SWITCHYARD_FAILOVER_COOLDOWN_MS,
    onSwitch: (to, reason) => deps.log?.warn({ esp: to === 'primary' ? primary.name : secondary.name, reason }, `ESP failover: now sending through the ${to} (${reason})`),
  });
}

/**
 * Where a suppression must also be recorded (propagation confirms each): the ESP's own list, the
 * CRM opt-out field, the warehouse table and the compliance log. The sandbox ESP records in
 * memory; SMTP relays keep no list of their own, so Switchyard's list is the ESP's and confirms
 * at once. HTTP ESP suppression APIs are not wired yet (their rows stay pending, visibly).
 */
function suppressionSinks(config: Config, deps: { db: Db; clock: Clock; crm: Crm }): SuppressionSink[] {
  const esp: SuppressionSink[] = config.raw.SWITCHYARD_ESP === 'sandbox' ? [createRecordingSuppressionSink('esp')]
    : config.raw.SWITCHYARD_ESP === 'smtp' ? [{ name: 'esp', suppress: async (items) => ({ confirmed: items.map((i) => i.email) }) }]
    : [];
  return [...esp, createCrmSuppressionSink(deps.crm), createWarehouseTableSink(deps), createComplianceLogSink(deps)];
}

/** Governor options from config: the ESP accounts' send-rate limits (the rest uses the defaults). */
export function governorOptions(config: Config): GovernorOptions {
  const raw = config.raw;
  const providers: Record<string, { ratePerSec: number }> = {};
  if (raw.SWITCHYARD_ESP_RATE_PER_SEC !== undefined) providers[raw.SWITCHYARD_ESP] = { ratePerSec: raw.SWITCHYARD_ESP_RATE_PER_SEC };
  if (raw.SWITCHYARD_ESP_SECONDARY !== undefined && raw.SWITCHYARD_ESP_SECONDARY_RATE_PER_SEC !== undefined) {
    providers[raw.SWITCHYARD_ESP_SECONDARY] = { ratePerSec: raw.SWITCHYARD_ESP_SECONDARY_RATE_PER_SEC };
  }
  return { providers };
}

/** Webhook verification keys from config; a vendor without keys refuses every request (401). */
export function webhookSecrets(config: Config): WebhookSecrets {
  const raw = config.raw;
  const secrets: WebhookSecrets = {};
  if (raw.SWITCHYARD_SENDGRID_WEBHOOK_PUBLIC_KEY) secrets.sendgrid = { publicKey: raw.SWITCHYARD_SENDGRID_WEBHOOK_PUBLIC_KEY };
  if (raw.SWITCHYARD_MAILGUN_SIGNING_KEY) secrets.mailgun = { signingKey: raw.SWITCHYARD_MAILGUN_SIGNING_KEY };
  if (raw.SWITCHYARD_STRIPE_WEBHOOK_SECRET) secrets.stripe = { signingSecret: raw.SWITCHYARD_STRIPE_WEBHOOK_SECRET };
  if (raw.SWITCHYARD_POSTMARK_WEBHOOK_AUTH) {
    const i = raw.SWITCHYARD_POSTMARK_WEBHOOK_AUTH.indexOf(':');
    secrets.postmark = { username: raw.SWITCHYARD_POSTMARK_WEBHOOK_AUTH.slice(0, i), password: raw.SWITCHYARD_POSTMARK_WEBHOOK_AUTH.slice(i + 1) };
  }
  if (raw.SWITCHYARD_SES_TOPIC_ARNS) {
    const pinned = raw.SWITCHYARD_SES_CERT_FILE === undefined ? undefined : [readFileSync(raw.SWITCHYARD_SES_CERT_FILE, 'utf8')];
    secrets.ses = {
      topicArns: raw.SWITCHYARD_SES_TOPIC_ARNS.split(',').map((x) => x.trim()),
      ...(pinned ? { trustedCertificates: pinned } : { loadCertificate: createSnsCertificateLoader({ fetch, clock: createSystemClock() }) }),
    };
  }
  return secrets;
}

function warehouseOpener(config: Config): (audience: Audience) => Warehouse {
  // refused at start when a directory would expose the data directory or the system
  const csvDirs = resolveCsvDirs(config.audiences.csvDirs, config.dataDir).dirs;
  const { statementTimeoutMs, lockTimeoutMs } = config.audiences;
  return (audience) => {
    switch (audience.source) {
      case 'demo':
        // refused at create and validate (both open the source), so the answer is a 400 naming the key
        if (!config.demo) throw new SwitchyardError('CAMPAIGN_INVALID', 'audience source "demo" is off: SWITCHYARD_DEMO is false');
        return createDemoWarehouse({ size: audience.size ?? config.raw.SWITCHYARD_DEMO_SIZE, seed: audience.seed });
      case 'csv': return createCsvWarehouse({ path: audience.path, allowedDirs: csvDirs, mapping: audience.mapping, ...(audience.delimiter ? { delimiter: audience.delimiter } : {}) });
      case 'postgres': {
        const url = config.raw.SWITCHYARD_WAREHOUSE_URL;
        if (url === undefined) throw new SwitchyardError('CAMPAIGN_INVALID', 'audience source "postgres" needs SWITCHYARD_WAREHOUSE_URL');
        return createPostgresWarehouse({ url, mapping: audience.mapping, orderBy: audience.orderBy, statementTimeoutMs, lockTimeoutMs });
      }
    }
  };
}

/** SWITCHYARD_*TRUST_PROXY → Fastify's trustProxy: true, or the proxies' addresses / CIDRs. */
function trustProxySetting(value: string): boolean | string {
  return value === 'true' ? true : value;
}

/** The one place that reads the process environment. */
export function loadConfigFromProcess(configFile = 'switchyard.config.json'): Config {
  return loadConfig(process.env, readConfigFile(configFile));
}

export async function openStore(config: Config): Promise<Db> {
  return config.store.kind === 'postgres'
    ? createPostgresDb({ url: config.store.url })
    : createPgliteDb({ dataDir: config.store.dataDir });
}

/** The access service on the store alone, for the CLI's key and audit commands (no server, no workers). */
export async function openAccess(config: Config): Promise<{ keys: KeyService; audit: AuditLog; close(): Promise<void> }> {
  const db = await openStore(config);
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  const clock = createSystemClock();
  const audit = createAuditLog({ db, clock });
  return { keys: createKeyService({ db, clock, audit }), audit, close: () => db.close() };
}

export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const log = options.log ?? createLogger(config.logLevel);
  const clock = options.clock ?? createSystemClock();
  const db = options.db ?? await openStore(config);
  const ownsDb = options.db === undefined;
  try {
    await migrate(db);
  } catch (err) {
    if (ownsDb) await db.close().catch(() => undefined);
    throw err;
  }
  const bus = createPostgresLogBus({ db, clock });
  const ingest = createIngest({ db, bus, clock });
  const esp = (options.esp ?? ((d) => createConfiguredEsp(config, { ...d, log })))({ clock, ingest });
  // the demo CRM is the only CRM adapter, so it is wired whatever SWITCHYARD_DEMO says; it is local
  // tables: give it a batch size and rate a real vendor would not allow
  await ensureDemoCrmSchema(db);
  const crm = createCrmBatcher(createDemoCrm({ db, clock }, { maxBatchSize: 1000, rateLimit: { requests: 1000, perMs: 1000 } }), { clock });
  const templates = createTemplateCache(64, { renderMs: config.raw.SWITCHYARD_TEMPLATE_RENDER_LIMIT_MS, memory: config.raw.SWITCHYARD_TEMPLATE_MEMORY_LIMIT });
  const render: RenderSettings = { trackingBaseUrl: config.http.publicUrl, trackingSecrets: trackingSecrets(config), returnPathDomain: config.raw.SWITCHYARD_RETURN_PATH_DOMAIN };
  const openWarehouse = options.openWarehouse ?? warehouseOpener(config);
  const campaigns = createCampaignService({ db, bus, clock, templates, render, openWarehouse, newId: options.newId ?? (() => `cmp_${randomBytes(6).toString('hex')}`),
    deliverability: (id) => governor.status().campaigns.find((c) => c.scope.campaignId === id) ?? null });
  // After the campaign service: the governor's alerts change campaign state through it (the
  // service reads the governor's status only when asked).
  const governor = createGovernor({ clock, onAlert: createAlertHandler({ campaigns, log }) }, options.governor ?? governorOptions(config));
  const metrics = createMetrics({ bus, governor });
  const blastDeps = { db, bus, clock, log, openWarehouse, crm, templates };
  const stages: StageDefinition[] = [
    ...blastEarlyStages(blastDeps),
    sendStage({ db, bus, clock, log, esp, templates, render, maxAttempts: config.worker.maxAttempts, leaseMs: config.worker.leaseMs, governor }),
    governorReactionsStage({ campaigns, governor, defaultProvider: esp.name }),
    ledgerOutcomeStage({ db, clock }),
    engagementStage({ db, clock, crm, log }),
    clicksStage({ bus }),
    softBounceStage({ db, bus, clock }),
    repliesStage({ db, clock, crm, ingest, log }),
    propagationStage({ db, clock, log, sinks: suppressionSinks(config, { db, clock, crm }) }),
    // publishes what ingest committed to the outbox but could not publish itself (crash, bus down)
    { name: 'outbox', consumers: [], loops: [(signal) => runOutboxRelay({ db, bus, clock, log }, signal)] },
  ];
  stages.find((s) => s.name === 'prepare')!.loops = [(signal) => runDispatcher({ db, bus, clock, log }, signal)];
  const unsubscribe = createUnsubscriber({ db, ingest });
  const adminRoutes: RouteRegistrar[] = [
    registerCampaignRoutes(campaigns),
    registerReviewRoutes({ db, clock, crm, ingest }),
    registerDeliverabilityRoutes({ governor }),
  ];
  const publicRoutes: RouteRegistrar[] = [
    (app) => registerWebhookRoutes(app, {
      verifiers: createWebhookVerifiers(webhookSecrets(config)), ingest, deadLetters: bus.deadLetters, clock,
      replay: createWebhookReplayGuard({ db, clock }), refused: metrics.webhookRefused,
      maxBodyBytes: config.raw.SWITCHYARD_WEBHOOK_MAX_BYTES, confirmSnsSubscription: (url) => confirmSubscription(url, fetch),
    }),
    (app) => registerTrackingRoutes(app, {
      secrets: render.trackingSecrets as string[], clock,
      record: async (event) => { await ingest([event]); },
      unsubscribe: async (u) => { await unsubscribe(u); },
      template: async (campaignId) => templates.get(await campaigns.get(campaignId)),
    }),
  ];

  const audit = createAuditLog({ db, clock });
  const keys = createKeyService({ db, clock, audit });
  const serverDeps = { log, db, bus, metrics, version: VERSION, bodyLimit: config.raw.SWITCHYARD_WEBHOOK_MAX_BYTES };
  const publicServer = await createPublicServer({
    ...serverDeps, guards: { options: publicGuardOptions(config.raw), clock },
    ...(config.raw.SWITCHYARD_TRUST_PROXY === undefined ? {} : { trustProxy: trustProxySetting(config.raw.SWITCHYARD_TRUST_PROXY) }),
  }, publicRoutes);
  const adminServer = await createAdminServer({
    ...serverDeps, keys, audit, guards: { options: adminGuardOptions(config.raw, config.admin.port), clock },
    ...(config.raw.SWITCHYARD_ADMIN_TRUST_PROXY === undefined ? {} : { trustProxy: trustProxySetting(config.raw.SWITCHYARD_ADMIN_TRUST_PROXY) }), ...(config.raw.SWITCHYARD_METRICS_TOKEN === undefined ? {} : { metricsToken: config.raw.SWITCHYARD_METRICS_TOKEN }),
  }, adminRoutes);
  const running: Consumer[] = [];
  const raw = config.raw;
  const inboundPolicy = { domains: parseDomainList(raw.SWITCHYARD_INBOUND_DOMAINS ?? raw.SWITCHYARD_RETURN_PATH_DOMAIN), verpSecrets: render.trackingSecrets };
  const inbound = createInboundSmtpListener({
    log,
    acceptRecipient: (address) => decideRecipient(address, inboundPolicy).accept,
    onMessage: createInboundHandler({ db, findSentMessages: campaigns.findSentMessages, ingest, deadLetters: bus.deadLetters, clock, verpSecrets: render.trackingSecrets }),
  }, { host: config.http.host, port: raw.SWITCHYARD_INBOUND_SMTP_PORT, maxMessageBytes: 10 * 1024 * 1024, maxRecipients: raw.SWITCHYARD_INBOUND_MAX_RECIPIENTS,
    maxConnectionsPerIp: raw.SWITCHYARD_INBOUND_MAX_CONNECTIONS_PER_IP, maxConnections: raw.SWITCHYARD_INBOUND_MAX_CONNECTIONS, socketTimeoutMs: raw.SWITCHYARD_INBOUND_SOCKET_TIMEOUT_MS });
  let inboundOpen = false;
  const loops = new AbortController();
  const loopRuns: Promise<void>[] = [];

  return {
    config, log, clock, db, bus, metrics, publicServer, adminServer, keys, audit, stages, esp, crm, campaigns, ingest, governor,
    startWorkers(only) {
      const unknown = (only ?? []).filter((n) => !stages.some((s) => s.name === n));
      // a typo in `worker --stage` is bad configuration (exit 2), not a crash with a stack trace
      if (unknown.length > 0) throw new SwitchyardError('CONFIG_INVALID', `unknown stage ${unknown.join(', ')}; stages: ${stages.map((s) => s.name).join(', ')}`);
      const picked = stages.filter((s) => only === undefined || only.includes(s.name));
      const consumers = picked.flatMap((s) => s.consumers.map((c) => createConsumer({ bus, clock, log, metrics: metrics.consumer }, {
        batchSize: config.worker.batchSize, concurrency: config.worker.concurrency, maxAttempts: config.worker.maxAttempts, leaseMs: config.worker.leaseMs, ...c.options,
      }, c.handler as Handler<unknown>)));
      for (const c of consumers) c.start();
      running.push(...consumers);
      for (const s of picked) for (const loop of s.loops ?? []) loopRuns.push(loop(loops.signal));
      return consumers;
    },
    async listen() {
      const publicUrl = await publicServer.listen({ port: config.http.port, host: config.http.host });
      const adminUrl = await adminServer.listen({ port: config.admin.port, host: config.admin.host });
      return { publicUrl, adminUrl };
    },
    ensureLocalAdminKey: () => ensureLocalAdminKey(keys, config.dataDir),
    async listenInbound() {
      if (config.raw.SWITCHYARD_INBOUND_SMTP_PORT === 0) return null;
      const { port } = await inbound.listen();
      inboundOpen = true;
      return port;
    },
    async close() {
      loops.abort();
      if (inboundOpen) await inbound.close();
      await Promise.all(running.splice(0).map((c) => c.stop()));
      await Promise.all(loopRuns.splice(0));
      await esp.close();
      await Promise.all([publicServer.close(), adminServer.close()]);
      await bus.close();
      if (ownsDb) await db.close();
    },
  };
}
