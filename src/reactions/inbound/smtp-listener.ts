/**
 * The inbound SMTP listener (smtp-server): accepts DSNs, ARF reports and replies sent to our
 * bounce/reply addresses and hands each raw message plus its envelope to `onMessage`. No AUTH or
 * TLS (it listens behind the MX on loopback or a private network). Invariants: RCPT is accepted
 * only for addresses `acceptRecipient` approves (550 5.7.1 otherwise), at most `maxRecipients` per
 * transaction (452 4.5.3 beyond), `maxConnectionsPerIp` per source address and `maxConnections` in
 * all (421 and close beyond), idle sockets close after `socketTimeoutMs`; a message over
 * `maxMessageBytes` is refused with 552 and never buffered past the limit. If `onMessage` fails
 * with an outage (core/transient-failure.ts) the sender gets 451 and retries later; any other
 * failure would repeat identically, so it gets 554 and stops. Logs carry sizes, not addresses.
 */
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { toError } from '../../core/errors.ts';
import { isTransientFailure } from '../../core/transient-failure.ts';

/** The subset of a pino logger this listener uses. */
export interface InboundLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface InboundEnvelope {
  mailFrom: string;
  rcptTo: string[];
}

export interface InboundSmtpListenerDeps {
  log?: InboundLog;
  /** Whether mail for this RCPT TO address is ours to take (core/inbound/recipients.ts). */
  acceptRecipient(address: string): boolean;
  /**
   * Stores or enqueues the message. Must be idempotent: a 451 makes the sender deliver it again.
   * Throw a transient failure (a retryable SwitchyardError, a connection error) only for an
   * outage; anything else thrown is answered 554 and the sender gives up.
   */
  onMessage(raw: Buffer, envelope: InboundEnvelope): Promise<void>;
}

export interface InboundSmtpListenerOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  /** Recipients per transaction (default 50). */
  maxRecipients?: number;
  /** Open connections per source address (default 10). */
  maxConnectionsPerIp?: number;
  /** Open connections in all (default 100). */
  maxConnections?: number;
  /** Idle time before the server closes a connection (default 60 s). */
  socketTimeoutMs?: number;
}

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

export function createInboundSmtpListener(
  deps: InboundSmtpListenerDeps,
  options: InboundSmtpListenerOptions,
): InboundSmtpListener {
  const log = deps.log ?? SILENT_LOG;
  const limit = options.maxMessageBytes;
  const maxRecipients = options.maxRecipients ?? 50;
  const maxPerIp = options.maxConnectionsPerIp ?? 10;
  /** Source address → ids of its open sessions (ids, not a counter: onClose may come without onConnect). */
  const open = new Map<string, Set<string>>();

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
      if (isTransientFailure(err)) {
        log.warn({ err: toError(err), bytes: kept }, 'inbound message handler failed; asked sender to retry');
        throw smtpError(451, '4.3.0 Temporary failure while storing the message, please retry');
      }
      log.error({ err: toError(err), bytes: kept }, 'inbound message refused: it cannot be stored');
      throw smtpError(554, '5.3.0 The message cannot be processed');
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
    maxClients: options.maxConnections ?? 100,
    socketTimeout: options.socketTimeoutMs ?? 60_000,
    // a PTR lookup per connection costs a DNS round trip an attacker can make slow; we never use the name
    disableReverseLookup: true,
    onConnect(session, callback) {
      const ip = session.remoteAddress;
      const ids = open.get(ip) ?? new Set<string>();
      if (ids.size >= maxPerIp) {
        log.warn({ limit: maxPerIp }, 'inbound connection refused: too many from one address');
        callback(smtpError(421, '4.7.0 Too many connections from your address, try again later'));
        return;
      }
      ids.add(session.id);
      open.set(ip, ids);
      callback();
    },
    onClose(session) {
      const ids = open.get(session.remoteAddress);
      if (ids?.delete(session.id) === true && ids.size === 0) open.delete(session.remoteAddress);
    },
    onRcptTo(address, session, callback) {
      if (session.envelope.rcptTo.length >= maxRecipients) {
        callback(smtpError(452, '4.5.3 Too many recipients'));
        return;
      }
      if (!deps.acceptRecipient(address.address)) {
        callback(smtpError(550, '5.7.1 Relaying denied: not a mailbox of this server'));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      handle(stream, session).then(
        () => callback(),
        (err: unknown) => callback(toError(err)),
      );
    },
  });
  server.on('error', (err) => log.error({ err }, 'inbound SMTP server error'));

  return {
    listen: () =>
      new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.server.once('error', onError);
        server.listen(options.port, options.host, () => {
          server.server.off('error', onError);
          const port = (server.server.address() as AddressInfo).port;
          log.info({ host: options.host, port }, 'inbound SMTP listening');
          resolve({ port });
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
      }),
  };
}
