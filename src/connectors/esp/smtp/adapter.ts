/**
 * The SMTP Esp: hands each message to an SMTP relay or MTA over nodemailer's pooled transport
 * (optionally DKIM-signing it). One message is one SMTP transaction with one recipient, so
 * maxBatchSize is 1 and sendBatch runs the messages concurrently over the pool. It sets our own
 * Message-ID, the VERP envelope sender (msg.returnPath) and the correlation headers X-Switchyard-Msg
 * (ledger id), X-Switchyard-Campaign and X-Switchyard-Contact, so a DSN or ARF report that comes back
 * by mail still names the ledger row. The message is composed here (compose.ts) and handed to
 * nodemailer as `raw`, so nodemailer only signs and transports it. It never retries: the bus owns
 * that. Commit point: the final "." of DATA is withheld until beforeCommit resolved; beforeCommit
 * starts when a message enters the commit window (commit-window.ts), and the message leaves the window
 * when afterAccepted's confirmation settled, so at most `commitWindow` messages are ever committed and
 * unconfirmed, which bounds what a crash leaves in doubt.
 */
import { Transform, type Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import DKIM from 'nodemailer/lib/dkim/index.js';
import type { Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type { Clock } from '../../../clock/port.ts';
import { SwitchyardError, isSwitchyardError } from '../../../core/errors.ts';
import type { BatchResult, Esp, OutboundMessage, SendHooks, SendReceipt } from '../port.ts';
import { createCommitWindow } from './commit-window.ts';
import { SMTP_CORRELATION_HEADERS, composeMessage } from './compose.ts';
import { mapSmtpError } from './smtp-errors.ts';
import type { SmtpFailure } from './smtp-errors.ts';

export interface SmtpEspOptions {
  host: string;
  port: number;
  /** Implicit TLS (port 465). Otherwise STARTTLS is used when the server offers it. */
  secure?: boolean;
  /** Refuse to send unless STARTTLS succeeds (set for any relay outside this machine). */
  requireTls?: boolean;
  auth?: { user: string; pass: string };
  pool: { maxConnections: number; maxMessages: number };
  dkim?: { domainName: string; keySelector: string; privateKey: string };
  /** Hostname we announce in EHLO. */
  name?: string;
  /** Socket timeouts in ms (defaults: nodemailer's). */
  connectionTimeoutMs?: number;
  socketTimeoutMs?: number;
  /**
   * Most messages at once between "beforeCommit started" and "afterAccepted settled" (default
   * 4 × pool.maxConnections). A message holds its place from before its commit until its `sent`
   * row is written, two ledger round trips plus its transfer, so a window the size of the pool
   * leaves the connections waiting on the ledger (docs/decisions/0003-smtp-commit-window.md). It
   * is also the most messages a crash can leave in doubt, and the most held composed at once.
   */
  commitWindow?: number;
}

export { SMTP_CORRELATION_HEADERS };

/** SMTP envelope: the VERP return path (else the From address) and the one recipient. */
function envelopeOf(msg: OutboundMessage): { from: string; to: string[] } {
  return { from: msg.returnPath ?? msg.from.address, to: [msg.to.address] };
}

/**
 * The message as nodemailer mail options, for nodemailer to compose. The adapter sends
 * composeMessage's raw message instead; this stays as what a bare nodemailer comparison sends
 * and what the composition test compares against.
 */
export function smtpMailOptions(msg: OutboundMessage): Mail.Options {
  return {
    messageId: `<${msg.messageId}>`,
    from: { name: msg.from.name ?? '', address: msg.from.address },
    to: { name: msg.to.name ?? '', address: msg.to.address },
    ...(msg.replyTo === undefined ? {} : { replyTo: { name: msg.replyTo.name ?? '', address: msg.replyTo.address } }),
    subject: msg.subject,
    text: msg.text,
    ...(msg.html === undefined ? {} : { html: msg.html }),
    ...(msg.attachments === undefined
      ? {}
      : {
          attachments: msg.attachments.map((a) => ({
            filename: a.filename,
            contentType: a.contentType,
            content: a.contentBase64,
            encoding: 'base64',
          })),
        }),
    headers: {
      ...msg.headers,
      [SMTP_CORRELATION_HEADERS.ledgerId]: msg.correlation.ledgerId,
      [SMTP_CORRELATION_HEADERS.campaignId]: msg.correlation.campaignId,
      [SMTP_CORRELATION_HEADERS.contactId]: msg.correlation.contactId,
    },
    envelope: envelopeOf(msg),
  };
}

/** Where a message's commit travels with it through nodemailer (mail.data keeps own string keys). */
const HOLD_KEY = 'switchyardHold';
interface Hold {
  /** Settles once beforeCommit did; `refused` is set when it rejected. */
  committed: Promise<{ refused?: unknown }>;
  onRefused(err: unknown): void;
  /** Told when the final dot starts and stops waiting for the commit (our time, not the server's). */
  onWait?(phase: 'start' | 'end'): void;
}

/** Where a message's provider latency is measured: its transaction starts when nodemailer's
 *  connection opens the message stream (after the pool queue), and the commit wait is ours. */
const TIMING_KEY = 'switchyardTiming';
interface Timing {
  startedAt: number | undefined;
  heldMs: number;
  waitFrom: number;
  answeredAt: number | undefined;
}

/** The server's share of one transaction, or undefined when it never reached a connection. */
function providerLatency(t: Timing): number | undefined {
  if (t.startedAt === undefined || t.answeredAt === undefined) return undefined;
  return Math.max(0, t.answeredAt - t.startedAt - t.heldMs);
}

/**
 * Passes the message through but withholds its end until the commit settled: nodemailer writes
 * the terminating "." of DATA only when the stream ends, and the server accepts the message only
 * on that dot. A refused commit fails the stream instead, which aborts the transaction.
 */
function withholdEnd(input: Readable, hold: Hold): Readable {
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, chunk);
    },
    flush(callback) {
      hold.onWait?.('start');
      void hold.committed.then(({ refused }) => {
        hold.onWait?.('end');
        if (refused === undefined) return callback();
        hold.onRefused(refused);
        callback(refused instanceof Error ? refused : new Error(String(refused)));
      });
    },
  });
  // not stream.pipeline: it builds an AbortController per call (and a DOMException when the
  // stream finishes), a cost paid on every message of the send path
  input.on('error', (err) => out.destroy(err));
  return input.pipe(out);
}

