/**
 * Composition root: reads config once, opens the store, picks adapters, builds services and their
 * bus stages, and hands them to the two HTTP servers (public and admin) and the workers. Each
 * service gets its own configuration slice; building adapters from a slice lives in
 * src/composition/. The only place in src/ that imports adapters, and the only one that reads
 * process.env.
 */
import { setMaxListeners } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { RouteRegistrar } from './api/server.ts';
import { createAuditLog, type AuditLog } from './access/audit.ts';
import { createKeyService, type KeyService } from './access/keys.ts';
import { ensureLocalAdminKey, type LocalKeyOutcome } from './access/local-key.ts';
import { createConsumer, type Consumer, type Handler } from './bus/consumer.ts';
import type { StageDefinition } from './bus/stage.ts';
import type { Bus } from './bus/port.ts';
import { createPostgresLogBus } from './bus/postgres-log/adapter.ts';
import { createNatsBus } from './bus/nats/adapter.ts';
import type { Clock } from './clock/port.ts';
import { createSystemClock } from './clock/system.ts';
import { loadConfig, readConfigFile, type Config } from './config.ts';
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
import { runAbDecider } from './campaigns/ab-test.ts';
import { runOutboxRelay } from './bus/outbox.ts';
import { blastEarlyStages } from './campaigns/stages.ts';
import { createTemplateCache, type RenderSettings } from './campaigns/template-cache.ts';
import type { Audience } from './campaigns/types.ts';
import type { Crm } from './connectors/crm/port.ts';
import type { Esp } from './connectors/esp/port.ts';
import type { Warehouse } from './connectors/warehouse/port.ts';
import { SwitchyardError } from './core/errors.ts';
import { createIngest, type Ingest } from './reactions/ingest.ts';
import { ledgerOutcomeStage } from './campaigns/outcome-stage.ts';
import { createTopicUnsubscriber, createUnsubscriber } from './reactions/unsubscribe.ts';
import { engagementStage } from './reactions/engagement-stage.ts';
import { createProfileCache } from './crm-profiles/cache.ts';
import { profileChangesStage } from './crm-profiles/changes.ts';
import { clicksStage } from './reactions/clicks-stage.ts';
import { createMessageService, type MessageService } from './messages/service.ts';
import { registerMessageRoutes } from './api/routes/messages.ts';
import { createJourneyService, type JourneyService } from './journeys/service.ts';
import { createJourneyDispatcher, type JourneyDispatcher } from './journeys/dispatcher.ts';
import { createStoreContacts } from './journeys/contacts.ts';
import { journeysStage } from './journeys/triggers.ts';
import { runDateTriggers } from './journeys/date-triggers.ts';
import { registerJourneyRoutes } from './api/routes/journeys.ts';
import { softBounceStage } from './reactions/soft-bounce-stage.ts';
import { repliesStage } from './reactions/replies-stage.ts';
import { propagationStage } from './compliance/propagation.ts';
import { createComplianceLogSink, createWarehouseTableSink } from './compliance/sinks.ts';
import { registerReviewRoutes } from './api/routes/review.ts';
import { registerDeliverabilityRoutes } from './api/routes/deliverability.ts';
import { registerTrackingRoutes } from './api/routes/tracking.ts';
import { registerWebhookRoutes } from './api/routes/webhooks.ts';
import { createContactChangePublisher, createConfiguredCrm } from './composition/crm.ts';
import { registerCrmWebhookRoutes } from './api/routes/crm-webhooks.ts';
import { registerChangeRoutes } from './api/routes/changes.ts';
import { registerListRoutes } from './api/routes/lists.ts';
import { createListAudience } from './lists/audience.ts';
import { createListService, type ListService } from './lists/service.ts';
import { createProfileService, type ProfileService } from './profiles/service.ts';
import { profileStages } from './profiles/stages.ts';
import { createWarehouseFeed } from './profiles/warehouse-feed.ts';

