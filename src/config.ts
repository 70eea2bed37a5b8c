/**
 * Configuration: read once at start from the environment and an optional switchyard.config.json
 * (same keys as the variables; the environment wins). Every key is declared in SCHEMA with its
 * type, default and meaning; docs/configuration.md lists the same keys (a test checks both ways).
 * loadConfig validates the keys and returns one frozen slice per service, with values already
 * parsed (URLs, comma lists) and derived defaults resolved, so the rest of src/ never sees a key
 * name. Secrets have no default and are never logged. Only app.ts hands the process environment
 * to loadConfig.
 */
import { readFileSync, existsSync } from 'node:fs';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SwitchyardError } from './core/errors.ts';
import { parseDomainList } from './core/inbound/recipients.ts';
import { type GeoRuleOverrides, parseGeoOverrides } from './core/geo-rules.ts';
import { type ProfileFeedSpec, parseProfileFeed } from './core/profile-feed.ts';
import { checkEmail } from './core/email-address.ts';
import { parseReportDefinitions, type ReportDefinition } from './reports/definitions.ts';

const Port = (description: string, def: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: def, description });
const Secret = (description: string) => Type.Optional(Type.String({ minLength: 1, description, secret: true }));

const ESPS = ['sandbox', 'smtp', 'sendgrid', 'mailgun', 'ses', 'postmark'] as const;
const CRMS = ['none', 'demo', 'hubspot', 'salesforce'] as const;
/** Roles SWITCHYARD_SALESFORCE_FIELDS may map (SalesforceFieldMap's keys besides `extra`). */
const SALESFORCE_ROLES = ['idField', 'accountStatus', 'tier', 'engagementScore', 'lastEngagedAt', 'owner'] as const;
/** Roles SWITCHYARD_HUBSPOT_PROPERTIES may map (HubspotPropertyMap's keys besides `extra`). */
const HUBSPOT_ROLES = ['idProperty', 'accountStatus', 'tier', 'engagementScore', 'lastEngagedAt', 'owner'] as const;

