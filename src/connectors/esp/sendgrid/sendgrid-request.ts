/**
 * OutboundMessages → SendGrid v3 /v3/mail/send bodies. Pure. One request carries one content
 * (from, reply_to, text, html, categories, attachments) and up to 1000 personalizations, each with its own to,
 * subject, headers and custom_args; so messages are grouped by identical content, in order, with
 * no address twice in one request (SendGrid refuses duplicates). Correlation rides in
 * `custom_args` (sy_msg = ledger id, sy_campaign, sy_contact: never PII, SendGrid keeps them).
 */
import { attachmentKey } from '../attachments.ts';
import type { OutboundMessage } from '../port.ts';

export interface SendGridAddress {
  email: string;
  name?: string;
}

export interface SendGridPersonalization {
  to: SendGridAddress[];
  subject: string;
  headers: Record<string, string>;
  custom_args: Record<string, string>;
}

export interface SendGridMailSend {
  personalizations: SendGridPersonalization[];
  from: SendGridAddress;
  reply_to?: SendGridAddress;
  content: { type: 'text/plain' | 'text/html'; value: string }[];
  categories?: string[];
  /** Files as SendGrid takes them: base64 content, shared by every personalization of the request. */
  attachments?: { content: string; filename: string; type: string; disposition: 'attachment' }[];
}

/** One planned request: its body and, per personalization, the index of the caller's message. */
export interface SendGridRequestPlan {
  body: SendGridMailSend;
  indexes: number[];
}

function address(a: { address: string; name?: string }): SendGridAddress {
  return a.name === undefined || a.name === '' ? { email: a.address } : { email: a.address, name: a.name };
}

function contentKey(m: OutboundMessage): string {
  return JSON.stringify([
    m.from,
    m.replyTo ?? null,
    m.text,
    m.html ?? null,
    m.tags ?? [],
    attachmentKey(m.attachments),
  ]);
}

export function toPersonalization(m: OutboundMessage): SendGridPersonalization {
  return {
    to: [address(m.to)],
    subject: m.subject,
    headers: { ...m.headers, 'Message-ID': `<${m.messageId}>`, 'X-Switchyard-Msg': m.correlation.ledgerId },
    custom_args: {
      sy_msg: m.correlation.ledgerId,
      sy_campaign: m.correlation.campaignId,
      sy_contact: m.correlation.contactId,
    },
  };
}

function bodyFor(first: OutboundMessage): SendGridMailSend {
  const content: SendGridMailSend['content'] = [{ type: 'text/plain', value: first.text }];
  if (first.html !== undefined) content.push({ type: 'text/html', value: first.html });
  return {
    personalizations: [],
    from: address(first.from),
    ...(first.replyTo === undefined ? {} : { reply_to: address(first.replyTo) }),
    content,
    // SendGrid allows at most 10 categories per message.
    ...(first.tags === undefined || first.tags.length === 0 ? {} : { categories: first.tags.slice(0, 10) }),
    ...(first.attachments === undefined || first.attachments.length === 0
      ? {}
      : {
          attachments: first.attachments.map((a) => ({
            content: a.contentBase64,
            filename: a.filename,
            type: a.contentType,
            disposition: 'attachment' as const,
          })),
        }),
  };
}

/** Groups messages (given with their caller indexes) into requests of at most maxPerRequest. */
export function planSendGridRequests(
  messages: readonly { msg: OutboundMessage; index: number }[],
  maxPerRequest: number,
): SendGridRequestPlan[] {
  const plans: SendGridRequestPlan[] = [];
  const open = new Map<string, { plan: SendGridRequestPlan; addresses: Set<string> }>();
  for (const { msg, index } of messages) {
    const key = contentKey(msg);
    const addr = msg.to.address.toLowerCase();
    let slot = open.get(key);
    if (slot === undefined || slot.addresses.has(addr) || slot.plan.indexes.length >= maxPerRequest) {
      slot = { plan: { body: bodyFor(msg), indexes: [] }, addresses: new Set() };
      open.set(key, slot);
      plans.push(slot.plan);
    }
    slot.plan.body.personalizations.push(toPersonalization(msg));
    slot.plan.indexes.push(index);
    slot.addresses.add(addr);
  }
  return plans;
}