import { registerBillingWebhookRoutes } from './api/routes/billing-webhooks.ts';
import { type BillingService, createBillingService } from './billing/service.ts';
import { type BillingReaders, createBillingReaders } from './composition/billing.ts';
import { type AttributionService, createAttributionService } from './attribution/service.ts';
import { registerAttributionRoutes } from './api/routes/attribution.ts';
import { type AnomalyService, createAnomalyService } from './anomalies/service.ts';
import { registerAnomalyRoutes } from './api/routes/anomalies.ts';
import { registerReportRoutes } from './api/routes/reports.ts';
import { createReportService, type ReportService } from './reports/service.ts';
import { stripeRevenueFacts } from './connectors/billing/stripe/revenue.ts';
import { registerCrmGauges } from './observability/crm-metrics.ts';
import { createConfiguredEsp, espSuppressionSinks } from './composition/esp.ts';
import { createInboundListener } from './composition/inbound.ts';
import { createListeners } from './composition/listeners.ts';
import { trackingSecrets } from './composition/tracking-secrets.ts';
import { createConfiguredPrivacy } from './composition/pii-keys.ts';
import { createComplianceRoad, type ComplianceRoad } from './composition/compliance.ts';
import { registerComplianceRoutes } from './api/routes/compliance.ts';
import { registerCompliancePages } from './api/routes/compliance-pages.ts';
import type { Privacy } from './privacy/service.ts';
import { createErasure, type EraseSubject } from './privacy/erasure.ts';
import { profileFeedSource, warehouseOpener } from './composition/warehouses.ts';
import { webhookSecrets } from './composition/webhook-secrets.ts';
import { createWebhookVerifiers } from './composition/webhook-verifiers.ts';
import { confirmSubscription } from './connectors/esp/ses/subscription.ts';
import { createWebhookReplayGuard } from './reactions/webhook-replay.ts';
import { createGovernor, type Governor, type GovernorOptions } from './deliverability/governor.ts';
import { createBreakerSync, createFleetLeases, type FleetLeaseOptions } from './deliverability/governor-fleet.ts';
import { createGovernorPersistence } from './deliverability/governor-persistence.ts';
import { createAlertHandler } from './deliverability/campaign-pauses.ts';
import { governorReactionsStage } from './deliverability/reactions-stage.ts';
import { createProcessInstance, newInstanceId } from './recovery/instances.ts';
import { createMetricsHistory, type MetricsHistory } from './api/dashboard/metrics-history.ts';
import { createDashboardSessions } from './api/dashboard/sessions.ts';
import { registerDashboardAssets } from './api/routes/dashboard-assets.ts';
import { registerDashboardRoutes } from './api/routes/dashboard.ts';
import { demoCampaign } from './demo/campaign.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

/**
 * Stages that exist only when their source is configured (warehouse profile feed, CRM change
 * polling, billing table, CRM deal polling); `worker --stage` names them without error where they are not.
 */
export const OPTIONAL_STAGES: readonly string[] = ['profile-feed', 'crm-changes', 'billing-table', 'crm-deals'];

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
  /** Transactional sends (POST /v1/messages). */
  messages: MessageService;
  journeys: JourneyService;
  /** Moves journey runs that are due (the `journeys` stage runs it in a loop; tests call runOnce). */
  journeyDispatcher: JourneyDispatcher;
  /** Dynamic and static lists over the contact profiles. */
  lists: ListService;
  /** Switchyard's own contact profiles (fed by changes, the CRM and our reactions). */
  profiles: ProfileService;
  ingest: Ingest;
  /** Revenue in (billing events, identity links) and attribution reports. */
  billing: BillingService;
  /** Revenue pulled in: the Stripe backfill (composition/billing.ts). */
  billingReaders: BillingReaders;
  attribution: AttributionService;
  /** The anomaly detector over engagement and revenue series, its alerts (the `anomalies` stage runs it). */
  anomalies: AnomalyService;
  /** Executive reports on their cron schedules (the `reports` stage), or one now. */
  reports: ReportService;
  /** The one module personal data goes through: sealing per subject, blind index, shredding (src/privacy/). */
  privacy: Privacy;
  /** Consent ledger, double opt-in, data-subject requests and their fan-out runner. */
  compliance: ComplianceRoad;
  /** Erases one subject from Switchyard's own store (shred, fingerprint, plain-text scrub): the DSR step. */
  erase: EraseSubject;
  /** Where a suppression propagates (the names of the propagation sinks; no 'crm' without a CRM). */
  suppressionSystems: readonly string[];
  /** Deliverability governor used by the send stage (one per process). */
  governor: Governor;
  /** The dashboard System page's last hour, sampled while the listeners are open. */
  metricsHistory: MetricsHistory;
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
  /** Rate budgets shared by every send process (governor-fleet.ts): on by default on PostgreSQL,
   *  where several processes may send; false keeps them per process; an object sets block sizes. */
  governorFleet?: boolean | FleetLeaseOptions;
  /**
   * false: the blast road writes ledger addresses unsealed. Only `npm run bench -- blast` sets it, for
   * the baseline its `pii_ratio` is measured against; it is not a configuration key.
   */
  piiAtRest?: boolean;
}

