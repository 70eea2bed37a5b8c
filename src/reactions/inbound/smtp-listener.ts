/**
 * The inbound SMTP listener (smtp-server): accepts DSNs, ARF reports and replies sent to our
 * bounce/reply domains and hands each raw message plus its envelope to `onMessage`. No AUTH or
 * TLS (it listens behind the MX on loopback or a private network). Invariants: a message over
 * `maxMessageBytes` is refused with 552 and never buffered past the limit; if `onMessage` throws,
 * the sender gets 451 and retries later, so nothing accepted is lost. Logs carry sizes, not addresses.
 */
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { toError } from '../../core/errors.ts';

/** The subset of a pino logger this listener uses. */
export interface InboundLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface InboundEnvelope { mailFrom: string; rcptTo: string[] }

export interface InboundSmtpListenerDeps {
  log?: InboundLog;
  /** Stores or enqueues the message. Must be idempotent: a 451 makes the sender deliver it again. */
  onMessage(raw: Buffer, envelope: InboundEnvelope): Promise<void>;
}

export interface InboundSmtpListenerOptions { host: string; port: number; maxMessageBytes: number }

export interface InboundSmtpListener {
  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<{ port: number }>;
  /** Stops accepting and closes open connections. */
  close(): Promise<void>;
}

/** An SMTP reply error: smtp-server sends `responseCode` and the message to the client. */
function smtpError(responseCode: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode });
}

const SILENT_LOG: InboundLog = { info() {}, warn() {}, error() {} };

export function createInboundSmtpListener(deps: InboundSmtpListenerDeps, options: InboundSmtpListenerOptions): InboundSmtpListener {
  const log = deps.log ?? SILENT_LOG;
  const limit = options.maxMessageBytes;

  async function handle(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<void> {
    const chunks: Buffer[] = [];
    let kept = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      // Keep reading to the end so the session stays in sync, but stop buffering past the limit.
      if (kept <= limit) {
        chunks.push(chunk);
        kept += chunk.length;
      }
    }
    if (stream.sizeExceeded || kept > limit) {
      log.warn({ limitBytes: limit }, 'inbound message refused: too large');
      throw smtpError(552, `5.3.4 Message exceeds the maximum size of ${limit} bytes`);
    }
    const envelope: InboundEnvelope = {
      mailFrom: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
      rcptTo: session.envelope.rcptTo.map((r) => r.address),
    };
    try {
      await deps.onMessage(Buffer.concat(chunks), envelope);
    } catch (err) {
      log.warn({ err: toError(err), bytes: kept }, 'inbound message handler failed; asked sender to retry');
      throw smtpError(451, '4.3.0 Temporary failure while storing the message, please retry');
    }
    log.info({ bytes: kept, recipients: envelope.rcptTo.length }, 'inbound message accepted');
  }

  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: limit,
    logger: false,
    banner: 'Switchyard inbound',
    closeTimeout: 5000,
    onData(stream, session, callback) {
      handle(stream, session).then(() => callback(), (err: unknown) => callback(toError(err)));
    },
  });
  server.on('error', (err) => log.error({ err }, 'inbound SMTP server error'));

  return {
    listen: () => new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.server.once('error', onError);
      server.listen(options.port, options.host, () => {
        server.server.off('error', onError);
        const port = (server.server.address() as AddressInfo).port;
        log.info({ host: options.host, port }, 'inbound SMTP listening');
        resolve({ port });
      });
    }),
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
    }),
  };
}
