/**
 * The send stage's ESP from its configuration slice: the primary adapter, wrapped in failover to
 * the secondary when one is configured (src/deliverability/failover-esp.ts; switches are logged),
 * and the ESP's own suppression sink where the adapter has one.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock/port.ts';
import type { EspConfig, EspsConfig } from '../config.ts';
import type { Esp } from '../connectors/esp/port.ts';
import { createMailgunEsp } from '../connectors/esp/mailgun/adapter.ts';
import { createPostmarkEsp } from '../connectors/esp/postmark/adapter.ts';
import { createSandboxEsp } from '../connectors/esp/sandbox/adapter.ts';
import { createSendGridEsp } from '../connectors/esp/sendgrid/adapter.ts';
import { createSesEsp } from '../connectors/esp/ses/adapter.ts';
import { createSmtpEsp } from '../connectors/esp/smtp/adapter.ts';
import type { SuppressionSink } from '../compliance/sink-port.ts';
import { createRecordingSuppressionSink } from '../compliance/sinks.ts';
import { createFailoverEsp } from '../deliverability/failover-esp.ts';
import type { Ingest } from '../reactions/ingest.ts';
import type { Db } from '../store/port.ts';

export interface EspDeps {
  clock: Clock;
  ingest: Ingest;
  log?: Logger;
  /** The sandbox keeps its pending simulated events here, so they survive a restart. */
  db?: Db;
}

/** One ESP adapter for one configured account. */
export function createEsp(esp: EspConfig, deps: EspDeps): Esp {
  const { clock } = deps;
  switch (esp.kind) {
    case 'sandbox':
      return createSandboxEsp(
        {
          clock,
          emit: async (events) => {
            await deps.ingest(events);
          },
          db: deps.db,
        },
        { flushEveryMs: 1000 },
      );
    case 'smtp':
      return createSmtpEsp(
        { clock },
        {
          host: esp.host,
          port: esp.port,
          secure: esp.secure,
          ...(esp.auth ? { auth: esp.auth } : {}),
          pool: { maxConnections: esp.poolSize, maxMessages: 1000 },
          dkim: esp.dkim,
          commitWindow: esp.commitWindow,
        },
      );
    case 'sendgrid':
      return createSendGridEsp({ clock }, { apiKey: esp.apiKey });
    case 'mailgun':
      return createMailgunEsp({ clock }, { apiKey: esp.apiKey, domain: esp.domain, region: esp.region });
    case 'ses':
      return createSesEsp(
        { clock },
        {
          region: esp.region,
          credentials: { accessKeyId: esp.accessKeyId, secretAccessKey: esp.secretAccessKey },
          ...(esp.configurationSet ? { configurationSetName: esp.configurationSet } : {}),
        },
      );
    case 'postmark':
      return createPostmarkEsp({ clock }, { serverToken: esp.serverToken, messageStream: esp.messageStream });
  }
}

/** The primary ESP, or failover between primary and secondary when a secondary is configured. */
export function createConfiguredEsp(esps: EspsConfig, deps: EspDeps): Esp {
  const primary = createEsp(esps.primary, deps);
  if (esps.secondary === undefined) return primary;
  const secondary = createEsp(esps.secondary, deps);
  return createFailoverEsp(primary, secondary, {
    clock: deps.clock,
    failureThreshold: esps.failover.threshold,
    coolDownMs: esps.failover.coolDownMs,
    onSwitch: (to, reason) =>
      deps.log?.warn(
        { esp: to === 'primary' ? primary.name : secondary.name, reason },
        `ESP failover: now sending through the ${to} (${reason})`,
      ),
  });
}

/**
 * The primary ESP's own suppression list, as a propagation sink. The sandbox records in memory;
 * SMTP relays keep no list of their own, so Switchyard's list is the ESP's and confirms at once.
 * HTTP ESP suppression APIs are not wired yet (their rows stay pending, visibly).
 */
export function espSuppressionSinks(esp: EspConfig): SuppressionSink[] {
  if (esp.kind === 'sandbox') return [createRecordingSuppressionSink('esp')];
  if (esp.kind === 'smtp')
    return [{ name: 'esp', suppress: async (items) => ({ confirmed: items.map((i) => i.email) }) }];
  return [];
}