/** The one place that reads the process environment. */
export function loadConfigFromProcess(configFile = 'switchyard.config.json'): Config {
  return loadConfig(process.env, readConfigFile(configFile));
}

export async function openStore(config: Pick<Config, 'store'>): Promise<Db> {
  return config.store.kind === 'postgres'
    ? createPostgresDb({ url: config.store.url })
    : createPgliteDb({ dataDir: config.store.dataDir });
}

/** The access service on the store alone, for the CLI's key and audit commands (no server, no workers). */
export async function openAccess(
  config: Config,
): Promise<{ keys: KeyService; audit: AuditLog; close(): Promise<void> }> {
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
  const db = options.db ?? (await openStore(config));
  const ownsDb = options.db === undefined;
  try {
    await migrate(db);
  } catch (err) {
    if (ownsDb) await db.close().catch(() => undefined);
    throw err;
  }
  const instanceId = newInstanceId();
  const bus =
    config.bus.kind === 'nats'
      ? createNatsBus({ db, clock, url: config.bus.servers }, { prefix: config.bus.prefix })
      : createPostgresLogBus({ db, clock, instanceId });
  const privacy = createConfiguredPrivacy(config, { db, clock });
  const pii = options.piiAtRest === false ? undefined : privacy;
  const ingest = createIngest({
    db,
    bus,
    clock,
    ...(pii ? { openAddresses: pii.openMany, sealValues: pii.sealMany } : {}),
  });
  const esp = (options.esp ?? ((d) => createConfiguredEsp(config.esp, { ...d, log, db })))({ clock, ingest });
  // the demo workspace's CRM closes simulated deals, so its attribution pages have revenue to show
  const configured = await createConfiguredCrm(config.crm, { db, clock }, { simulateDeals: config.demo.enabled });
  const { crm, sinks: crmSinks, usage: crmUsage, changeFeed: crmChangeFeed, lookupBatchSize } = configured;
  // blasts read enrichment from the profile cache; only a real CRM has profiles to keep
  const profiles =
    lookupBatchSize === undefined
      ? undefined
      : createProfileCache({ db, clock, crm }, { maxAgeMs: config.crmProfiles.maxAgeMs, batchSize: lookupBatchSize });
  const templates = createTemplateCache(64, config.templates);
  const render: RenderSettings = {
    trackingBaseUrl: config.http.publicUrl,
    trackingSecrets: trackingSecrets(config),
    returnPathDomain: config.tracking.returnPathDomain,
  };
  // Switchyard's own contact profiles and the lists evaluated on them (src/profiles/, src/lists/)
  const lists = createListService({ db, bus, clock, log });
  const contactProfiles = createProfileService({ db, bus, clock, log, lists });
  const feedSource = profileFeedSource(config);
  const feedConfig = config.profiles.feed;
  const profileFeed =
    feedSource === undefined || feedConfig === undefined
      ? undefined
      : createWarehouseFeed(
          { db, clock, log, profiles: contactProfiles, deadLetters: bus.deadLetters, source: feedSource },
          {
            name: feedConfig.spec.name,
            intervalMs: feedConfig.intervalMs,
            lagMs: feedConfig.lagMs,
            batchSize: feedConfig.batchSize,
          },
        );
  const openWarehouse =
    options.openWarehouse
    ?? warehouseOpener(config, (listId) => createListAudience({ db, now: () => clock.now() }, listId));
  // heavy report reads (a campaign's ledger counts) go to the replica when there is one
  const replica = config.replica === undefined ? undefined : await createPostgresDb({ url: config.replica.url });
  const campaigns = createCampaignService({
    db,
    ...(replica === undefined ? {} : { reportDb: replica }),
    bus,
    clock,
    templates,
    render,
    openWarehouse,
    newId: options.newId ?? (() => `cmp_${randomBytes(6).toString('hex')}`),
    deliverability: (id) => governor.status().campaigns.find((c) => c.scope.campaignId === id) ?? null,
    ...(pii ? { pii } : {}),
    // A/B tests on revenue read attribution's net revenue per contact (built below)
    revenueOf: (ids, since) => attribution.netRevenueByContact(ids, since),
  });
  // After the campaign service: the governor's alerts change campaign state through it (the
  // service reads the governor's status only when asked).
  const fleetOption = options.governorFleet ?? db.kind === 'postgres';
  const governor = createGovernor(
    {
      clock,
      onAlert: createAlertHandler({ campaigns, log }),
      ...(fleetOption === false ? {} : { fleet: createFleetLeases({ db }, fleetOption === true ? {} : fleetOption) }),
    },
    options.governor ?? config.deliverability,
  );
  // counters, rates and breakers survive a restart; saved by the send stage's loop (below)
  const governorState = createGovernorPersistence({ db, clock, governor, log });
  await governorState.load();
  const metrics = createMetrics({ bus, governor });
  if (crmUsage) registerCrmGauges(metrics.registry, crmUsage);
  const instance = createProcessInstance(
    { db, bus, clock, log, registry: metrics.registry },
    {
      id: instanceId,
      ...config.recovery,
    },
  );
  // consent ledger, double opt-in and data-subject requests (docs/compliance.md); before the blast road,
  // which reads the preference centre's per-topic choices from the ledger
  const compliance = createComplianceRoad(config, {
    db,
    clock,
    log,
    crm,
    esp,
    privacy,
    newId: () => randomBytes(8).toString('hex'),
  });
  let instanceStarted: Promise<void> | undefined;
  const blastDeps = {
    db,
    bus,
    clock,
    log,
    openWarehouse,
    crm,
    templates,
    geoOverrides: config.geo.overrides,
    topics: compliance.consent,
    ...(profiles ? { profiles } : {}),
    ...(pii ? { pii } : {}),
  };
  // every system a suppression must reach, each confirming it (src/compliance/propagation.ts)
  const suppressionSinks = [
    ...espSuppressionSinks(config.esp, { clock }),
    ...crmSinks,
    createWarehouseTableSink({ db, clock }),
    createComplianceLogSink({ db, clock }),
  ];
  const journeys = createJourneyService({ db, clock });
  // updateCrm steps need a CRM that keeps fields: none configured records them as skipped
  const journeyEffects = {
    webhookSecret: config.journeys.webhookSecret,
    lists,
    ...(crm.name === 'none' ? {} : { crm }),
  };
  const journeyDispatcher = createJourneyDispatcher(
    {
      db,
      bus,
      clock,
      log,
      contacts: createStoreContacts(db),
      effects: journeyEffects,
      owner: instanceId,
      eligibility: { geoOverrides: config.geo.overrides, topics: compliance.consent, ...(pii ? { pii } : {}) },
    },
    config.journeys,
  );

  const stages: StageDefinition[] = [
    ...blastEarlyStages(blastDeps),
    sendStage({
      db,
      bus,
      clock,
      log,
      esp,
      templates,
      render,
      maxAttempts: config.worker.maxAttempts,
      leaseMs: config.worker.leaseMs,
      governor,
      topics: compliance.consent,
      ...(pii ? { pii } : {}),
    }),
    governorReactionsStage({ campaigns, governor, defaultProvider: esp.name }),
    ledgerOutcomeStage({ db, clock }),
    engagementStage({ db, clock, crm, log, ...(pii ? { openPayloads: pii.openMany } : {}) }),
    profileChangesStage({ db, clock }),
    profileStages({
      db,
      bus,
      clock,
      log,
      lists,
      profiles: contactProfiles,
      timerIntervalMs: config.profiles.timerIntervalMs,
    }),
    clicksStage({ bus }),
    journeysStage({ db, clock, log, dispatcher: journeyDispatcher, effects: journeyEffects }, [
      (signal) => journeyDispatcher.run(signal),
      (signal) => runDateTriggers({ db, clock, log, dispatcher: journeyDispatcher }, signal),
    ]),
    softBounceStage({ db, bus, clock }),
    repliesStage({ db, clock, crm, ingest, log, ...(pii ? { pii } : {}) }),
    propagationStage({ db, clock, log, sinks: suppressionSinks }),
    // publishes what ingest committed to the outbox but could not publish itself (crash, bus down)
    { name: 'outbox', consumers: [], loops: [(signal) => runOutboxRelay({ db, bus, clock, log }, signal)] },
    // the DSR fan-out: claims due steps, escalates, completes, calls back (src/compliance/dsr/runner.ts)
    { name: 'dsr', consumers: [], loops: [(signal) => compliance.runner.run(signal)] },
    // the warehouse profile feed: polls SWITCHYARD_PROFILE_FEED by updated_at into the profiles
    ...(profileFeed === undefined ? [] : [{ name: 'profile-feed', consumers: [], loops: [profileFeed.run] }]),
    // a CRM without webhooks (Salesforce) is polled for changed contacts, published on contact.changed
    ...(crmChangeFeed
      ? [{ name: 'crm-changes', consumers: [], loops: [crmChangeFeed(createContactChangePublisher(bus), log)] }]
      : []),
  ];
  stages.find((s) => s.name === 'prepare')!.loops = [
    (signal) => runDispatcher({ db, bus, clock, log }, signal),
    (signal) =>
      runAbDecider(
        { db, bus, clock, log, revenueOf: (ids, since) => attribution.netRevenueByContact(ids, since) },
        signal,
      ),
  ];
  stages.find((s) => s.name === 'send')!.loops = [
    (signal) => governorState.run(signal),
    // breakers shared with the other send processes (pauses raised anywhere stop every sender)
    ...(fleetOption === false
      ? []
      : [(signal: AbortSignal) => createBreakerSync({ db, clock, governor, log }).run(signal)]),
  ];
  // attachments (a report's PDF) only where the ESP sends them
  const messages = createMessageService(
    { db, bus, clock },
    {
      ...config.messages,
      attachments: esp.supportsAttachments === true,
      ...(esp.maxAttachmentBytes === undefined ? {} : { maxAttachmentBytes: esp.maxAttachmentBytes }),
    },
  );
  const anomalies = createAnomalyService({ db, bus, clock, log, messages }, config.anomalies);
  // judges the engagement and revenue series on the clock, alerts through the outbox and the transactional lane
  stages.push({ name: 'anomalies', consumers: [], loops: [(signal) => anomalies.run(signal)] });

  const billing = createBillingService({ db, clock });
  const billingReaders = createBillingReaders(config, { db, clock, billing, deadLetters: bus.deadLetters, log, crm });
  if (billingReaders.tableLoop)
    stages.push({ name: 'billing-table', consumers: [], loops: [billingReaders.tableLoop] });
  // closed-won CRM deals as revenue, kept current by modification (amounts, reversals)
  if (billingReaders.dealLoop) stages.push({ name: 'crm-deals', consumers: [], loops: [billingReaders.dealLoop] });
  const attribution = createAttributionService({ db, billing, currency: config.attribution.currency });
  const reports = createReportService(
    { db, clock, log, attribution, anomalies, messages },
    {
      ...config.reports,
      attachPdf: esp.supportsAttachments === true,
      ...(esp.maxAttachmentBytes === undefined ? {} : { maxAttachmentBytes: esp.maxAttachmentBytes }),
    },
  );
  // executive reports on their cron schedules (HTML email with SVG charts, PDF), on the transactional lane
  stages.push({ name: 'reports', consumers: [], loops: [(signal) => reports.run(signal)] });

  const unsubscribe = createUnsubscriber({ db, ingest, ...(pii ? { pii } : {}) });
  const topicUnsubscriber = createTopicUnsubscriber({
    db,
    ...(pii ? { pii } : {}),
    withdraw: (email, topic, ctx) => compliance.doubleOptIn.setPreferences(email, { [topic]: false }, ctx),
  });
  const adminRoutes: RouteRegistrar[] = [
    registerAttributionRoutes({ attribution, billing }),
    registerAnomalyRoutes({ anomalies }),
    registerReportRoutes({ reports }),
    registerCampaignRoutes(campaigns),
    registerMessageRoutes(messages),
    registerJourneyRoutes(journeys),
    registerReviewRoutes({ db, clock, crm, ingest, ...(pii ? { pii } : {}) }),
    registerDeliverabilityRoutes({ governor }),
    registerListRoutes({ lists, profiles: contactProfiles }),

    registerComplianceRoutes({ dsr: compliance.dsr, consent: compliance.consent }),
  ];
  const audit = createAuditLog({ db, clock });
  const keys = createKeyService({ db, clock, audit });
  const sessions = createDashboardSessions({ db, clock });
  const metricsHistory = createMetricsHistory({ db, bus, clock, registry: metrics.registry });
  adminRoutes.push(
    registerDashboardRoutes({
      db,
      keys,
      sessions,
      history: metricsHistory,
      governor,
      campaigns,
      openWarehouse,
      demoSize: config.demo.size,
      async listNow(id) {
        const count = await lists.memberCount(id);
        for (const m of await lists.members(id, null, 20)) {
          const p = await contactProfiles.get(m.contactId);
          if (p?.email) return { count, first: { id: p.contactId, email: p.email, fields: p.attributes } };
        }
        return { count, first: undefined };
      },
      espName: esp.name,
      demoCampaign: config.demo.enabled ? () => demoCampaign() : null,
    }),
    registerDashboardAssets(new URL('../web/', import.meta.url)),
  );
  const webhookVerifiers = createWebhookVerifiers(webhookSecrets(config.webhooks));
  const publicRoutes: RouteRegistrar[] = [
    registerCompliancePages({ doubleOptIn: compliance.doubleOptIn, dsr: compliance.dsr }),
    (app) =>
      registerWebhookRoutes(app, {
        verifiers: webhookVerifiers,
        ingest,
        deadLetters: bus.deadLetters,
        clock,
        replay: createWebhookReplayGuard({ db, clock }),
        refused: metrics.webhookRefused,
        maxBodyBytes: config.webhooks.maxBodyBytes,
        confirmSnsSubscription: (url) => confirmSubscription(url, fetch),
      }),
    (app) =>
      registerBillingWebhookRoutes(app, {
        stripe: webhookVerifiers.stripe,
        facts: stripeRevenueFacts,
        record: (items) => billing.record(items),
        replay: createWebhookReplayGuard({ db, clock }),
        deadLetters: bus.deadLetters,
        refused: metrics.webhookRefused,
        clock,
        maxBodyBytes: config.webhooks.maxBodyBytes,
      }),
    (app) =>
      registerCrmWebhookRoutes(app, {
        hubspot: webhookVerifiers.hubspot,
        publishChanges: createContactChangePublisher(bus),
        deadLetters: bus.deadLetters,
        refused: metrics.webhookRefused,
        clock,
        maxBodyBytes: config.webhooks.maxBodyBytes,
        publicUrl: config.http.publicUrl,
      }),
    (app) =>
      registerChangeRoutes(app, {
        profiles: contactProfiles,
        secrets: config.profiles.changeSecrets,
        toleranceMs: config.profiles.toleranceMs,
        clock,
        deadLetters: bus.deadLetters,
        maxBodyBytes: config.webhooks.maxBodyBytes,
      }),
    (app) =>
      registerTrackingRoutes(app, {
        secrets: render.trackingSecrets as string[],
        clock,
        record: async (event) => {
          await ingest([event]);
        },
        unsubscribe: async (u) => {
          await unsubscribe(u);
        },
        template: async (campaignId) => templates.get(await campaigns.get(campaignId)),
        topics: topicUnsubscriber,
      }),
  ];

  const { publicServer, adminServer } = await createListeners(
    config,
    { log, db, bus, metrics, version: VERSION, clock, keys, audit, sessions },
    { public: publicRoutes, admin: adminRoutes },
  );
  const running: Consumer[] = [];
  const inbound = createInboundListener(config.inbound, {
    log,
    db,
    findSentMessages: campaigns.findSentMessages,
    ingest,
    deadLetters: bus.deadLetters,
    clock,
    verpSecrets: render.trackingSecrets,
    unsubscribe,
    ...(pii ? { pii } : {}),
    // mail to the privacy address is a DSR candidate for the review queue (docs/compliance.md)
    ...(config.compliance.inboundAddress === undefined ? {} : { privacyAddresses: [config.compliance.inboundAddress] }),
  });
  let inboundOpen = false;
  const loops = new AbortController();
  // every stage loop waits on this one signal (one or two listeners each, over twenty loops in all);
  // a real leak grows without bound and still warns at this limit
  setMaxListeners(100, loops.signal);
  const loopRuns: Promise<void>[] = [];

  return {
    config,
    log,
    clock,
    db,
    bus,
    metrics,
    publicServer,
    adminServer,
    keys,
    audit,
    stages,
    esp,
    crm,
    campaigns,
    messages,
    journeys,
    journeyDispatcher,
    lists,
    profiles: contactProfiles,
    ingest,
    billing,
    billingReaders,
    attribution,
    anomalies,
    reports,
    privacy,
    compliance,
    erase: createErasure({ db, privacy }),
    governor,
    metricsHistory,
    suppressionSystems: suppressionSinks.map((s) => s.name),
    startWorkers(only) {
      const absent = (only ?? []).filter((n) => !stages.some((s) => s.name === n));
      // a feed stage exists only where its source is configured; one manifest serves every workspace
      const unconfigured = absent.filter((n) => OPTIONAL_STAGES.includes(n));
      if (unconfigured.length > 0) log.info({ stages: unconfigured }, 'stages not configured here; not started');
      const unknown = absent.filter((n) => !OPTIONAL_STAGES.includes(n));
      // a typo in `worker --stage` is bad configuration (exit 2), not a crash with a stack trace
      if (unknown.length > 0)
        throw new SwitchyardError(
          'CONFIG_INVALID',
          `unknown stage ${unknown.join(', ')}; stages: ${stages.map((s) => s.name).join(', ')}`,
        );
      const picked = stages.filter((s) => only === undefined || only.includes(s.name));
      const consumers = picked.flatMap((s) =>
        s.consumers.map((c) =>
          createConsumer(
            { bus, clock, log, metrics: metrics.consumer },
            {
              batchSize: config.worker.batchSize,
              concurrency: config.worker.concurrency,
              maxAttempts: config.worker.maxAttempts,
              leaseMs: config.worker.leaseMs,
              ...c.options,
            },
            c.handler as Handler<unknown>,
          ),
        ),
      );
      for (const c of consumers) c.start();
      running.push(...consumers);
      for (const s of picked) for (const loop of s.loops ?? []) loopRuns.push(loop(loops.signal));
      // heartbeats, and hands the work of stopped processes to this one (src/recovery/instances.ts)
      const info = { role: only === undefined ? 'start' : 'worker', stages: picked.map((s) => s.name) };
      instanceStarted ??= instance.start(info).catch((err: unknown) => log.warn({ err }, 'instance not registered'));
      return consumers;
    },
    async listen() {
      const publicUrl = await publicServer.listen({ port: config.http.port, host: config.http.host });
      const adminUrl = await adminServer.listen({ port: config.admin.port, host: config.admin.host });
      loopRuns.push(metricsHistory.run(loops.signal));
      return { publicUrl, adminUrl };
    },
    ensureLocalAdminKey: () => ensureLocalAdminKey(keys, config.dataDir),
    async listenInbound() {
      if (config.inbound.port === 0) return null;
      const { port } = await inbound.listen();
      inboundOpen = true;
      return port;
    },
    async close() {
      loops.abort();
      if (inboundOpen) await inbound.close();
      await Promise.all(running.splice(0).map((c) => c.stop()));
      await Promise.all(loopRuns.splice(0));
      if (instanceStarted !== undefined) await instanceStarted.then(() => instance.stop());
      await esp.close();
      await Promise.all([publicServer.close(), adminServer.close()]);
      await lists.idle();
      await bus.close();
      await replica?.close();
      if (ownsDb) await db.close();
    },
  };
}
