/**
 * OutboundMessage → Amazon SES v2 SendEmail body. The message goes as Raw MIME (built by
 * nodemailer's MailComposer) so our headers (List-Unsubscribe, X-Switchyard-*, Message-ID) ride
 * along unchanged, and files as MIME parts. Correlation rides in EmailTags (sy_msg, sy_campaign,
 * sy_contact), which come
 * back as `mail.tags` in SES events. SES allows only ASCII letters, digits, `_` and `-` in tag
 * values, so values are escaped reversibly: `_` → `__`, any other byte → `_` + two hex digits.
 */
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { OutboundMessage } from '../port.ts';

export interface SesSendEmailBody {
  FromEmailAddress: string;
  Destination: { ToAddresses: string[] };
  ReplyToAddresses?: string[];
  Content: { Raw: { Data: string } };
  EmailTags: { Name: string; Value: string }[];
  ConfigurationSetName?: string;
}

/** Escapes a value into SES's tag alphabet; decodeSesTagValue reverses it. */
export function encodeSesTagValue(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (c === '_') out += '__';
    else if (/[A-Za-z0-9-]/.test(c)) out += c;
    else out += `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function decodeSesTagValue(encoded: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded[i]!;
    if (c !== '_') {
      bytes.push(c.charCodeAt(0));
      continue;
    }
    if (encoded[i + 1] === '_') {
      bytes.push(95);
      i++;
      continue;
    }
    bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16));
    i += 2;
  }
  return Buffer.from(bytes).toString('utf8');
}

function mailbox(a: { address: string; name?: string }) {
  return { name: a.name ?? '', address: a.address };
}

export async function buildRawMime(msg: OutboundMessage): Promise<Buffer> {
  const composer = new MailComposer({
    messageId: `<${msg.messageId}>`,
    from: mailbox(msg.from),
    to: mailbox(msg.to),
    ...(msg.replyTo === undefined ? {} : { replyTo: mailbox(msg.replyTo) }),
    subject: msg.subject,
    text: msg.text,
    ...(msg.html === undefined ? {} : { html: msg.html }),
    ...(msg.attachments === undefined || msg.attachments.length === 0
      ? {}
      : {
          attachments: msg.attachments.map((a) => ({
            filename: a.filename,
            contentType: a.contentType,
            content: Buffer.from(a.contentBase64, 'base64'),
          })),
        }),
    headers: {
      ...msg.headers,
      'X-Switchyard-Msg': msg.correlation.ledgerId,
      'X-Switchyard-Campaign': msg.correlation.campaignId,
      'X-Switchyard-Contact': msg.correlation.contactId,
    },
  });
  return composer.compile().build();
}

export async function toSesSendEmail(
  msg: OutboundMessage,
  configurationSetName: string | undefined,
): Promise<SesSendEmailBody> {
  const raw = await buildRawMime(msg);
  return {
    FromEmailAddress: msg.from.address,
    Destination: { ToAddresses: [msg.to.address] },
    ...(msg.replyTo === undefined ? {} : { ReplyToAddresses: [msg.replyTo.address] }),
    Content: { Raw: { Data: raw.toString('base64') } },
    EmailTags: [
      { Name: 'sy_msg', Value: encodeSesTagValue(msg.correlation.ledgerId) },
      { Name: 'sy_campaign', Value: encodeSesTagValue(msg.correlation.campaignId) },
      { Name: 'sy_contact', Value: encodeSesTagValue(msg.correlation.contactId) },
    ],
    ...(configurationSetName === undefined ? {} : { ConfigurationSetName: configurationSetName }),
  };
}
