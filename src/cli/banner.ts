/**
 * What `switchyard start` prints before it serves: which store, bus, ESP, DKIM and demo setting
 * are in force, where it listens, and warnings for settings that are risky in production. Pure,
 * from the typed config slices; never prints a secret (URLs lose their credentials).
 */
import type { Config, EspConfig, WebhooksConfig } from '../config.ts';

export type BannerConfig = Pick<
  Config,
  'dataDir' | 'http' | 'admin' | 'store' | 'bus' | 'esp' | 'tracking' | 'webhooks' | 'inbound' | 'demo'
>;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

/** host:port/db of a PostgreSQL URL, without user or password. */
function postgresWhere(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}

function espLine(esp: EspConfig): string {
  switch (esp.kind) {
    case 'sandbox':
      return 'sandbox (simulated, nothing leaves this machine)';
    case 'smtp':
      return `smtp ${esp.host}:${esp.port}${esp.secure ? ' (TLS)' : ' (STARTTLS)'}`;
    case 'mailgun':
      return `mailgun ${esp.domain} (${esp.region})`;
    case 'ses':
      return `ses ${esp.region}`;
    default:
      return esp.kind;
  }
}

function dkimLine(esp: EspConfig): string {
  if (esp.kind === 'smtp')
    return esp.dkim === undefined
      ? 'off (set SWITCHYARD_DKIM_DOMAIN, _SELECTOR and _PRIVATE_KEY)'
      : `on, domain ${esp.dkim.domainName}, selector ${esp.dkim.keySelector}`;
  return esp.kind === 'sandbox' ? 'off (sandbox)' : `signed by ${esp.kind}`;
}

/** The webhook key an ESP's delivery events need; undefined when it has no webhooks. */
function webhookMissing(esp: EspConfig, webhooks: WebhooksConfig): string | undefined {
  const need: Partial<Record<EspConfig['kind'], [keyof WebhooksConfig, string]>> = {
    sendgrid: ['sendgrid', 'SWITCHYARD_SENDGRID_WEBHOOK_PUBLIC_KEY'],
    mailgun: ['mailgun', 'SWITCHYARD_MAILGUN_SIGNING_KEY'],
    postmark: ['postmark', 'SWITCHYARD_POSTMARK_WEBHOOK_AUTH'],
    ses: ['ses', 'SWITCHYARD_SES_TOPIC_ARNS'],
  };
  const entry = need[esp.kind];
  if (entry === undefined || webhooks[entry[0]] !== undefined) return undefined;
  return `no webhook key for ${esp.kind}: its delivery, bounce and complaint events are refused (401); set ${entry[1]}`;
}

/** The warnings alone, for tests and for logging. */
export function bannerWarnings(c: BannerConfig): string[] {
  const warnings: string[] = [];
  const esps = [c.esp.primary, ...(c.esp.secondary === undefined ? [] : [c.esp.secondary])];
  const realEsp = esps.some((e) => e.kind !== 'sandbox');
  let linkHost = '';
  try {
    linkHost = new URL(c.http.publicUrl).hostname;
  } catch {
    linkHost = '';
  }
  if (realEsp && (isLoopback(linkHost) || linkHost === '0.0.0.0'))
    warnings.push(
      `tracking and unsubscribe links point at ${c.http.publicUrl}, which recipients cannot reach; `
        + 'set SWITCHYARD_PUBLIC_URL to the public address of this listener',
    );
  if (realEsp && c.tracking.secrets === undefined)
    warnings.push(
      `the tracking secret was generated into ${c.dataDir}; every instance needs the same one: `
        + 'set SWITCHYARD_TRACKING_SECRET',
    );
  if (!isLoopback(c.admin.host))
    warnings.push(
      `the admin API listens on ${c.admin.host}, not loopback; keep it off the internet `
        + '(firewall, or SWITCHYARD_ADMIN_HOST=127.0.0.1)',
    );
  for (const esp of esps) {
    const missing = webhookMissing(esp, c.webhooks);
    if (missing !== undefined) warnings.push(missing);
  }
  if (c.esp.primary.kind === 'smtp' && c.esp.primary.dkim === undefined)
    warnings.push('DKIM is off: mail sent over SMTP is unsigned and likely to land in spam');
  if (c.demo.enabled && realEsp)
    warnings.push('the demo workspace is on with a real ESP: set SWITCHYARD_DEMO=false in production');
  return warnings;
}

/** The block, one line each; `switchyard start` prints it before listening. */
export function startBanner(c: BannerConfig): string[] {
  const store =
    c.store.kind === 'pglite' ? `PGlite (embedded) at ${c.store.dataDir}` : `PostgreSQL ${postgresWhere(c.store.url)}`;
  const lines = [
    'Switchyard starting',
    `  store      ${store}`,
    `  bus        ${c.bus.kind}`,
    `  ESP        ${espLine(c.esp.primary)}`
      + (c.esp.secondary === undefined ? '' : `; failover to ${espLine(c.esp.secondary)}`),
    `  DKIM       ${dkimLine(c.esp.primary)}`,
    `  demo       ${c.demo.enabled ? `on (demo audience, ${c.demo.size} contacts)` : 'off'}`,
    `  public     ${c.http.host}:${c.http.port}, links to ${c.http.publicUrl}`,
    `  admin      ${c.admin.url}`,
    `  inbound    ${c.inbound.port === 0 ? 'SMTP off' : `SMTP on port ${c.inbound.port}`}`,
  ];
  for (const w of bannerWarnings(c)) lines.push(`  WARNING: ${w}`);
  return lines;
}