export const SCHEMA = Type.Object({
  PORT: Port('HTTP port of the public listener: tracking, one-click unsubscribe and webhook endpoints', 3000),
  SWITCHYARD_HOST: Type.String({
    default: '127.0.0.1',
    description: 'Address the public listener binds to (0.0.0.0 to reach it from the internet)',
  }),
  SWITCHYARD_ADMIN_PORT: Port('HTTP port of the admin listener: /v1 API, /docs, /openapi.json, /metrics', 3001),
  SWITCHYARD_ADMIN_HOST: Type.String({
    default: '127.0.0.1',
    description: 'Address the admin listener binds to; keep it private (a proxy or VPN in front when remote)',
  }),
  SWITCHYARD_TRUST_PROXY: Type.Optional(
    Type.String({
      pattern: '^(true|[0-9a-fA-F.:/]+(,\\s*[0-9a-fA-F.:/]+)*)$',
      description:
        'Public listener behind a load balancer: which peers may name the client in X-Forwarded-For '
        + '(true = any peer, or the comma-separated addresses/CIDRs of the proxies); '
        + 'unset = the socket address is the client',
    }),
  ),
  SWITCHYARD_ADMIN_TRUST_PROXY: Type.Optional(
    Type.String({
      pattern: '^(true|[0-9a-fA-F.:/]+(,\\s*[0-9a-fA-F.:/]+)*)$',
      description:
        'Admin listener behind a reverse proxy: which peers may name the client in X-Forwarded-For (as '
        + 'SWITCHYARD_TRUST_PROXY); unset = the socket address',
    }),
  ),
  SWITCHYARD_API_KEY: Secret(
    'API key the CLI sends to the admin API (default: the key file DATA_DIR/admin-key written on first start)',
  ),
  SWITCHYARD_METRICS_TOKEN: Secret(
    'When set, /metrics requires Authorization: Bearer <token> (unset: no key needed, for Prometheus on a '
      + 'private network)',
  ),
  SWITCHYARD_PUBLIC_URL: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description: 'Public base URL used in tracking and unsubscribe links (default http://HOST:PORT)',
    }),
  ),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level' },
  ),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description: 'PostgreSQL connection string; when unset the embedded PGlite store is used',
    }),
  ),
  SWITCHYARD_DATA_DIR: Type.String({
    default: './.switchyard',
    description: 'Directory for the embedded PGlite database and generated local secrets',
  }),
  SWITCHYARD_BUS: Type.Union([Type.Literal('postgres-log'), Type.Literal('nats')], {
    default: 'postgres-log',
    description:
      'Bus adapter: postgres-log (in the Switchyard database, one node) or nats (NATS JetStream, workers scale out)',
  }),
  SWITCHYARD_NATS_URL: Type.String({
    pattern: '^(nats|tls)://',
    default: 'nats://127.0.0.1:4222',
    description: 'NATS server(s) for SWITCHYARD_BUS=nats (comma-separated for a cluster)',
  }),
  SWITCHYARD_NATS_PREFIX: Type.String({
    pattern: '^[a-z][a-z0-9]{0,15}$',
    default: 'sy',
    description: 'First token of every NATS subject and stream name (one per deployment sharing a NATS server)',
  }),
  SWITCHYARD_REPLICA_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description:
        'PostgreSQL read replica for heavy reads (audience previews, list evaluations, reports); '
        + 'secret: may hold a password. Unset: those reads go to DATABASE_URL',
      secret: true,
    }),
  ),
  SWITCHYARD_DEMO_SIZE: Type.Integer({
    minimum: 0,
    maximum: 10_000_000,
    default: 50_000,
    description: 'Contacts in the demo synthetic warehouse',
  }),
  SWITCHYARD_WAREHOUSE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description:
        'PostgreSQL warehouse for audience source "postgres" (distinct from DATABASE_URL; secret: may hold '
        + 'credentials)',
      secret: true,
    }),
  ),
  SWITCHYARD_WAREHOUSE_STATEMENT_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 3_600_000,
    default: 30_000,
    description:
      'statement_timeout of every warehouse statement that runs audience SQL (the column probe, the '
      + 'cursor, each FETCH)',
  }),
  SWITCHYARD_WAREHOUSE_LOCK_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 3_600_000,
    default: 5_000,
    description: 'lock_timeout of the warehouse transaction (an audience query never waits long for a lock)',
  }),
  SWITCHYARD_BILLING_SQL_QUERY: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'One SELECT over a revenue table in SWITCHYARD_WAREHOUSE_URL (columns id, amount_minor, currency, '
        + 'occurred_at, updated_at; optional customer_id, email, contact_id, refunded_minor), polled by watermark '
        + 'by the billing-table stage (docs/attribution.md)',
    }),
  ),
  SWITCHYARD_BILLING_SQL_POLL_INTERVAL_MS: Type.Integer({
    minimum: 1000,
    maximum: 86_400_000,
    default: 60_000,
    description: 'How often the billing-table stage reads new and changed rows of SWITCHYARD_BILLING_SQL_QUERY',
  }),
  SWITCHYARD_BILLING_SQL_SETTLE_MS: Type.Integer({
    minimum: 0,
    maximum: 86_400_000,
    default: 60_000,
    description:
      'Billing table rows updated less than this long ago are left for the next poll (a late commit with an '
      + 'earlier updated_at is not skipped)',
  }),
  SWITCHYARD_CRM_DEALS_POLL_INTERVAL_MS: Type.Integer({
    minimum: 0,
    maximum: 86_400_000,
    default: 300_000,
    description:
      "How often the crm-deals stage reads the CRM's deals changed since its position (closed-won revenue, "
      + 'amount changes, reversals; docs/attribution.md); 0 turns the stage off',
  }),
  SWITCHYARD_CRM_DEALS_SETTLE_MS: Type.Integer({
    minimum: 0,
    maximum: 86_400_000,
    default: 60_000,
    description:
      'CRM deals modified less than this long ago are left for the next poll (the CRM indexes or commits a '
      + 'change after its stamp)',
  }),
  SWITCHYARD_CSV_DIRS: Type.String({
    minLength: 1,
    default: 'audiences',
    description:
      'Comma-separated directories CSV audiences may be read from, absolute or relative to '
      + 'SWITCHYARD_DATA_DIR (checked after symlinks; a relative audience path is taken from the first). '
      + 'Never the data directory itself, the root or /proc, /sys, /dev',
  }),
  SWITCHYARD_RETURN_PATH_DOMAIN: Type.Optional(
    Type.String({
      minLength: 3,
      description: 'Domain of VERP return paths and mailto unsubscribes (default: the sender domain)',
    }),
  ),
  SWITCHYARD_DEMO: Type.Boolean({
    default: true,
    description:
      'The demo workspace: the demo audience source (synthetic warehouse) and the demo CRM (its demo_crm_* '
      + 'tables). false refuses the demo source with CAMPAIGN_INVALID and wires no CRM: enrichment passes '
      + 'recipients through unenriched, engagement scores stay in Switchyard, CRM tasks go to review. The '
      + 'ESP is SWITCHYARD_ESP',
  }),
  SWITCHYARD_CRM: Type.Optional(
    Type.Union(
      CRMS.map((l) => Type.Literal(l)),
      {
        description:
          'CRM adapter for enrichment, engagement write-back, opt-outs and tasks (default: demo when SWITCHYARD_DEMO '
          + 'is true, else none)',
      },
    ),
  ),
  SWITCHYARD_CRM_PROFILE_MAX_AGE_MS: Type.Integer({
    minimum: 0,
    maximum: 30 * 86_400_000,
    default: 86_400_000,
    description:
      'Contact profiles (CRM enrichment) older than this are fetched from the CRM again when a blast needs them; '
      + 'change events (webhooks, polling) invalidate them sooner. 0 fetches every time',
  }),
  SWITCHYARD_MESSAGES_PASS_SUPPRESSION: Type.String({
    default: 'receipt,password-reset,security',
    description:
      'Comma-separated transactional message categories that may reach an address suppressed because its owner '
      + 'unsubscribed (bounces, complaints and erasures still stop them). Empty: none',
  }),
  SWITCHYARD_MESSAGES_POSTAL_ADDRESS: Type.String({
    default: '',
    description: 'Postal address for the footer of transactional messages whose request names none',
  }),
  SWITCHYARD_ANOMALY_GRANULARITIES: Type.String({
    default: 'day,hour',
    description: 'Comma-separated series the anomaly detector judges: day, hour (empty: the detector is off)',
  }),
  SWITCHYARD_ANOMALY_SETTLE_MS: Type.Integer({
    minimum: 0,
    maximum: 7 * 86_400_000,
    default: 900_000,
    description: 'How long after a bucket ends before the anomaly detector judges it (late reactions and revenue)',
  }),
  SWITCHYARD_ANOMALY_THRESHOLD: Type.Number({
    exclusiveMinimum: 0,
    maximum: 100,
    default: 5,
    description: 'Robust z-score at which a series point is flagged as an anomaly (docs/attribution.md, Anomalies)',
  }),
  SWITCHYARD_ANOMALY_MIN_BASELINE: Type.Number({
    minimum: 0,
    default: 20,
    description: 'Series points whose seasonal baseline is below this are not judged (too little volume to tell)',
  }),
  SWITCHYARD_ANOMALY_INTERVAL_MS: Type.Integer({
    minimum: 1000,
    maximum: 86_400_000,
    default: 60_000,
    description: 'How often the anomaly detector looks for buckets to judge',
  }),
  SWITCHYARD_ANOMALY_RECIPIENTS: Type.String({
    default: '',
    description: 'Comma-separated addresses that get an email per judged bucket with anomalies (empty: none)',
  }),
  SWITCHYARD_ALERT_FROM: Type.String({
    default: '',
    description: 'Sender address of anomaly alerts and executive reports (required when either has recipients)',
  }),
  SWITCHYARD_REVENUE_CURRENCY: Type.String({
    pattern: '^[A-Za-z]{3}$',
    default: 'usd',
    description:
      "ISO 4217 code revenue is reported in (attribution reports, the anomaly detector's revenue series, executive "
      + 'reports without their own): conversions in other currencies are counted apart, never summed in',
  }),
  SWITCHYARD_REPORTS: Type.Optional(
    Type.String({
      minLength: 2,
      description:
        'Executive report definitions (docs/attribution.md, Executive reports): JSON array of {"name", "cron", '
        + '"timezone"?, "recipients": [...], "period"?: day|week|month, "models"?: [...], "groupBy"?, "sections"?: '
        + '[summary, models, top, channels, trend, anomalies], "top"?, "currency"?: ISO 4217, default '
        + 'SWITCHYARD_REVENUE_CURRENCY}',
    }),
  ),
  SWITCHYARD_REPORT_INTERVAL_MS: Type.Integer({
    minimum: 1000,
    maximum: 86_400_000,
    default: 60_000,
    description: 'How often the report scheduler looks for executive reports that came due',
  }),
  SWITCHYARD_JOURNEY_BATCH: Type.Integer({
    minimum: 1,
    maximum: 100_000,
    default: 5000,
    description: 'Journey runs the dispatcher claims and advances per pass (one set of statements per pass)',
  }),
  SWITCHYARD_JOURNEY_LEASE_MS: Type.Integer({
    minimum: 100,
    maximum: 3_600_000,
    default: 30_000,
    description: "How long a dispatcher holds the runs it claimed; a crashed worker's runs are taken over after it",
  }),
  SWITCHYARD_JOURNEY_WEBHOOK_SECRET: Secret('HMAC-SHA256 key that signs the requests of journey webhook steps'),
  SWITCHYARD_CHANGES_SECRET: Secret(
    'HMAC-SHA256 secret(s) of POST /v1/changes on the public listener, comma-separated, newest first (rotation); '
      + 'unset: the change endpoint refuses everything',
  ),
  SWITCHYARD_CHANGES_TOLERANCE_MS: Type.Integer({
    minimum: 1000,
    maximum: 3_600_000,
    default: 300_000,
    description: 'How far a signed change timestamp may be from now (either way) on POST /v1/changes',
  }),
  SWITCHYARD_LIST_TIMER_INTERVAL_MS: Type.Integer({
    minimum: 100,
    maximum: 3_600_000,
    default: 1000,
    description: 'How often the lists stage fires due re-check timers of time-relative list conditions',
  }),
  SWITCHYARD_PROFILE_FEED: Type.Optional(
    Type.String({
      minLength: 2,
      description:
        'Warehouse profile feed, JSON: {"name","sql"|"table","params"?,"mapping","updatedAt"?,"key"?,"tombstone"?,'
        + '"deletes"?:{"sql","id","deletedAt"}}, polled in SWITCHYARD_WAREHOUSE_URL by updated_at (docs/lists.md)',
    }),
  ),
  SWITCHYARD_PROFILE_FEED_INTERVAL_MS: Type.Integer({
    minimum: 100,
    maximum: 86_400_000,
    default: 5000,
    description: 'Pause between warehouse profile feed polls that found nothing new',
  }),
  SWITCHYARD_PROFILE_FEED_LAG_MS: Type.Integer({
    minimum: 0,
    maximum: 3_600_000,
    default: 2000,
    description:
      'Rows whose updated_at is within this much of now are left for a later poll, so a warehouse transaction '
      + 'still committing an older updated_at is not skipped past',
  }),
  SWITCHYARD_PROFILE_FEED_BATCH: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 1000,
    description: 'Rows per warehouse profile feed page (one profile transaction)',
  }),
  SWITCHYARD_HUBSPOT_TOKEN: Secret(
    "HubSpot private-app access token (with SWITCHYARD_CRM=hubspot: this, or an OAuth app's "
      + 'SWITCHYARD_HUBSPOT_CLIENT_ID, SWITCHYARD_HUBSPOT_CLIENT_SECRET and SWITCHYARD_HUBSPOT_REFRESH_TOKEN)',
  ),
  SWITCHYARD_HUBSPOT_CLIENT_ID: Type.Optional(
    Type.String({
      minLength: 1,
      description: "HubSpot OAuth app's client id: with the client secret and a refresh token, instead of a token",
    }),
  ),
  SWITCHYARD_HUBSPOT_REFRESH_TOKEN: Secret(
    "Refresh token of the HubSpot OAuth app's installation in the account: access tokens are requested with it",
  ),
  SWITCHYARD_HUBSPOT_BASE_URL: Type.String({
    minLength: 1,
    default: 'https://api.hubapi.com',
    description: 'HubSpot API base URL',
  }),
  SWITCHYARD_HUBSPOT_RATE: Type.Integer({
    minimum: 2,
    maximum: 1000,
    default: 80,
    description:
      'HubSpot requests per 10 s shared by every Switchyard process (store-held token bucket); about 80% of the '
      + "account's burst limit (100 Free/Starter, 190 Professional/Enterprise)",
  }),
  SWITCHYARD_HUBSPOT_PROPERTIES: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Comma-separated HubSpot contact property mapping: role=property for idProperty, accountStatus, tier, '
        + 'engagementScore, lastEngagedAt, owner (defaults switchyard_contact_id, lifecyclestage, switchyard_tier, '
        + 'switchyard_engagement_score, switchyard_last_engaged_at, hubspot_owner_id); bare names are extra '
        + 'properties read into the record fields',
    }),
  ),
  SWITCHYARD_HUBSPOT_SUBSCRIPTION_ID: Type.Optional(
    Type.Integer({
      minimum: 1,
      description: 'HubSpot email subscription type a contact is subscribed to again when they opt back in',
    }),
  ),
  SWITCHYARD_HUBSPOT_CLIENT_SECRET: Secret(
    'HubSpot app client secret: verifies /webhooks/hubspot (signature v3), and with an OAuth app requests its '
      + 'access tokens',
  ),
  SWITCHYARD_SALESFORCE_LOGIN_URL: Type.String({
    minLength: 1,
    default: 'https://login.salesforce.com',
    description:
      "Where Salesforce OAuth tokens are requested: the org's My Domain URL (required for the client-credentials "
      + 'flow), https://login.salesforce.com or https://test.salesforce.com (sandboxes, JWT bearer flow)',
  }),
  SWITCHYARD_SALESFORCE_INSTANCE_URL: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Salesforce API base URL (default: the instance_url of the token answer)',
    }),
  ),
  SWITCHYARD_SALESFORCE_CLIENT_ID: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Consumer key of the Salesforce connected app (required with SWITCHYARD_CRM=salesforce)',
    }),
  ),
  SWITCHYARD_SALESFORCE_CLIENT_SECRET: Secret(
    'Consumer secret of the Salesforce connected app: the client-credentials flow (else set the JWT key file)',
  ),
  SWITCHYARD_SALESFORCE_JWT_KEY_FILE: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'PEM private key whose certificate is uploaded to the connected app: the JWT bearer flow (with '
        + 'SWITCHYARD_SALESFORCE_USERNAME), used when no client secret is set',
    }),
  ),
  SWITCHYARD_SALESFORCE_USERNAME: Type.Optional(
    Type.String({ minLength: 1, description: 'Salesforce user the JWT bearer flow acts as' }),
  ),
  SWITCHYARD_SALESFORCE_API_VERSION: Type.String({
    pattern: '^\\d{2,3}\\.0$',
    default: '62.0',
    description: 'Salesforce REST API version (e.g. 62.0)',
  }),
  SWITCHYARD_SALESFORCE_FIELDS: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Comma-separated Salesforce Contact field mapping: role=Field for idField, accountStatus, tier, '
        + 'engagementScore, lastEngagedAt, owner (defaults Switchyard_Contact_Id__c, Switchyard_Account_Status__c, '
        + 'Switchyard_Tier__c, Switchyard_Engagement_Score__c, Switchyard_Last_Engaged_At__c, OwnerId); bare names '
        + 'are extra fields read into the record fields',
    }),
  ),
  SWITCHYARD_SALESFORCE_RATE: Type.Integer({
    minimum: 2,
    maximum: 1000,
    default: 25,
    description: 'Salesforce requests per second shared by every Switchyard process (store-held token bucket)',
  }),
  SWITCHYARD_SALESFORCE_USAGE_THRESHOLD: Type.Number({
    exclusiveMinimum: 0,
    maximum: 1,
    default: 0.8,
    description:
      "Share of the org's daily API allocation (Sforce-Limit-Info) above which Switchyard stops calling "
      + 'Salesforce except for one probe per hold, and CRM work is retried later',
  }),
  SWITCHYARD_SALESFORCE_POLL_INTERVAL_MS: Type.Integer({
    minimum: 1000,
    maximum: 86_400_000,
    default: 60_000,
    description: 'How often the crm-changes stage polls Salesforce for changed and deleted contacts',
  }),
  SWITCHYARD_ESP: Type.Union(
    ESPS.map((l) => Type.Literal(l)),
    { default: 'sandbox', description: 'ESP adapter used by the send stage' },
  ),
  SWITCHYARD_SMTP_URL: Type.Optional(
    Type.String({
      pattern: '^smtps?://',
      description: 'SMTP relay for the smtp ESP, e.g. smtp://user:pass@host:587 (secret: may hold credentials)',
      secret: true,
    }),
  ),
  SWITCHYARD_SMTP_POOL_SIZE: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 5,
    description: 'Pooled SMTP connections',
  }),
  SWITCHYARD_SMTP_COMMIT_WINDOW: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 10_000,
      description:
        'Most SMTP messages between their ledger commit and their recorded acceptance (the most a crash '
        + 'can leave in doubt); default 4 × SWITCHYARD_SMTP_POOL_SIZE',
    }),
  ),
  SWITCHYARD_DKIM_DOMAIN: Type.Optional(
    Type.String({ minLength: 1, description: 'DKIM signing domain (with SELECTOR and PRIVATE_KEY)' }),
  ),
  SWITCHYARD_DKIM_SELECTOR: Type.Optional(Type.String({ minLength: 1, description: 'DKIM selector' })),
  SWITCHYARD_DKIM_PRIVATE_KEY: Secret('DKIM private key (PEM)'),
  SWITCHYARD_ESP_API_KEY: Secret('API key of the HTTP ESP (SendGrid, Mailgun, Postmark server token)'),
  SWITCHYARD_ESP_SECONDARY: Type.Optional(
    Type.Union(
      ESPS.map((l) => Type.Literal(l)),
      { description: 'Failover ESP: new batches go here while the primary keeps failing (unset = no failover)' },
    ),
  ),
  SWITCHYARD_ESP_SECONDARY_API_KEY: Secret('API key of the secondary HTTP ESP (SendGrid, Mailgun, Postmark)'),
  SWITCHYARD_ESP_RATE_PER_SEC: Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      maximum: 1_000_000,
      description:
        'Send-rate limit of the primary ESP account (msgs/s) for the deliverability governor (default '
        + '1000; AIMD backs off below it on 429)',
    }),
  ),
  SWITCHYARD_ESP_SECONDARY_RATE_PER_SEC: Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      maximum: 1_000_000,
      description: 'Send-rate limit of the secondary ESP account (msgs/s)',
    }),
  ),
  SWITCHYARD_FAILOVER_THRESHOLD: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 3,
    description: 'Whole-request failures of the primary ESP in a row (unavailable / auth) that switch to the secondary',
  }),
  SWITCHYARD_FAILOVER_COOLDOWN_MS: Type.Integer({
    minimum: 1000,
    maximum: 86_400_000,
    default: 300_000,
    description: 'How long the secondary ESP stays active before the primary is tried again',
  }),
  SWITCHYARD_MAILGUN_DOMAIN: Type.Optional(
    Type.String({ minLength: 3, description: 'Mailgun sending domain (required when an ESP is mailgun)' }),
  ),
  SWITCHYARD_MAILGUN_REGION: Type.Union([Type.Literal('us'), Type.Literal('eu')], {
    default: 'us',
    description: 'Mailgun API region',
  }),
  SWITCHYARD_SES_REGION: Type.Optional(
    Type.String({
      pattern: '^[a-z]{2}(-[a-z]+)+-\\d$',
      description: 'AWS region of SES, e.g. eu-west-1 (required when an ESP is ses)',
    }),
  ),
  SWITCHYARD_SES_ACCESS_KEY_ID: Type.Optional(
    Type.String({ minLength: 16, description: 'AWS access key id for SES (required when an ESP is ses)' }),
  ),
  SWITCHYARD_SES_SECRET_ACCESS_KEY: Secret('AWS secret access key for SES (required when an ESP is ses)'),
  SWITCHYARD_SES_CONFIGURATION_SET: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'SES configuration set whose event destination publishes to our SNS webhook',
    }),
  ),
  SWITCHYARD_POSTMARK_MESSAGE_STREAM: Type.String({
    minLength: 1,
    default: 'broadcast',
    description: 'Postmark message stream (marketing mail must use a broadcast stream)',
  }),
  SWITCHYARD_TRACKING_SECRET: Secret(
    'HMAC secret(s) for tracking and unsubscribe links, comma-separated, newest first (generated into '
      + 'DATA_DIR when unset)',
  ),
  SWITCHYARD_PII_MASTER_KEYS: Secret(
    'Master key(s) wrapping the per-subject PII data keys: base64 of 32 bytes each, comma-separated, newest first; '
      + 'older ones only unwrap until `switchyard privacy rotate-key` has rewrapped '
      + '(generated into DATA_DIR when unset)',
  ),
  SWITCHYARD_PII_INDEX_KEY: Secret(
    'HMAC key of the blind index (look-ups by address, suppression fingerprints that survive erasure): base64 of '
      + '32 bytes; never rotated with the master key (generated into DATA_DIR when unset)',
  ),
  SWITCHYARD_PII_KEY_CACHE_SIZE: Type.Integer({
    minimum: 0,
    maximum: 10_000_000,
    default: 200_000,
    description: 'Unwrapped PII data keys kept in memory per process (least recently used dropped first; ~150 B each)',
  }),
  SWITCHYARD_GEO_RULES: Type.Optional(
    Type.String({
      minLength: 2,
      description:
        'Per-workspace overrides of the geographic rules (docs/privacy.md): JSON object from a country code or region '
        + '(EU, UK, US, CA, AU, BR, SG, JP, UNKNOWN) to {"consent": "opt_in"|"opt_out"|"legal_basis", '
        + '"acceptedBases": [...]}',
    }),
  ),
  SWITCHYARD_COMPLIANCE_SECRET: Secret(
    'HMAC secret of the compliance road: consent and DSR links, DSR receipts and status callbacks '
      + '(generated into DATA_DIR when unset)',
  ),
  SWITCHYARD_DOI_TTL_MS: Type.Integer({
    minimum: 60_000,
    default: 3 * 86_400_000,
    description: 'How long a double opt-in confirmation link stays valid',
  }),
  SWITCHYARD_DSR_VERIFY_TTL_MS: Type.Integer({
    minimum: 60_000,
    default: 7 * 86_400_000,
    description: 'How long a DSR waits for its emailed identity link before it expires (never past its deadline)',
  }),
  SWITCHYARD_DSR_MAX_ATTEMPTS: Type.Integer({
    minimum: 1,
    maximum: 50,
    default: 6,
    description: 'Attempts per DSR step (exponential backoff from 2 s) before it goes to the exceptions queue',
  }),
  SWITCHYARD_DSR_LEASE_MS: Type.Integer({
    minimum: 1000,
    maximum: 3_600_000,
    default: 300_000,
    description:
      'How long a DSR step claimed by a worker is its own; a step whose worker died is taken over after this',
  }),
  SWITCHYARD_DSR_INBOUND_ADDRESS: Type.Optional(
    Type.String({
      minLength: 3,
      description: 'Privacy address: inbound mail to it goes to the review queue as a DSR candidate',
    }),
  ),
  SWITCHYARD_DSR_WAREHOUSE_STATEMENTS: Type.Optional(
    Type.String({
      minLength: 2,
      description:
        'JSON array of SQL statements run in SWITCHYARD_WAREHOUSE_URL for a DSR erasure ($1 = addresses text[], '
        + '$2 = contact ids text[]), e.g. ["delete from contacts where lower(email) = any($1)"]',
    }),
  ),
  SWITCHYARD_COMPLIANCE_WEBHOOK_URL: Type.Optional(
    Type.String({ pattern: '^https?://', description: 'External compliance system: each DSR is POSTed here, signed' }),
  ),
  SWITCHYARD_COMPLIANCE_WEBHOOK_SECRET: Secret('HMAC secret of the signature on requests to the compliance webhook'),
  SWITCHYARD_STRIPE_SECRET_KEY: Secret(
    'Stripe secret key (sk_…): DSR erasure and access of Stripe customers, `billing backfill`',
  ),
  SWITCHYARD_STRIPE_API_URL: Type.String({
    pattern: '^https?://',
    default: 'https://api.stripe.com',
    description: 'Stripe API base URL (a local server in tests)',
  }),
  SWITCHYARD_SENDGRID_WEBHOOK_PUBLIC_KEY: Secret('SendGrid signed event webhook verification key'),
  SWITCHYARD_MAILGUN_SIGNING_KEY: Secret('Mailgun webhook signing key'),
  SWITCHYARD_POSTMARK_WEBHOOK_AUTH: Secret('Postmark webhook basic auth as user:password'),
  SWITCHYARD_STRIPE_WEBHOOK_SECRET: Secret('Stripe webhook signing secret (whsec_…)'),
  SWITCHYARD_SES_TOPIC_ARNS: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Comma-separated SNS topic ARNs accepted on /webhooks/ses (required to accept SES events)',
    }),
  ),
  SWITCHYARD_SES_CERT_FILE: Type.Optional(
    Type.String({ minLength: 1, description: 'Trusted SNS signing certificate (PEM file) for offline verification' }),
  ),
  SWITCHYARD_TEMPLATE_RENDER_LIMIT_MS: Type.Integer({
    minimum: 10,
    maximum: 60_000,
    default: 1000,
    description:
      "Longest one recipient's message may take to render, in ms of real time (preview and sending); above "
      + 'it the recipient fails with TEMPLATE_LIMIT_EXCEEDED',
  }),
  SWITCHYARD_TEMPLATE_MEMORY_LIMIT: Type.Integer({
    minimum: 100_000,
    maximum: 1_000_000_000,
    default: 10_000_000,
    description:
      'Allocation budget of one template render call (ranges, joins, string filters; roughly characters); '
      + 'above it TEMPLATE_LIMIT_EXCEEDED',
  }),
  SWITCHYARD_WEBHOOK_MAX_BYTES: Type.Integer({
    minimum: 1024,
    default: 5 * 1024 * 1024,
    description: 'Largest accepted webhook body in bytes (413 above)',
  }),
  SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN: Type.Integer({
    minimum: 0,
    maximum: 1_000_000,
    default: 600,
    description:
      'Admin listener: requests per minute allowed per source address and, separately, per API key (0 = no limit)',
  }),
  SWITCHYARD_RATE_LIMIT_ADMIN_BURST: Type.Integer({
    minimum: 1,
    maximum: 1_000_000,
    default: 120,
    description: 'Admin listener: requests allowed at once after a pause, per address and per API key',
  }),
  SWITCHYARD_RATE_LIMIT_PUBLIC_PER_MIN: Type.Integer({
    minimum: 0,
    maximum: 10_000_000,
    default: 6000,
    description:
      'Public listener (open pixel, click redirect): requests per minute per source address; generous '
      + 'because mail-client image proxies and corporate NATs share one address (0 = no limit)',
  }),
  SWITCHYARD_RATE_LIMIT_PUBLIC_BURST: Type.Integer({
    minimum: 1,
    maximum: 10_000_000,
    default: 1000,
    description: 'Public listener: requests allowed at once per source address after a pause',
  }),
  SWITCHYARD_RATE_LIMIT_WEBHOOK_PER_MIN: Type.Integer({
    minimum: 0,
    maximum: 10_000_000,
    default: 60_000,
    description:
      'Public listener, /webhooks/* and unsubscribes /t/u/* (each its own budget): requests per minute per '
      + 'source address, larger than the tracking limit because ESPs and mailbox providers post bursts from '
      + 'few addresses (0 = no limit)',
  }),
  SWITCHYARD_RATE_LIMIT_WEBHOOK_BURST: Type.Integer({
    minimum: 1,
    maximum: 10_000_000,
    default: 5000,
    description: 'Public listener, /webhooks/* and /t/u/*: requests allowed at once per source address after a pause',
  }),
  SWITCHYARD_RATE_LIMIT_MAX_TRACKED: Type.Integer({
    minimum: 100,
    maximum: 10_000_000,
    default: 100_000,
    description:
      'Most rate-limit buckets kept per listener and kind (address, key); the least recently seen is '
      + 'forgotten beyond this',
  }),
  SWITCHYARD_ADMIN_ALLOWED_HOSTS: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Comma-separated Host header values the admin listener answers to, e.g. '
        + 'admin.example.com,admin.example.com:8443 (name:* = any port; default: 127.0.0.1, localhost and '
        + '[::1] on any port)',
    }),
  ),
  SWITCHYARD_ADMIN_ALLOWED_ORIGINS: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Comma-separated browser origins allowed to call the admin API, e.g. https://admin.example.com '
        + '(default: http://127.0.0.1, http://localhost and http://[::1] on the admin port)',
    }),
  ),
  SWITCHYARD_JSON_MAX_DEPTH: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 64,
    description: 'Deepest nesting of arrays and objects accepted in a JSON request body (400 JSON_TOO_DEEP above)',
  }),
  SWITCHYARD_INBOUND_SMTP_PORT: Port('Port of the inbound SMTP listener for bounces and replies (0 = disabled)', 2525),
  SWITCHYARD_INBOUND_DOMAINS: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Comma-separated domains whose mailboxes the inbound SMTP listener accepts (return-path, reply and '
        + 'feedback-loop domains; default: SWITCHYARD_RETURN_PATH_DOMAIN). VERP return paths with a valid '
        + 'signature are accepted on any domain; with neither set, only those',
    }),
  ),
  SWITCHYARD_INBOUND_MAX_RECIPIENTS: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 50,
    description: 'Recipients accepted per inbound SMTP transaction (452 4.5.3 beyond)',
  }),
  SWITCHYARD_INBOUND_MAX_CONNECTIONS_PER_IP: Type.Integer({
    minimum: 1,
    maximum: 10_000,
    default: 10,
    description: 'Open inbound SMTP connections per source address (421 and close beyond)',
  }),
  SWITCHYARD_INBOUND_MAX_CONNECTIONS: Type.Integer({
    minimum: 1,
    maximum: 100_000,
    default: 100,
    description: 'Open inbound SMTP connections in all (421 beyond)',
  }),
  SWITCHYARD_INBOUND_SOCKET_TIMEOUT_MS: Type.Integer({
    minimum: 1000,
    maximum: 3_600_000,
    default: 60_000,
    description: 'Idle time after which the inbound SMTP listener closes a connection',
  }),
  SWITCHYARD_WORKER_BATCH: Type.Integer({
    minimum: 1,
    maximum: 10_000,
    default: 100,
    description: 'Bus messages leased per fetch by each consumer',
  }),
  SWITCHYARD_WORKER_CONCURRENCY: Type.Integer({
    minimum: 1,
    maximum: 256,
    default: 8,
    description: 'Handlers run at once per consumer',
  }),
  SWITCHYARD_LEASE_MS: Type.Integer({
    minimum: 1000,
    maximum: 3_600_000,
    default: 120_000,
    description:
      'How long a worker may hold a fetched batch before it is redelivered (a worker that died is detected after this)',
  }),
  SWITCHYARD_MAX_ATTEMPTS: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 5,
    description: 'Attempts per message before it is dead-lettered',
  }),
  SWITCHYARD_HEARTBEAT_MS: Type.Integer({
    minimum: 100,
    maximum: 600_000,
    default: 1000,
    description:
      'How often a process running workers records that it is alive and checks the others (process_instances table)',
  }),
  SWITCHYARD_INSTANCE_DEAD_AFTER_MS: Type.Integer({
    minimum: 500,
    maximum: 3_600_000,
    default: 5000,
    description:
      'Heartbeat age after which a process is taken as stopped: its leased work is handed to live processes at once',
  }),
});

