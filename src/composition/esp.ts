/**
 * The send stage's ESP from its configuration slice: the primary adapter, wrapped in failover to
 * the secondary when one is configured (src/deliverability/failover-esp.ts; switches are logged),
 * and each configured ESP's own suppression list as a propagation sink.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock/port.ts';
import type { EspConfig, EspsConfig } from '../config.ts';
import type { Esp } from '../connectors/esp/port.ts';
import { createMailgunEsp } from '../connectors/esp/mailgun/adapter.ts';
import { createMailgunSuppressionSink } from '../connectors/esp/mailgun/suppression-sink.ts';
import { createPostmarkEsp } from '../connectors/esp/postmark/adapter.ts';
import { createPostmarkSuppressionSink } from '../connectors/esp/postmark/suppression-sink.ts';
import { createSandboxEsp } from '../connectors/esp/sandbox/adapter.ts';
import { createSendGridEsp } from '../connectors/esp/sendgrid/adapter.ts';
import { createSendGridSuppressionSink } from '../connectors/esp/sendgrid/suppression-sink.ts';
import { createSesEsp } from '../connectors/esp/ses/adapter.ts';
import { createSesSuppressionSink } from '../connectors/esp/ses/suppression-sink.ts';
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
 * One ESP account's own suppression list, as a propagation sink named `name`. The sandbox records
 * in memory; SMTP relays keep no list of their own, so Switchyard's list is the ESP's and confirms
 * at once; the HTTP ESPs get their vendor's suppression API (src/connectors/esp/<vendor>/suppression-sink.ts).
 */
export function espSuppressionSink(
  esp: EspConfig,
  deps: { clock: Clock; fetch?: typeof fetch },
  name = 'esp',
): SuppressionSink {
  switch (esp.kind) {
    case 'sandbox':
      return createRecordingSuppressionSink(name);
    case 'smtp':
      return { name, suppress: async (items) => ({ confirmed: items.map((i) => i.email) }) };
    case 'sendgrid':
      return createSendGridSuppressionSink(deps, { apiKey: esp.apiKey, name });
    case 'mailgun':
      return createMailgunSuppressionSink(deps, { apiKey: esp.apiKey, domain: esp.domain, region: esp.region, name });
    case 'ses':
      return createSesSuppressionSink(deps, {
        region: esp.region,
        credentials: { accessKeyId: esp.accessKeyId, secretAccessKey: esp.secretAccessKey },
        name,
      });
    case 'postmark':
      return createPostmarkSuppressionSink(deps, {
        serverToken: esp.serverToken,
        messageStream: esp.messageStream,
        name,
      });
  }
}

/**
 * The suppression sinks of the configured ESPs: the primary's list as system `esp` and, when
 * failover may send through a secondary with a list of its own, that one as `esp-secondary`
 * (an address suppressed here must be refused by whichever ESP carries the next message).
 */
export function espSuppressionSinks(esps: EspsConfig, deps: { clock: Clock; fetch?: typeof fetch }): SuppressionSink[] {
  const primary = espSuppressionSink(esps.primary, deps, 'esp');
  const secondary =
    esps.secondary === undefined || esps.secondary.kind === 'smtp' || esps.secondary.kind === 'sandbox'
      ? undefined
      : espSuppressionSink(esps.secondary, deps, 'esp-secondary');
  return secondary === undefined ? [primary] : [primary, secondary];
}
