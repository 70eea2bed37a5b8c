/**
 * The SMTP Esp: hands each message to an SMTP relay or MTA over nodemailer's pooled transport
 * (optionally DKIM-signing it). One message is one SMTP transaction with one recipient, so
 * maxBatchSize is 1 and sendBatch runs the messages concurrently over the pool. It sets our own
 * Message-ID, the VERP envelope sender (msg.returnPath) and the correlation headers
 * X-Switchyard-Msg (ledger id), X-Switchyard-Campaign and X-Switchyard-Contact, so a DSN or ARF
 * report that comes back by mail still names the ledger row. It never retries: the bus owns that.
 */
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type { Clock } from '../../../clock/port.ts';
import { SwitchyardError, isSwitchyardError } from '../../../core/errors.ts';
import type { BatchResult, Esp, OutboundMessage, SendReceipt } from '../port.ts';
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
}

/** The correlation headers this adapter stamps on every message. */
export const SMTP_CORRELATION_HEADERS = {
  ledgerId: 'X-Switchyard-Msg',
  campaignId: 'X-Switchyard-Campaign',
  contactId: 'X-Switchyard-Contact',
} as const;

function toMail(msg: OutboundMessage): Mail.Options {
  return {
    messageId: `<${msg.messageId}>`,
    from: { name: msg.from.name ?? '', address: msg.from.address },
    to: { name: msg.to.name ?? '', address: msg.to.address },
    ...(msg.replyTo === undefined ? {} : { replyTo: { name: msg.replyTo.name ?? '', address: msg.replyTo.address } }),
    subject: msg.subject,
    text: msg.text,
    ...(msg.html === undefined ? {} : { html: msg.html }),
    headers: {
      ...msg.headers,
      [SMTP_CORRELATION_HEADERS.ledgerId]: msg.correlation.ledgerId,
      [SMTP_CORRELATION_HEADERS.campaignId]: msg.correlation.campaignId,
      [SMTP_CORRELATION_HEADERS.contactId]: msg.correlation.contactId,
    },
    envelope: { from: msg.returnPath ?? msg.from.address, to: [msg.to.address] },
  };
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
    ...(options.dkim === undefined ? {} : { dkim: { ...options.dkim } }),
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.connectionTimeoutMs === undefined ? {} : { connectionTimeout: options.connectionTimeoutMs }),
    ...(options.socketTimeoutMs === undefined ? {} : { socketTimeout: options.socketTimeoutMs }),
  } satisfies SMTPPool.Options);
  let isClosed = false;

  async function send(msg: OutboundMessage): Promise<SendReceipt> {
    if (isClosed) throw new SwitchyardError('ESP_UNAVAILABLE', 'SMTP Esp is closed', { retryable: true });
    try {
      const info = await transport.sendMail(toMail(msg)) as { rejected?: unknown[]; response?: string };
      // One recipient per message: a rejected recipient without a thrown error still means not sent.
      if (Array.isArray(info.rejected) && info.rejected.length > 0) {
        throw mapSmtpError({ responseCode: 550, response: info.response, command: 'RCPT TO' });
      }
      return { providerMessageId: msg.messageId, acceptedAt: deps.clock.now() };
    } catch (thrown) {
      if (isSwitchyardError(thrown)) throw thrown;
      throw mapSmtpError(thrown as SmtpFailure, thrown);
    }
  }

  return {
    name: 'smtp',
    maxBatchSize: 1,
    send,
    async sendBatch(messages) {
      // The pool queues beyond maxConnections, so all can be handed over at once.
      return Promise.all(messages.map((m): Promise<BatchResult> => send(m).then(
        (receipt) => ({ ok: true, receipt }),
        (error: SwitchyardError) => ({ ok: false, error }),
      )));
    },
    async close() {
      if (isClosed) return;
      isClosed = true;
      transport.close();
    },
  };
}