export type RawConfig = Static<typeof SCHEMA>;
export type EspKind = (typeof ESPS)[number];

/** A request budget: `perMinute` sustained (0 = no limit), `burst` at once after a pause. */
export interface RateRule {
  perMinute: number;
  burst: number;
}

/** The internet-facing listener: tracking, one-click unsubscribe, webhooks. */
export interface PublicListenerConfig {
  port: number;
  host: string;
  /** Base of tracking and unsubscribe links, without a trailing slash. */
  publicUrl: string;
  /** Fastify's trustProxy: true (any peer) or the proxies' addresses / CIDRs; undefined = the socket address. */
  trustProxy: true | string | undefined;
  bodyLimitBytes: number;
  jsonMaxDepth: number;
  /** `perAddress` for tracking; `providers` for /webhooks/* and /t/u/* (each its own budget). */
  rateLimit: { perAddress: RateRule; providers: RateRule; maxTracked: number };
}

/** The private listener: /v1 API, /docs, /metrics. `url` is where a local CLI reaches it. */
export interface AdminListenerConfig {
  port: number;
  host: string;
  url: string;
  trustProxy: true | string | undefined;
  /** Bearer token /metrics requires; undefined = none. */
  metricsToken: string | undefined;
  /** Host header values and browser origins answered; undefined = the loopback defaults. */
  allowedHosts: readonly string[] | undefined;
  allowedOrigins: readonly string[] | undefined;
  bodyLimitBytes: number;
  jsonMaxDepth: number;
  /** One rule, applied per source address and, separately, per API key. */
  rateLimit: { rule: RateRule; maxTracked: number };
}

