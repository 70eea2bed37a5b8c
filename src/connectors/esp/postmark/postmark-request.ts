/**
 * OutboundMessage → Postmark message JSON (the shape of one /email body or one /email/batch entry).
 * Pure. Correlation rides in `Metadata` (sy_msg = ledger id, sy_campaign, sy_contact; never PII)
 * and in the X-Switchyard-Msg header; our Message-ID goes in `Headers`; files in `Attachments`.
 */
import type { Address, OutboundMessage } from '../port.ts';

export interface PostmarkMessage {
  From: string;
  To: string;
  ReplyTo?: string;
  Subject: string;
  TextBody: string;
  HtmlBody?: string;
  Headers: { Name: string; Value: string }[];
  Metadata: Record<string, string>;
  Tag?: string;
  MessageStream: string;
  TrackOpens?: boolean;
  TrackLinks?: 'None' | 'HtmlAndText' | 'HtmlOnly' | 'TextOnly';
  /** Files, base64 in Content. */
  Attachments?: { Name: string; Content: string; ContentType: string }[];
}

export function formatAddress(a: Address): string {
  if (a.name === undefined || a.name === '') return a.address;
  return `"${a.name.replace(/(["\\])/g, '\\$1')}" <${a.address}>`;
}

export function toPostmarkMessage(
  msg: OutboundMessage,
  options: { messageStream: string; trackOpens?: boolean; trackLinks?: PostmarkMessage['TrackLinks'] },
): PostmarkMessage {
  const headers = Object.entries({
    ...msg.headers,
    'Message-ID': `<${msg.messageId}>`,
    'X-Switchyard-Msg': msg.correlation.ledgerId,
  }).map(([Name, Value]) => ({ Name, Value }));
  return {
    From: formatAddress(msg.from),
    To: formatAddress(msg.to),
    ...(msg.replyTo === undefined ? {} : { ReplyTo: formatAddress(msg.replyTo) }),
    Subject: msg.subject,
    TextBody: msg.text,
    ...(msg.html === undefined ? {} : { HtmlBody: msg.html }),
    Headers: headers,
    Metadata: {
      sy_msg: msg.correlation.ledgerId,
      sy_campaign: msg.correlation.campaignId,
      sy_contact: msg.correlation.contactId,
    },
    // Postmark takes a single Tag; the first of ours is the campaign-level category.
    ...(msg.tags?.[0] === undefined ? {} : { Tag: msg.tags[0] }),
    MessageStream: options.messageStream,
    ...(options.trackOpens === undefined ? {} : { TrackOpens: options.trackOpens }),
    ...(options.trackLinks === undefined ? {} : { TrackLinks: options.trackLinks }),
    ...(msg.attachments === undefined || msg.attachments.length === 0
      ? {}
      : {
          Attachments: msg.attachments.map((a) => ({
            Name: a.filename,
            Content: a.contentBase64,
            ContentType: a.contentType,
          })),
        }),
  };
}
