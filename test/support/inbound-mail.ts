/**
 * Inbound test helpers: the real inbound listener and handler on port 0 with a nodemailer client,
 * send-ledger rows to reference, and builders for the three report shapes an attacker forges (an
 * RFC 3464 DSN, an RFC 5965 ARF report, a reply).
 */
import type { TestContext } from 'node:test';
import nodemailer from 'nodemailer';
import type { Bus } from '../../src/bus/port.ts';
import type { Clock } from '../../src/clock/port.ts';
import { decideRecipient } from '../../src/core/inbound/recipients.ts';
import { messageIdFor } from '../../src/core/message-id.ts';
import { createInboundHandler, type InboundHandlerDeps } from '../../src/reactions/inbound-handler.ts';
import { createInboundSmtpListener } from '../../src/reactions/inbound/smtp-listener.ts';
import type { Ingest } from '../../src/reactions/ingest.ts';
import type { Db } from '../../src/store/port.ts';
import { findSentMessages } from '../../src/campaigns/send-ledger.ts';

export const INBOUND_SECRET = 'fixture-secret';
export const INBOUND_DOMAINS = ['bounce.shop.example.com', 'shop.example.com'];

export interface InboundRig {
  db: Db;
  bus: Bus;
  clock: Clock;
  ingest: Ingest;
}

/** Starts listener + handler as app.ts wires them; returns send(raw, rcptTo). */
export async function startInbound(t: TestContext, rig: InboundRig, overrides: Partial<InboundHandlerDeps> = {}) {
  const onMessage = createInboundHandler({
    db: rig.db,
    findSentMessages: (keys, ids) => findSentMessages(rig.db, keys, ids),
    ingest: rig.ingest,
    deadLetters: rig.bus.deadLetters,
    clock: rig.clock,
    verpSecrets: [INBOUND_SECRET],
    ...overrides,
  });
  const policy = {
    domains: INBOUND_DOMAINS,
    verpSecrets: [INBOUND_SECRET],
    addresses: overrides.privacyAddresses ?? [],
  };
  const listener = createInboundSmtpListener(
    { onMessage, acceptRecipient: (a) => decideRecipient(a, policy).accept },
    { host: '127.0.0.1', port: 0, maxMessageBytes: 256 * 1024 },
  );
  const { port } = await listener.listen();
  t.after(() => listener.close());
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  t.after(() => transport.close());
  return (raw: Buffer | string, to: string[] = ['bounces@bounce.shop.example.com']) =>
    transport.sendMail({ envelope: { from: '', to }, raw: typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw });
}

/** A sent send-ledger row; returns our Message-ID for it. */
export async function sentMessage(
  db: Db,
  campaignId: string,
  contactId: string,
  email: string,
  at: Date,
): Promise<string> {
  const messageId = messageIdFor(campaignId, contactId, 'shop.example.com');
  await db.query(
    `insert into send_ledger (campaign_id, contact_id, email, state, chunk, message_id, sent_at, updated_at) values ($1,
      $2, $3, 'sent', 0, $4, $5, $5)`,
    [campaignId, contactId, email, messageId, at],
  );
  return messageId;
}

const lines = (...l: string[]): string => `${l.join('\r\n')}\r\n`;

/** An RFC 3464 hard bounce for `recipient`; `originalMessageId` goes into the returned headers. */
export function aDsn(o: {
  recipient: string;
  originalMessageId?: string;
  to?: string;
  id?: string;
  diagnostic?: string;
  subject?: string;
  moreRecipients?: readonly string[];
}): string {
  return lines(
    'From: MAILER-DAEMON@mx.example.net (Mail Delivery System)',
    `To: ${o.to ?? 'bounces@bounce.shop.example.com'}`,
    `Subject: ${o.subject ?? 'Undelivered Mail Returned to Sender'}`,
    `Message-ID: <${o.id ?? 'dsn-1'}@mx.example.net>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="RB"',
    '',
    '--RB',
    'Content-Type: text/plain',
    '',
    'Your message could not be delivered.',
    '',
    '--RB',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    ...[o.recipient, ...(o.moreRecipients ?? [])].flatMap((r) => [
      `Final-Recipient: rfc822; ${r}`,
      'Action: failed',
      'Status: 5.1.1',
      `Diagnostic-Code: smtp; ${o.diagnostic ?? '550 5.1.1 No such user'}`,
      '',
    ]),
    '--RB',
    'Content-Type: text/rfc822-headers',
    '',
    'From: Example Shop <news@shop.example.com>',
    `To: ${o.recipient}`,
    ...(o.originalMessageId === undefined ? [] : [`Message-ID: <${o.originalMessageId}>`]),
    'Subject: Black Friday',
    '',
    '--RB--',
  );
}

/** An RFC 5965 abuse report; `rcpt` undefined means redacted. */
export function anArf(o: { rcpt?: string; originalMessageId?: string; id?: string }): string {
  return lines(
    'From: Feedback Loop <feedback@fbl.mail.example>',
    'To: fbl@shop.example.com',
    'Subject: FW: Black Friday',
    `Message-ID: <${o.id ?? 'arf-1'}@fbl.mail.example>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="FB"',
    '',
    '--FB',
    'Content-Type: text/plain',
    '',
    'This is an email abuse report.',
    '',
    '--FB',
    'Content-Type: message/feedback-report',
    '',
    'Feedback-Type: abuse',
    'User-Agent: fbl/1.0',
    'Version: 1',
    ...(o.rcpt === undefined ? [] : [`Original-Rcpt-To: <${o.rcpt}>`]),
    '',
    '--FB',
    'Content-Type: text/rfc822-headers',
    '',
    'From: Example Shop <news@shop.example.com>',
    ...(o.originalMessageId === undefined ? [] : [`Message-ID: <${o.originalMessageId}>`]),
    'Subject: Black Friday',
    '',
    '--FB--',
  );
}

/** A plain reply saying `text`; `inReplyTo` threads it onto a message. */
export function aReply(o: { from: string; text: string; inReplyTo?: string; id?: string }): string {
  return lines(
    `From: ${o.from}`,
    'To: Example Shop <news@shop.example.com>',
    'Subject: Re: Black Friday',
    `Message-ID: <${o.id ?? 'reply-1'}@mail.example>`,
    ...(o.inReplyTo === undefined ? [] : [`In-Reply-To: <${o.inReplyTo}>`, `References: <${o.inReplyTo}>`]),
    'Date: Thu, 26 Nov 2026 08:00:00 +0000',
    'Content-Type: text/plain; charset=utf-8',
    '',
    o.text,
  );
}