export interface SmtpEspConfig {
  kind: 'smtp';
  host: string;
  port: number;
  /** smtps: (implicit TLS) rather than smtp: with STARTTLS. */
  secure: boolean;
  auth: { user: string; pass: string } | undefined;
  poolSize: number;
  /** Most messages between ledger commit and recorded acceptance; 4 × poolSize unless set. */
  commitWindow: number;
  /** Set only when domain, selector and key are all configured. */
  dkim: { domainName: string; keySelector: string; privateKey: string } | undefined;
}

/** One ESP account, by adapter, with everything its adapter needs. */
export type EspConfig =
  | { kind: 'sandbox' }
  | SmtpEspConfig
  | { kind: 'sendgrid'; apiKey: string }
  | { kind: 'mailgun'; apiKey: string; domain: string; region: 'us' | 'eu' }
  | { kind: 'ses'; region: string; accessKeyId: string; secretAccessKey: string; configurationSet: string | undefined }
  | { kind: 'postmark'; serverToken: string; messageStream: string };

export interface EspsConfig {
  primary: EspConfig;
  /** Failover target while the primary keeps failing; undefined = no failover. */
  secondary: EspConfig | undefined;
  failover: { threshold: number; coolDownMs: number };
}

export interface WebhooksConfig {
  maxBodyBytes: number;
  /** Verification keys per vendor; a vendor left undefined refuses every request (401). */
  sendgrid: { publicKey: string } | undefined;
  mailgun: { signingKey: string } | undefined;
  postmark: { username: string; password: string } | undefined;
  stripe: { signingSecret: string } | undefined;
  hubspot: { clientSecret: string } | undefined;
  /** Accepted SNS topics; `certFile` pins the signing certificate (else it is fetched). */
  ses: { topicArns: readonly string[]; certFile: string | undefined } | undefined;
}

/** The CRM the stages talk to; `hubspot` carries its connection and property mapping. */
export type CrmConfig =
  | { kind: 'none' | 'demo' }
  | {
      kind: 'hubspot';
      hubspot: {
        /** A private-app token, or an OAuth app's credentials (exactly one of them). */
        token?: string;
        oauth?: { clientId: string; clientSecret: string; refreshToken: string };
        baseUrl: string;
        requestsPer10s: number;
        /** Role → HubSpot property overrides, and extra properties to read. */
        properties: Partial<Record<(typeof HUBSPOT_ROLES)[number], string>> & { extra: string[] };
        subscriptionId: number | undefined;
      };
    }
  | {
      kind: 'salesforce';
      salesforce: {
        loginUrl: string;
        instanceUrl: string | undefined;
        apiVersion: string;
        clientId: string;
        /** Client-credentials flow when set, else the JWT bearer flow with the key file and username. */
        clientSecret: string | undefined;
        jwt: { keyFile: string; username: string } | undefined;
        /** Role → Contact field overrides, and extra fields to read. */
        fields: Partial<Record<(typeof SALESFORCE_ROLES)[number], string>> & { extra: string[] };
        requestsPerSecond: number;
        usageThreshold: number;
        pollIntervalMs: number;
      };
    };

