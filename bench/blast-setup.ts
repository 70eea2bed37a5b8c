/** Settings shared by the blast bench and its send-worker processes. */
import type { createApp } from '../src/app.ts';
import type { Esp, OutboundMessage } from '../src/connectors/esp/port.ts';
import { createSandboxEsp } from '../src/connectors/esp/sandbox/adapter.ts';
import { createSmtpEsp } from '../src/connectors/esp/smtp/adapter.ts';

export type MakeEsp = NonNullable<NonNullable<Parameters<typeof createApp>[1]>['esp']>;

/** SMTP connections of both legs of the SMTP comparison. */
export const SMTP_POOL = 5;

export const BENCH_ENV = {
  SWITCHYARD_TRACKING_SECRET: 'bench',
  LOG_LEVEL: 'silent',
  SWITCHYARD_WORKER_CONCURRENCY: '4',
  // one PII master key and blind-index key for the main process and every send worker (base64 of 32 bytes)
  SWITCHYARD_PII_MASTER_KEYS: 'YmVuY2gtbWFzdGVyLWtleS0zMi1ieXRlcy1sb25nISE',
  SWITCHYARD_PII_INDEX_KEY: 'YmVuY2gtaW5kZXgta2V5LS0zMi1ieXRlcy1sb25nISE',
};

/**
 * The governor's per-ESP account limit defaults to 1000/s; the bench measures the pipeline, so it
 * is lifted for both ESPs it uses (the environment's SWITCHYARD_ESP_RATE_PER_SEC names only the
 * configured ESP, and the SMTP leg's `smtp` had stayed at 1000/s).
 */
export const BENCH_GOVERNOR = { providers: { sandbox: { ratePerSec: 1_000_000 }, smtp: { ratePerSec: 1_000_000 } } };

/** Sandbox ESP with its simulated reactions off, so it keeps no per-message state. */
export const silentSandbox: MakeEsp = ({ clock, ingest }) =>
  createSandboxEsp(
    {
      clock,
      emit: async (e) => {
        await ingest(e);
      },
    },
    { outboxLimit: 1000, rates: { delivered: 0, bounce: 0, open: 0, click: 0, unsubscribe: 0, complaint: 0 } },
  );

/** The SMTP leg's ESP: a pool of SMTP_POOL connections to the sink, keeping what it accepted in `into`. */
export function keptSmtp(
  sink: { host: string; port: number },
  commitWindow: number | undefined,
  into: OutboundMessage[],
): MakeEsp {
  return ({ clock }) =>
    keepAccepted(
      createSmtpEsp(
        { clock },
        { host: sink.host, port: sink.port, pool: { maxConnections: SMTP_POOL, maxMessages: 100_000 }, commitWindow },
      ),
      into,
    );
}

/**
 * The ESP as the pipeline sees it, keeping every message the server accepted (in acceptance
 * order) so that bare nodemailer can send exactly those afterwards. The messages are the objects
 * the send stage rendered anyway; keeping them costs only their retention.
 */
export function keepAccepted(esp: Esp, into: OutboundMessage[]): Esp {
  return {
    name: esp.name,
    commitPoint: esp.commitPoint,
    maxBatchSize: esp.maxBatchSize,
    send: (msg) =>
      esp.send(msg).then((receipt) => {
        into.push(msg);
        return receipt;
      }),
    sendBatch: (messages, hooks) =>
      esp.sendBatch(messages, {
        ...hooks,
        // the pipeline's confirmation is returned: the message keeps its place in the commit window until it lands
        afterAccepted(msg, receipt) {
          into.push(msg);
          return hooks?.afterAccepted?.(msg, receipt);
        },
      }),
    close: () => esp.close(),
  };
}