export function createSmtpEsp(deps: { clock: Clock }, options: SmtpEspOptions): Esp {
  const transport: Transporter = nodemailer.createTransport({
    pool: true,
    host: options.host,
    port: options.port,
    secure: options.secure ?? false,
    requireTLS: options.requireTls ?? false,
    ...(options.auth === undefined ? {} : { auth: { user: options.auth.user, pass: options.auth.pass } }),
    maxConnections: options.pool.maxConnections,
    maxMessages: options.pool.maxMessages,
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.connectionTimeoutMs === undefined ? {} : { connectionTimeout: options.connectionTimeoutMs }),
    ...(options.socketTimeoutMs === undefined ? {} : { socketTimeout: options.socketTimeoutMs }),
  } satisfies SMTPPool.Options);
  let isClosed = false;
  const dkim = options.dkim === undefined ? undefined : new DKIM({ ...options.dkim });
  // nodemailer streams each (raw) message once, straight into the socket. Its last two stream
  // stages are ours, in this order: DKIM (which emits the signed message only once it has all of it),
  // then the hold on the end of the stream. So the whole signed message is transmitted and only
  // the final dot waits for the commit. (The transport's own `dkim` option would sign after
  // the hold, sending the whole message only after the commit.)
  transport.use('stream', (mail, done) => {
    if (dkim !== undefined) mail.message.processFunc((input) => dkim.sign(input));
    const hold = (mail.data as { [HOLD_KEY]?: Hold })[HOLD_KEY];
    const timing = (mail.data as { [TIMING_KEY]?: Timing })[TIMING_KEY];
    if (timing !== undefined)
      mail.message.processFunc((input) => {
        // runs when a connection opens the stream, again if the pool requeues the message
        timing.startedAt = deps.clock.now().getTime();
        timing.heldMs = 0;
        return input;
      });
    if (hold !== undefined) mail.message.processFunc((input) => withholdEnd(input, hold));
    done();
  });
  const closedError = (): SwitchyardError =>
    new SwitchyardError('ESP_UNAVAILABLE', 'SMTP Esp is closed', { retryable: true });
  const window = createCommitWindow(options.commitWindow ?? 4 * options.pool.maxConnections, closedError);

  /**
   * One SMTP transaction inside the commit window. beforeCommit starts as soon as the message
   * holds a slot, before it is composed or reaches a connection, so the commit's round trip to
   * the ledger overlaps this message's queueing, envelope and body and the transfers of the
   * messages ahead of it; only the final dot waits for it.
   */
  async function send(msg: OutboundMessage, hooks?: SendHooks, timing?: Timing): Promise<SendReceipt> {
    await window.enter();
    let refused: unknown;
    try {
      if (isClosed) throw closedError();
      let hold: Hold | undefined;
      if (hooks?.beforeCommit !== undefined) {
        // settled here so that a refusal is never unhandled when the transaction fails first
        const committed = hooks.beforeCommit(msg).then(
          () => ({}),
          (err: unknown) => ({ refused: err ?? new Error('beforeCommit refused') }),
        );
        hold = {
          committed,
          onRefused: (err) => {
            refused = err;
          },
          onWait: (phase) => {
            if (timing === undefined) return;
            const at = deps.clock.now().getTime();
            if (phase === 'start') timing.waitFrom = at;
            else timing.heldMs += at - timing.waitFrom;
          },
        };
      }
      const sent = transport.sendMail({
        raw: composeMessage(msg, deps.clock.now()),
        // not written (the raw message has its own), but spares nodemailer generating a random one
        messageId: `<${msg.messageId}>`,
        envelope: envelopeOf(msg),
        ...(hold === undefined ? {} : { [HOLD_KEY]: hold }),
        ...(timing === undefined ? {} : { [TIMING_KEY]: timing }),
      });
      const info = (await sent.finally(() => {
        if (timing !== undefined) timing.answeredAt = deps.clock.now().getTime();
      })) as { rejected?: unknown[]; response?: string };
      // One recipient per message: a rejected recipient without a thrown error still means not sent.
      if (Array.isArray(info.rejected) && info.rejected.length > 0) {
        throw mapSmtpError({ responseCode: 550, response: info.response, command: 'RCPT TO' });
      }
      const receipt = { providerMessageId: msg.messageId, acceptedAt: deps.clock.now() };
      // the place in the window is kept until the caller's confirmation landed: so a crash can
      // leave in doubt only messages inside the window
      await Promise.resolve(hooks?.afterAccepted?.(msg, receipt)).catch(() => undefined);
      return receipt;
    } catch (thrown) {
      if (refused !== undefined) {
        throw new SwitchyardError(
          'ESP_UNAVAILABLE',
          `message withheld before the final dot: ${(refused as Error).message ?? String(refused)}`,
          { retryable: true, cause: refused },
        );
      }
      if (isSwitchyardError(thrown)) throw thrown;
      throw mapSmtpError(thrown as SmtpFailure, thrown);
    } finally {
      window.leave();
    }
  }

  return {
    name: 'smtp',
    commitPoint: 'before-final-dot',
    maxBatchSize: 1,
    supportsAttachments: true,
    send: (msg) => send(msg),
    async sendBatch(messages, hooks) {
      // the commit window admits them in order; the rest wait as plain references, not composed
      return Promise.all(
        messages.map((m): Promise<BatchResult> => {
          const timing: Timing = { startedAt: undefined, heldMs: 0, waitFrom: 0, answeredAt: undefined };
          const withLatency = <R extends BatchResult>(r: R): R => {
            const latencyMs = providerLatency(timing);
            return latencyMs === undefined ? r : { ...r, latencyMs };
          };
          return send(m, hooks, timing).then(
            (receipt) => withLatency({ ok: true, receipt }),
            (error: SwitchyardError) => withLatency({ ok: false, error }),
          );
        }),
      );
    },
    async close() {
      if (isClosed) return;
      isClosed = true;
      window.close();
      transport.close();
    },
  };
}