export interface InboundSmtpConfig {
  /** 0 = the listener is disabled. */
  port: number;
  host: string;
  /** Mailbox domains accepted besides signed VERP return paths (lower case, deduplicated). */
  domains: readonly string[];
  maxRecipients: number;
  maxConnectionsPerIp: number;
  maxConnections: number;
  socketTimeoutMs: number;
}

export interface Config {
  readonly logLevel: RawConfig['LOG_LEVEL'];
  /** Embedded database and generated local secrets (tracking secret, admin key file). */
  readonly dataDir: string;
  readonly http: PublicListenerConfig;
  readonly admin: AdminListenerConfig;
  /** What the CLI sends to the admin API; undefined = the key file in dataDir. */
  readonly cli: { apiKey: string | undefined };
  readonly store: { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string };
  readonly bus: { kind: 'postgres-log' } | { kind: 'nats'; servers: string[]; prefix: string };
  /** Where heavy reads may go (a PostgreSQL read replica); undefined: the primary store. */
  readonly replica: { url: string } | undefined;
  readonly worker: { batchSize: number; concurrency: number; maxAttempts: number; leaseMs: number };
  /** Process heartbeats and the sweep that releases a stopped process's work (src/recovery/). */
  readonly recovery: { heartbeatMs: number; deadAfterMs: number };
  /** The demo workspace: demo audience source and demo CRM, both off when `enabled` is false. */
  readonly demo: { enabled: boolean; size: number };
  readonly crm: CrmConfig;
  /** The contact profile cache blasts read enrichment from (src/crm-profiles/). */
  readonly crmProfiles: { maxAgeMs: number };
  readonly messages: { passSuppressionCategories: readonly string[]; postalAddress: string };
  readonly journeys: { batchSize: number; leaseMs: number; webhookSecret: string | undefined };
  /** The anomaly detector (src/anomalies/): series, threshold, alert recipients. */
  readonly anomalies: {
    granularities: readonly ('day' | 'hour')[];
    settleMs: number;
    threshold: number;
    minBaseline: number;
    intervalMs: number;
    recipients: readonly string[];
    from: string;
    /** Revenue in this currency only (lower case ISO 4217). */
    currency: string;
  };
  /** Attribution reports (src/attribution/): the currency they sum when a request names none. */
  readonly attribution: { currency: string };
  /** Executive reports (src/reports/): definitions and the scheduler's interval. */
  readonly reports: { definitions: readonly ReportDefinition[]; from: string; intervalMs: number };
  /** Contact profiles and lists (src/profiles/, src/lists/): the signed change endpoint and the timers. */
  readonly profiles: {
    changeSecrets: readonly string[];
    toleranceMs: number;
    timerIntervalMs: number;
    /** The warehouse profile feed (SWITCHYARD_PROFILE_FEED); undefined = none. */
    feed: { spec: ProfileFeedSpec; intervalMs: number; lagMs: number; batchSize: number } | undefined;
  };
  /** CSV audience directories, absolute or relative to dataDir, as configured. */
  readonly csv: { dirs: readonly string[] };
  /** The "postgres" audience source; `url` undefined = that source is refused. */
  readonly warehouse: { url: string | undefined; statementTimeoutMs: number; lockTimeoutMs: number };
  /** Revenue from a warehouse table (src/billing/table-sync.ts); undefined when not configured. */
  readonly billingTable: { sql: string; pollIntervalMs: number; settleMs: number } | undefined;
  /** The crm-deals stage (src/billing/deal-poll.ts); pollIntervalMs 0 = off. */
  readonly crmDeals: { pollIntervalMs: number; settleMs: number };
  readonly esp: EspsConfig;
  /** Send-rate limits per ESP account for the deliverability governor (unset ones use its default). */
  readonly deliverability: { providers: Readonly<Record<string, { ratePerSec: number }>> };
  /** Link signing: `secrets` newest first, or undefined to use the one generated into dataDir. */
  readonly tracking: { secrets: readonly string[] | undefined; returnPathDomain: string | undefined };
  /** PII at rest (src/privacy/): master keys newest first and the blind-index key, or undefined = generated. */
  readonly pii: { masterKeys: readonly string[] | undefined; indexKey: string | undefined; cacheSize: number };
  /** The compliance road: consent ledger, double opt-in, data-subject requests (docs/compliance.md). */
  readonly compliance: {
    secret: string | undefined;
    doiTtlMs: number;
    verifyTtlMs: number;
    maxAttempts: number;
    leaseMs: number;
    inboundAddress: string | undefined;
    warehouseStatements: readonly string[] | undefined;
    webhook: { url: string; secret: string } | undefined;
    stripe: { secretKey: string; apiUrl: string } | undefined;
  };
  /** Geographic rules: law.md §12 defaults with these per-workspace overrides (src/core/geo-rules.ts). */
  readonly geo: { overrides: GeoRuleOverrides };
  readonly templates: { renderMs: number; memory: number };
  readonly webhooks: WebhooksConfig;
  readonly inbound: InboundSmtpConfig;
}

/** Names of every configuration key, with its schema (for docs and the docs test). */
export function describeConfig(): {
  name: string;
  type: string;
  default: unknown;
  description: string;
  secret: boolean;
}[] {
  return Object.entries(SCHEMA.properties).map(([name, s]) => {
    const schema = s as TSchema & {
      default?: unknown;
      description?: string;
      secret?: boolean;
      anyOf?: { const: string }[];
    };
    const type = schema.anyOf ? schema.anyOf.map((a) => a.const).join(' \\| ') : String(schema.type);
    return {
      name,
      type,
      default: schema.default,
      description: schema.description ?? '',
      secret: schema.secret === true,
    };
  });
}

/** Reads the optional JSON file; a missing file is fine, a malformed one is CONFIG_INVALID. */
export function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('top level must be an object');
    return parsed as Record<string, unknown>;
  } catch (cause) {
    throw new SwitchyardError('CONFIG_INVALID', `${path}: ${(cause as Error).message}`, { cause });
  }
}

/** Keys that must decode to 32 bytes, and geographic overrides that must parse (named, value hidden). */
function profileFeed(raw: RawConfig): Config['profiles']['feed'] {
  if (raw.SWITCHYARD_PROFILE_FEED === undefined) return undefined;
  const parsed = parseProfileFeed(raw.SWITCHYARD_PROFILE_FEED);
  if (!parsed.ok) return undefined; // refused by piiProblems
  return {
    spec: parsed.spec,
    intervalMs: raw.SWITCHYARD_PROFILE_FEED_INTERVAL_MS,
    lagMs: raw.SWITCHYARD_PROFILE_FEED_LAG_MS,
    batchSize: raw.SWITCHYARD_PROFILE_FEED_BATCH,
  };
}

function piiProblems(raw: RawConfig): string[] {
  const problems: string[] = [];
  if (raw.SWITCHYARD_PROFILE_FEED !== undefined) {
    const parsed = parseProfileFeed(raw.SWITCHYARD_PROFILE_FEED);
    if (!parsed.ok) problems.push(`SWITCHYARD_PROFILE_FEED: ${parsed.problems.join('; ')}`);
    else if (raw.SWITCHYARD_WAREHOUSE_URL === undefined)
      problems.push('SWITCHYARD_PROFILE_FEED: needs SWITCHYARD_WAREHOUSE_URL');
  }
  if (raw.SWITCHYARD_DSR_WAREHOUSE_STATEMENTS !== undefined) {
    let ok = false;
    try {
      const v: unknown = JSON.parse(raw.SWITCHYARD_DSR_WAREHOUSE_STATEMENTS);
      ok = Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.trim() !== '');
    } catch {
      ok = false;
    }
    if (!ok) problems.push('SWITCHYARD_DSR_WAREHOUSE_STATEMENTS: must be a JSON array of SQL strings');
    else if (raw.SWITCHYARD_WAREHOUSE_URL === undefined)
      problems.push('SWITCHYARD_DSR_WAREHOUSE_STATEMENTS: needs SWITCHYARD_WAREHOUSE_URL');
  }
  if (raw.SWITCHYARD_BILLING_SQL_QUERY !== undefined && raw.SWITCHYARD_WAREHOUSE_URL === undefined)
    problems.push('SWITCHYARD_BILLING_SQL_QUERY: needs SWITCHYARD_WAREHOUSE_URL');
  if (raw.SWITCHYARD_COMPLIANCE_WEBHOOK_URL !== undefined && raw.SWITCHYARD_COMPLIANCE_WEBHOOK_SECRET === undefined)
    problems.push('SWITCHYARD_COMPLIANCE_WEBHOOK_SECRET: required with SWITCHYARD_COMPLIANCE_WEBHOOK_URL');
  const keys = list(raw.SWITCHYARD_PII_MASTER_KEYS) ?? [];
  keys.forEach((k, i) => {
    if (Buffer.from(k, 'base64url').length !== 32)
      problems.push(`SWITCHYARD_PII_MASTER_KEYS: key #${i + 1} is not base64 of 32 bytes (got (hidden))`);
  });
  if (
    raw.SWITCHYARD_PII_INDEX_KEY !== undefined
    && Buffer.from(raw.SWITCHYARD_PII_INDEX_KEY, 'base64url').length !== 32
  )
    problems.push('SWITCHYARD_PII_INDEX_KEY: is not base64 of 32 bytes (got (hidden))');
  if (raw.SWITCHYARD_GEO_RULES !== undefined) {
    const parsed = parseGeoOverrides(raw.SWITCHYARD_GEO_RULES);
    if (typeof parsed === 'string') problems.push(`SWITCHYARD_GEO_RULES: ${parsed}`);
  }
  problems.push(...alertProblems(raw));
  return problems;
}

/** Anomaly series names, recipients and sender; report definitions. */
function alertProblems(raw: RawConfig): string[] {
  const problems: string[] = [];
  const bad = (list(raw.SWITCHYARD_ANOMALY_GRANULARITIES) ?? []).filter((g) => g !== 'day' && g !== 'hour');
  if (bad.length > 0) problems.push(`SWITCHYARD_ANOMALY_GRANULARITIES: unknown ${bad.join(', ')} (day, hour)`);
  const recipients = list(raw.SWITCHYARD_ANOMALY_RECIPIENTS) ?? [];
  const wrong = recipients.filter((r) => checkEmail(r) !== null);
  if (wrong.length > 0) problems.push(`SWITCHYARD_ANOMALY_RECIPIENTS: not an address: ${wrong.join(', ')}`);
  let reports = false;
  if (raw.SWITCHYARD_REPORTS !== undefined) {
    const parsed = parseReportDefinitions(raw.SWITCHYARD_REPORTS, raw.SWITCHYARD_REVENUE_CURRENCY);
    if (typeof parsed === 'string') problems.push(`SWITCHYARD_REPORTS: ${parsed}`);
    else reports = parsed.length > 0;
  }
  if ((recipients.length > 0 || reports) && checkEmail(raw.SWITCHYARD_ALERT_FROM) !== null)
    problems.push('SWITCHYARD_ALERT_FROM: required (an address) when anomaly alerts or reports have recipients');
  if ((recipients.length > 0 || reports) && raw.SWITCHYARD_MESSAGES_POSTAL_ADDRESS.trim() === '')
    problems.push('SWITCHYARD_MESSAGES_POSTAL_ADDRESS: required when anomaly alerts or reports are emailed');
  return problems;
}

type ApiKeyVar = 'SWITCHYARD_ESP_API_KEY' | 'SWITCHYARD_ESP_SECONDARY_API_KEY';

/** What the chosen primary and secondary ESPs need and is missing. */
function espProblems(raw: RawConfig): string[] {
  const out: string[] = [];
  const needs = (esp: string, role: string, keyVar: ApiKeyVar): void => {
    const req = (name: keyof RawConfig): void => {
      if (raw[name] === undefined) out.push(`${name}: required when ${role}=${esp}`);
    };
    if (esp === 'smtp') req('SWITCHYARD_SMTP_URL');
    if (esp === 'smtp' && raw.SWITCHYARD_SMTP_URL !== undefined && !URL.canParse(raw.SWITCHYARD_SMTP_URL))
      out.push('SWITCHYARD_SMTP_URL: not a valid URL (got (hidden))');
    if (esp === 'sendgrid' || esp === 'mailgun' || esp === 'postmark') req(keyVar);
    if (esp === 'mailgun') req('SWITCHYARD_MAILGUN_DOMAIN');
    if (esp === 'ses') {
      req('SWITCHYARD_SES_REGION');
      req('SWITCHYARD_SES_ACCESS_KEY_ID');
      req('SWITCHYARD_SES_SECRET_ACCESS_KEY');
    }
  };
  needs(raw.SWITCHYARD_ESP, 'SWITCHYARD_ESP', 'SWITCHYARD_ESP_API_KEY');
  const second = raw.SWITCHYARD_ESP_SECONDARY;
  if (second !== undefined) {
    if (second === raw.SWITCHYARD_ESP)
      out.push(`SWITCHYARD_ESP_SECONDARY: must differ from SWITCHYARD_ESP (both ${second})`);
    else needs(second, 'SWITCHYARD_ESP_SECONDARY', 'SWITCHYARD_ESP_SECONDARY_API_KEY');
  }
  return [...new Set(out)];
}

/** A wildcard bind address is reached locally through loopback. */
function localHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** A comma-separated value as trimmed, non-empty entries; undefined when nothing is listed. */
function list(value: string | undefined): string[] | undefined {
  const items = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return items.length > 0 ? items : undefined;
}

function trustProxy(value: string | undefined): true | string | undefined {
  return value === 'true' ? true : value;
}

/** A key espProblems has already required; the throw keeps the types honest, never the secret. */
function required<T>(value: T | undefined, key: keyof RawConfig, kind: string): T {
  if (value === undefined) throw new SwitchyardError('CONFIG_INVALID', `${key}: required for the ${kind} ESP`);
  return value;
}

function smtpEsp(raw: RawConfig): SmtpEspConfig {
  const url = new URL(required(raw.SWITCHYARD_SMTP_URL, 'SWITCHYARD_SMTP_URL', 'smtp'));
  const secure = url.protocol === 'smtps:';
  const {
    SWITCHYARD_DKIM_DOMAIN: domainName,
    SWITCHYARD_DKIM_SELECTOR: keySelector,
    SWITCHYARD_DKIM_PRIVATE_KEY: privateKey,
  } = raw;
  return {
    kind: 'smtp',
    host: url.hostname,
    port: Number(url.port || (secure ? 465 : 587)),
    secure,
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    poolSize: raw.SWITCHYARD_SMTP_POOL_SIZE,
    commitWindow: raw.SWITCHYARD_SMTP_COMMIT_WINDOW ?? 4 * raw.SWITCHYARD_SMTP_POOL_SIZE,
    dkim: domainName && keySelector && privateKey ? { domainName, keySelector, privateKey } : undefined,
  };
}

/** One ESP account's settings; `apiKey` is the key of its role (primary or secondary). */
function espConfig(raw: RawConfig, kind: EspKind, apiKey: string | undefined, keyVar: ApiKeyVar): EspConfig {
  switch (kind) {
    case 'sandbox':
      return { kind };
    case 'smtp':
      return smtpEsp(raw);
    case 'sendgrid':
      return { kind, apiKey: required(apiKey, keyVar, kind) };
    case 'mailgun':
      return {
        kind,
        apiKey: required(apiKey, keyVar, kind),
        domain: required(raw.SWITCHYARD_MAILGUN_DOMAIN, 'SWITCHYARD_MAILGUN_DOMAIN', kind),
        region: raw.SWITCHYARD_MAILGUN_REGION,
      };
    case 'ses':
      return {
        kind,
        region: required(raw.SWITCHYARD_SES_REGION, 'SWITCHYARD_SES_REGION', kind),
        accessKeyId: required(raw.SWITCHYARD_SES_ACCESS_KEY_ID, 'SWITCHYARD_SES_ACCESS_KEY_ID', kind),
        secretAccessKey: required(raw.SWITCHYARD_SES_SECRET_ACCESS_KEY, 'SWITCHYARD_SES_SECRET_ACCESS_KEY', kind),
        configurationSet: raw.SWITCHYARD_SES_CONFIGURATION_SET,
      };
    case 'postmark':
      return {
        kind,
        serverToken: required(apiKey, keyVar, kind),
        messageStream: raw.SWITCHYARD_POSTMARK_MESSAGE_STREAM,
      };
  }
}

function rateProviders(raw: RawConfig): Record<string, { ratePerSec: number }> {
  const providers: Record<string, { ratePerSec: number }> = {};
  if (raw.SWITCHYARD_ESP_RATE_PER_SEC !== undefined)
    providers[raw.SWITCHYARD_ESP] = { ratePerSec: raw.SWITCHYARD_ESP_RATE_PER_SEC };
  if (raw.SWITCHYARD_ESP_SECONDARY !== undefined && raw.SWITCHYARD_ESP_SECONDARY_RATE_PER_SEC !== undefined) {
    providers[raw.SWITCHYARD_ESP_SECONDARY] = { ratePerSec: raw.SWITCHYARD_ESP_SECONDARY_RATE_PER_SEC };
  }
  return providers;
}

function webhooks(raw: RawConfig): WebhooksConfig {
  const auth = raw.SWITCHYARD_POSTMARK_WEBHOOK_AUTH;
  const colon = auth?.indexOf(':') ?? -1;
  const arns = list(raw.SWITCHYARD_SES_TOPIC_ARNS);
  return {
    maxBodyBytes: raw.SWITCHYARD_WEBHOOK_MAX_BYTES,
    sendgrid: raw.SWITCHYARD_SENDGRID_WEBHOOK_PUBLIC_KEY
      ? { publicKey: raw.SWITCHYARD_SENDGRID_WEBHOOK_PUBLIC_KEY }
      : undefined,
    mailgun: raw.SWITCHYARD_MAILGUN_SIGNING_KEY ? { signingKey: raw.SWITCHYARD_MAILGUN_SIGNING_KEY } : undefined,
    postmark: auth ? { username: auth.slice(0, colon), password: auth.slice(colon + 1) } : undefined,
    stripe: raw.SWITCHYARD_STRIPE_WEBHOOK_SECRET ? { signingSecret: raw.SWITCHYARD_STRIPE_WEBHOOK_SECRET } : undefined,
    ses: arns ? { topicArns: arns, certFile: raw.SWITCHYARD_SES_CERT_FILE } : undefined,
    hubspot: raw.SWITCHYARD_HUBSPOT_CLIENT_SECRET ? { clientSecret: raw.SWITCHYARD_HUBSPOT_CLIENT_SECRET } : undefined,
  };
}

/** SWITCHYARD_SALESFORCE_FIELDS: `role=Field` pairs and bare extra fields, each a Salesforce field name. */
function roleMap(
  value: string | undefined,
  roles: readonly string[],
  key: string,
): { map: Record<string, string>; extra: string[] } | string {
  const map: Record<string, string> = {};
  const extra: string[] = [];
  const name = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/;
  for (const part of list(value) ?? []) {
    const eq = part.indexOf('=');
    const role = eq < 0 ? undefined : part.slice(0, eq).trim();
    const field = (eq < 0 ? part : part.slice(eq + 1)).trim();
    if ((role !== undefined && !roles.includes(role)) || !name.test(field))
      return `${key}: "${part}" is not role=Field (roles ${roles.join(', ')}) or a field name`;
    if (role === undefined) extra.push(field);
    else map[role] = field;
  }
  return { map, extra };
}

/** `role=property` pairs and bare extra names; problems name the key. */
function hubspotProperties(value: string | undefined): { map: Record<string, string>; extra: string[] } | string {
  const map: Record<string, string> = {};
  const extra: string[] = [];
  for (const part of list(value) ?? []) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      extra.push(part);
      continue;
    }
    const role = part.slice(0, eq).trim();
    const property = part.slice(eq + 1).trim();
    if (!(HUBSPOT_ROLES as readonly string[]).includes(role) || property === '')
      return `SWITCHYARD_HUBSPOT_PROPERTIES: "${part}" is not role=property with a role of ${HUBSPOT_ROLES.join(', ')}`;
    map[role] = property;
  }
  return { map, extra };
}

function crmProblems(raw: RawConfig): string[] {
  const problems: string[] = [];
  if (raw.SWITCHYARD_CRM === 'hubspot') {
    const oauth = [
      raw.SWITCHYARD_HUBSPOT_CLIENT_ID,
      raw.SWITCHYARD_HUBSPOT_CLIENT_SECRET,
      raw.SWITCHYARD_HUBSPOT_REFRESH_TOKEN,
    ].every((v) => v !== undefined);
    if (raw.SWITCHYARD_HUBSPOT_TOKEN === undefined && !oauth)
      problems.push(
        'SWITCHYARD_HUBSPOT_TOKEN: required when SWITCHYARD_CRM is hubspot, unless an OAuth app is configured '
          + '(SWITCHYARD_HUBSPOT_CLIENT_ID, SWITCHYARD_HUBSPOT_CLIENT_SECRET and SWITCHYARD_HUBSPOT_REFRESH_TOKEN)',
      );
    if (raw.SWITCHYARD_HUBSPOT_TOKEN !== undefined && raw.SWITCHYARD_HUBSPOT_REFRESH_TOKEN !== undefined)
      problems.push(
        'SWITCHYARD_HUBSPOT_REFRESH_TOKEN: set either it (an OAuth app) or SWITCHYARD_HUBSPOT_TOKEN, not both',
      );
  }
  const props = hubspotProperties(raw.SWITCHYARD_HUBSPOT_PROPERTIES);
  if (typeof props === 'string') problems.push(props);
  if (!/^https?:\/\/[^/]/.test(raw.SWITCHYARD_HUBSPOT_BASE_URL))
    problems.push('SWITCHYARD_HUBSPOT_BASE_URL: must be an http(s) URL');
  const fields = roleMap(raw.SWITCHYARD_SALESFORCE_FIELDS, SALESFORCE_ROLES, 'SWITCHYARD_SALESFORCE_FIELDS');
  if (typeof fields === 'string') problems.push(fields);
  if (!/^https?:\/\/[^/]/.test(raw.SWITCHYARD_SALESFORCE_LOGIN_URL))
    problems.push('SWITCHYARD_SALESFORCE_LOGIN_URL: must be an http(s) URL');
  if (
    raw.SWITCHYARD_SALESFORCE_INSTANCE_URL !== undefined
    && !/^https?:\/\/[^/]/.test(raw.SWITCHYARD_SALESFORCE_INSTANCE_URL)
  )
    problems.push('SWITCHYARD_SALESFORCE_INSTANCE_URL: must be an http(s) URL');
  if (raw.SWITCHYARD_CRM === 'salesforce') {
    if (!raw.SWITCHYARD_SALESFORCE_CLIENT_ID)
      problems.push('SWITCHYARD_SALESFORCE_CLIENT_ID: required when SWITCHYARD_CRM is salesforce');
    if (
      !raw.SWITCHYARD_SALESFORCE_CLIENT_SECRET
      && !(raw.SWITCHYARD_SALESFORCE_JWT_KEY_FILE && raw.SWITCHYARD_SALESFORCE_USERNAME)
    )
      problems.push(
        'SWITCHYARD_SALESFORCE_CLIENT_SECRET: required when SWITCHYARD_CRM is salesforce, unless '
          + 'SWITCHYARD_SALESFORCE_JWT_KEY_FILE and SWITCHYARD_SALESFORCE_USERNAME are set (JWT bearer flow)',
      );
  }
  return problems;
}

function crm(raw: RawConfig): CrmConfig {
  const kind = raw.SWITCHYARD_CRM ?? (raw.SWITCHYARD_DEMO ? 'demo' : 'none');
  if (kind === 'salesforce') return salesforce(raw);
  if (kind !== 'hubspot') return { kind };
  const props = hubspotProperties(raw.SWITCHYARD_HUBSPOT_PROPERTIES) as {
    map: Record<string, string>;
    extra: string[];
  };
  return {
    kind,
    hubspot: {
      ...(raw.SWITCHYARD_HUBSPOT_TOKEN !== undefined
        ? { token: raw.SWITCHYARD_HUBSPOT_TOKEN }
        : {
            oauth: {
              clientId: raw.SWITCHYARD_HUBSPOT_CLIENT_ID as string,
              clientSecret: raw.SWITCHYARD_HUBSPOT_CLIENT_SECRET as string,
              refreshToken: raw.SWITCHYARD_HUBSPOT_REFRESH_TOKEN as string,
            },
          }),
      baseUrl: raw.SWITCHYARD_HUBSPOT_BASE_URL.replace(/\/+$/, ''),
      requestsPer10s: raw.SWITCHYARD_HUBSPOT_RATE,
      properties: { ...props.map, extra: props.extra },
      subscriptionId: raw.SWITCHYARD_HUBSPOT_SUBSCRIPTION_ID,
    },
  };
}

function salesforce(raw: RawConfig): CrmConfig {
  const fields = roleMap(raw.SWITCHYARD_SALESFORCE_FIELDS, SALESFORCE_ROLES, 'SWITCHYARD_SALESFORCE_FIELDS') as {
    map: Record<string, string>;
    extra: string[];
  };
  const secret = raw.SWITCHYARD_SALESFORCE_CLIENT_SECRET;
  return {
    kind: 'salesforce',
    salesforce: {
      loginUrl: raw.SWITCHYARD_SALESFORCE_LOGIN_URL.replace(/\/+$/, ''),
      instanceUrl: raw.SWITCHYARD_SALESFORCE_INSTANCE_URL?.replace(/\/+$/, ''),
      apiVersion: raw.SWITCHYARD_SALESFORCE_API_VERSION,
      clientId: raw.SWITCHYARD_SALESFORCE_CLIENT_ID as string,
      clientSecret: secret,
      jwt:
        secret === undefined
          ? {
              keyFile: raw.SWITCHYARD_SALESFORCE_JWT_KEY_FILE as string,
              username: raw.SWITCHYARD_SALESFORCE_USERNAME as string,
            }
          : undefined,
      fields: { ...fields.map, extra: fields.extra },
      requestsPerSecond: raw.SWITCHYARD_SALESFORCE_RATE,
      usageThreshold: raw.SWITCHYARD_SALESFORCE_USAGE_THRESHOLD,
      pollIntervalMs: raw.SWITCHYARD_SALESFORCE_POLL_INTERVAL_MS,
    },
  };
}

/** Validated keys → the slices. Pure; every check has run, so nothing here is a user error. */
function slices(raw: RawConfig): Config {
  const dataDir = raw.SWITCHYARD_DATA_DIR;
  const bodyLimitBytes = raw.SWITCHYARD_WEBHOOK_MAX_BYTES;
  const jsonMaxDepth = raw.SWITCHYARD_JSON_MAX_DEPTH;
  const maxTracked = raw.SWITCHYARD_RATE_LIMIT_MAX_TRACKED;
  return {
    logLevel: raw.LOG_LEVEL,
    dataDir,
    http: {
      port: raw.PORT,
      host: raw.SWITCHYARD_HOST,
      publicUrl: (raw.SWITCHYARD_PUBLIC_URL ?? `http://${raw.SWITCHYARD_HOST}:${raw.PORT}`).replace(/\/$/, ''),
      trustProxy: trustProxy(raw.SWITCHYARD_TRUST_PROXY),
      bodyLimitBytes,
      jsonMaxDepth,
      rateLimit: {
        perAddress: {
          perMinute: raw.SWITCHYARD_RATE_LIMIT_PUBLIC_PER_MIN,
          burst: raw.SWITCHYARD_RATE_LIMIT_PUBLIC_BURST,
        },
        providers: {
          perMinute: raw.SWITCHYARD_RATE_LIMIT_WEBHOOK_PER_MIN,
          burst: raw.SWITCHYARD_RATE_LIMIT_WEBHOOK_BURST,
        },
        maxTracked,
      },
    },
    admin: {
      port: raw.SWITCHYARD_ADMIN_PORT,
      host: raw.SWITCHYARD_ADMIN_HOST,
      url: `http://${localHost(raw.SWITCHYARD_ADMIN_HOST)}:${raw.SWITCHYARD_ADMIN_PORT}`,
      trustProxy: trustProxy(raw.SWITCHYARD_ADMIN_TRUST_PROXY),
      metricsToken: raw.SWITCHYARD_METRICS_TOKEN,
      allowedHosts: list(raw.SWITCHYARD_ADMIN_ALLOWED_HOSTS),
      allowedOrigins: list(raw.SWITCHYARD_ADMIN_ALLOWED_ORIGINS),
      bodyLimitBytes,
      jsonMaxDepth,
      rateLimit: {
        rule: { perMinute: raw.SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN, burst: raw.SWITCHYARD_RATE_LIMIT_ADMIN_BURST },
        maxTracked,
      },
    },
    cli: { apiKey: raw.SWITCHYARD_API_KEY },
    store:
      raw.DATABASE_URL !== undefined
        ? { kind: 'postgres', url: raw.DATABASE_URL }
        : { kind: 'pglite', dataDir: `${dataDir}/pglite` },
    bus:
      raw.SWITCHYARD_BUS === 'nats'
        ? { kind: 'nats', servers: list(raw.SWITCHYARD_NATS_URL) ?? [], prefix: raw.SWITCHYARD_NATS_PREFIX }
        : { kind: 'postgres-log' },
    replica: raw.SWITCHYARD_REPLICA_URL === undefined ? undefined : { url: raw.SWITCHYARD_REPLICA_URL },
    worker: {
      batchSize: raw.SWITCHYARD_WORKER_BATCH,
      concurrency: raw.SWITCHYARD_WORKER_CONCURRENCY,
      maxAttempts: raw.SWITCHYARD_MAX_ATTEMPTS,
      leaseMs: raw.SWITCHYARD_LEASE_MS,
    },
    recovery: { heartbeatMs: raw.SWITCHYARD_HEARTBEAT_MS, deadAfterMs: raw.SWITCHYARD_INSTANCE_DEAD_AFTER_MS },
    demo: { enabled: raw.SWITCHYARD_DEMO, size: raw.SWITCHYARD_DEMO_SIZE },
    crm: crm(raw),
    crmProfiles: { maxAgeMs: raw.SWITCHYARD_CRM_PROFILE_MAX_AGE_MS },
    messages: {
      passSuppressionCategories: list(raw.SWITCHYARD_MESSAGES_PASS_SUPPRESSION) ?? [],
      postalAddress: raw.SWITCHYARD_MESSAGES_POSTAL_ADDRESS,
    },
    anomalies: {
      granularities: (list(raw.SWITCHYARD_ANOMALY_GRANULARITIES) ?? []) as ('day' | 'hour')[],
      settleMs: raw.SWITCHYARD_ANOMALY_SETTLE_MS,
      threshold: raw.SWITCHYARD_ANOMALY_THRESHOLD,
      minBaseline: raw.SWITCHYARD_ANOMALY_MIN_BASELINE,
      intervalMs: raw.SWITCHYARD_ANOMALY_INTERVAL_MS,
      recipients: list(raw.SWITCHYARD_ANOMALY_RECIPIENTS) ?? [],
      from: raw.SWITCHYARD_ALERT_FROM,
      currency: raw.SWITCHYARD_REVENUE_CURRENCY.toLowerCase(),
    },
    attribution: { currency: raw.SWITCHYARD_REVENUE_CURRENCY.toLowerCase() },
    reports: {
      definitions:
        raw.SWITCHYARD_REPORTS === undefined
          ? []
          : (parseReportDefinitions(raw.SWITCHYARD_REPORTS, raw.SWITCHYARD_REVENUE_CURRENCY) as ReportDefinition[]),
      from: raw.SWITCHYARD_ALERT_FROM,
      intervalMs: raw.SWITCHYARD_REPORT_INTERVAL_MS,
    },
    journeys: {
      batchSize: raw.SWITCHYARD_JOURNEY_BATCH,
      leaseMs: raw.SWITCHYARD_JOURNEY_LEASE_MS,
      webhookSecret: raw.SWITCHYARD_JOURNEY_WEBHOOK_SECRET,
    },
    profiles: {
      changeSecrets: list(raw.SWITCHYARD_CHANGES_SECRET) ?? [],
      toleranceMs: raw.SWITCHYARD_CHANGES_TOLERANCE_MS,
      timerIntervalMs: raw.SWITCHYARD_LIST_TIMER_INTERVAL_MS,
      feed: profileFeed(raw),
    },
    csv: { dirs: list(raw.SWITCHYARD_CSV_DIRS) ?? [] },
    warehouse: {
      url: raw.SWITCHYARD_WAREHOUSE_URL,
      statementTimeoutMs: raw.SWITCHYARD_WAREHOUSE_STATEMENT_TIMEOUT_MS,
      lockTimeoutMs: raw.SWITCHYARD_WAREHOUSE_LOCK_TIMEOUT_MS,
    },
    crmDeals: {
      pollIntervalMs: raw.SWITCHYARD_CRM_DEALS_POLL_INTERVAL_MS,
      settleMs: raw.SWITCHYARD_CRM_DEALS_SETTLE_MS,
    },
    billingTable:
      raw.SWITCHYARD_BILLING_SQL_QUERY === undefined
        ? undefined
        : {
            sql: raw.SWITCHYARD_BILLING_SQL_QUERY,
            pollIntervalMs: raw.SWITCHYARD_BILLING_SQL_POLL_INTERVAL_MS,
            settleMs: raw.SWITCHYARD_BILLING_SQL_SETTLE_MS,
          },
    esp: {
      primary: espConfig(raw, raw.SWITCHYARD_ESP, raw.SWITCHYARD_ESP_API_KEY, 'SWITCHYARD_ESP_API_KEY'),
      secondary:
        raw.SWITCHYARD_ESP_SECONDARY === undefined
          ? undefined
          : espConfig(
              raw,
              raw.SWITCHYARD_ESP_SECONDARY,
              raw.SWITCHYARD_ESP_SECONDARY_API_KEY,
              'SWITCHYARD_ESP_SECONDARY_API_KEY',
            ),
      failover: { threshold: raw.SWITCHYARD_FAILOVER_THRESHOLD, coolDownMs: raw.SWITCHYARD_FAILOVER_COOLDOWN_MS },
    },
    deliverability: { providers: rateProviders(raw) },
    tracking: { secrets: list(raw.SWITCHYARD_TRACKING_SECRET), returnPathDomain: raw.SWITCHYARD_RETURN_PATH_DOMAIN },
    pii: {
      masterKeys: list(raw.SWITCHYARD_PII_MASTER_KEYS),
      indexKey: raw.SWITCHYARD_PII_INDEX_KEY,
      cacheSize: raw.SWITCHYARD_PII_KEY_CACHE_SIZE,
    },
    compliance: {
      secret: raw.SWITCHYARD_COMPLIANCE_SECRET,
      doiTtlMs: raw.SWITCHYARD_DOI_TTL_MS,
      verifyTtlMs: raw.SWITCHYARD_DSR_VERIFY_TTL_MS,
      maxAttempts: raw.SWITCHYARD_DSR_MAX_ATTEMPTS,
      leaseMs: raw.SWITCHYARD_DSR_LEASE_MS,
      inboundAddress: raw.SWITCHYARD_DSR_INBOUND_ADDRESS?.toLowerCase(),
      warehouseStatements:
        raw.SWITCHYARD_DSR_WAREHOUSE_STATEMENTS === undefined
          ? undefined
          : (JSON.parse(raw.SWITCHYARD_DSR_WAREHOUSE_STATEMENTS) as string[]),
      webhook:
        raw.SWITCHYARD_COMPLIANCE_WEBHOOK_URL === undefined
          ? undefined
          : { url: raw.SWITCHYARD_COMPLIANCE_WEBHOOK_URL, secret: raw.SWITCHYARD_COMPLIANCE_WEBHOOK_SECRET ?? '' },
      stripe:
        raw.SWITCHYARD_STRIPE_SECRET_KEY === undefined
          ? undefined
          : { secretKey: raw.SWITCHYARD_STRIPE_SECRET_KEY, apiUrl: raw.SWITCHYARD_STRIPE_API_URL },
    },
    geo: {
      overrides:
        raw.SWITCHYARD_GEO_RULES === undefined ? {} : (parseGeoOverrides(raw.SWITCHYARD_GEO_RULES) as GeoRuleOverrides),
    },
    templates: { renderMs: raw.SWITCHYARD_TEMPLATE_RENDER_LIMIT_MS, memory: raw.SWITCHYARD_TEMPLATE_MEMORY_LIMIT },
    webhooks: webhooks(raw),
    inbound: {
      port: raw.SWITCHYARD_INBOUND_SMTP_PORT,
      host: raw.SWITCHYARD_HOST,
      domains: parseDomainList(raw.SWITCHYARD_INBOUND_DOMAINS ?? raw.SWITCHYARD_RETURN_PATH_DOMAIN),
      maxRecipients: raw.SWITCHYARD_INBOUND_MAX_RECIPIENTS,
      maxConnectionsPerIp: raw.SWITCHYARD_INBOUND_MAX_CONNECTIONS_PER_IP,
      maxConnections: raw.SWITCHYARD_INBOUND_MAX_CONNECTIONS,
      socketTimeoutMs: raw.SWITCHYARD_INBOUND_SOCKET_TIMEOUT_MS,
    },
  };
}

/** Freezes a slice tree, so no service can change what another one was given. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Pure: env (+ file values) → validated, frozen slices. Throws CONFIG_INVALID listing every bad key. */
export function loadConfig(env: Record<string, string | undefined>, file: Record<string, unknown> = {}): Config {
  const known = new Set(Object.keys(SCHEMA.properties));
  const errors: string[] = [];
  for (const k of Object.keys(file)) if (!known.has(k)) errors.push(`${k}: unknown key in switchyard.config.json`);
  const input: Record<string, unknown> = {};
  for (const k of known) {
    const v = env[k] !== undefined && env[k] !== '' ? env[k] : file[k];
    if (v !== undefined) input[k] = v;
  }
  const converted = Value.Convert(SCHEMA, Value.Default(SCHEMA, input));
  for (const e of Value.Errors(SCHEMA, converted)) {
    const key = e.path.replace(/^\//, '').split('/')[0] ?? e.path;
    const shown =
      SCHEMA.properties[key as keyof RawConfig]
      && (SCHEMA.properties[key as keyof RawConfig] as { secret?: boolean }).secret
        ? '(hidden)'
        : JSON.stringify(input[key]);
    const prop = SCHEMA.properties[key as keyof RawConfig] as { anyOf?: { const: string }[] } | undefined;
    const why = prop?.anyOf ? `must be one of ${prop.anyOf.map((a) => a.const).join(', ')}` : e.message;
    const line = `${key}: ${why} (got ${shown})`;
    if (!errors.some((x) => x.startsWith(`${key}:`))) errors.push(line);
  }
  const raw = converted as RawConfig;
  const named = (key: string): boolean => errors.some((e) => e.startsWith(`${key}:`));
  if (!errors.some((e) => e.startsWith('SWITCHYARD_ESP')))
    errors.push(...espProblems(raw).filter((p) => !named(p.slice(0, p.indexOf(':')))));
  errors.push(...crmProblems(raw).filter((p) => !named(p.slice(0, p.indexOf(':')))));
  errors.push(...piiProblems(raw).filter((p) => !named(p.slice(0, p.indexOf(':')))));
  if (errors.length === 0 && raw.PORT !== 0 && raw.PORT === raw.SWITCHYARD_ADMIN_PORT) {
    errors.push(
      `SWITCHYARD_ADMIN_PORT: must differ from PORT (both ${raw.PORT}): the admin API never shares the public listener`,
    );
  }
  if (errors.length > 0)
    throw new SwitchyardError('CONFIG_INVALID', `invalid configuration:\n  ${errors.join('\n  ')}`, {
      details: { errors },
    });
  return deepFreeze(slices(raw));
}
