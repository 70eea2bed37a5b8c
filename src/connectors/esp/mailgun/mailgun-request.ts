/**
 * OutboundMessages → Mailgun POST /v3/<domain>/messages form fields (sent as multipart/form-data).
 * Pure. Correlation rides as user variables `v:sy_msg` (ledger id), `v:sy_campaign`,
 * `v:sy_contact` (never PII; they come back as `user-variables` in events); our headers go as
 * `h:` fields, our Message-ID as `h:Message-Id`, up to three `o:tag`.
 *
 * Batch mode (opt-in) puts up to 1000 messages with identical content (from, reply-to, subject,
 * bodies, headers, tags) into one request: several `to` fields plus `recipient-variables`, which
 * Mailgun needs so each recipient gets an individual message, and per-recipient values written
 * as `%recipient.sy_msg%` etc. in the v: and h:Message-Id fields. Mailgun documents substitution in
 * the subject and bodies; substitution in v:/h: fields is unverified here (see docs/esp-adapters.md).
 */
import { attachmentKey } from '../attachments.ts';
import type { Address, OutboundMessage } from '../port.ts';

export type FormFields = [string, string][];

export function formatMailgunAddress(a: Address): string {
  if (a.name === undefined || a.name === '') return a.address;
  return `"${a.name.replace(/(["\\])/g, '\\$1')}" <${a.address}>`;
}

function contentFields(m: OutboundMessage): FormFields {
  const f: FormFields = [
    ['from', formatMailgunAddress(m.from)],
    ['subject', m.subject],
    ['text', m.text],
  ];
  if (m.html !== undefined) f.push(['html', m.html]);
  if (m.replyTo !== undefined) f.push(['h:Reply-To', formatMailgunAddress(m.replyTo)]);
  for (const [k, v] of Object.entries(m.headers)) f.push([`h:${k}`, v]);
  for (const tag of (m.tags ?? []).slice(0, 3)) f.push(['o:tag', tag]);
  return f;
}

/** The fields of a one-message request. */
export function toMailgunFields(m: OutboundMessage): FormFields {
  return [
    ...contentFields(m),
    ['to', formatMailgunAddress(m.to)],
    ['h:Message-Id', `<${m.messageId}>`],
    ['h:X-Switchyard-Msg', m.correlation.ledgerId],
    ['v:sy_msg', m.correlation.ledgerId],
    ['v:sy_campaign', m.correlation.campaignId],
    ['v:sy_contact', m.correlation.contactId],
  ];
}

/** The fields of a batch request: messages must share content (see groupForMailgunBatch). */
export function toMailgunBatchFields(messages: readonly OutboundMessage[]): FormFields {
  const first = messages[0];
  if (first === undefined) return [];
  const vars: Record<string, Record<string, string>> = {};
  for (const m of messages) {
    vars[m.to.address] = {
      sy_msg: m.correlation.ledgerId,
      sy_campaign: m.correlation.campaignId,
      sy_contact: m.correlation.contactId,
      message_id: m.messageId,
    };
  }
  return [
    ...contentFields(first),
    ...messages.map((m): [string, string] => ['to', formatMailgunAddress(m.to)]),
    ['recipient-variables', JSON.stringify(vars)],
    ['h:Message-Id', '<%recipient.message_id%>'],
    ['h:X-Switchyard-Msg', '%recipient.sy_msg%'],
    ['v:sy_msg', '%recipient.sy_msg%'],
    ['v:sy_campaign', '%recipient.sy_campaign%'],
    ['v:sy_contact', '%recipient.sy_contact%'],
  ];
}

/** Groups caller indexes by identical content (files included), ≤ max per group, no address twice in a group. */
export function groupForMailgunBatch(messages: readonly OutboundMessage[], max: number): number[][] {
  const groups: number[][] = [];
  const open = new Map<string, { indexes: number[]; addresses: Set<string> }>();
  messages.forEach((m, i) => {
    const key = JSON.stringify([contentFields(m), attachmentKey(m.attachments)]);
    const addr = m.to.address.toLowerCase();
    let g = open.get(key);
    if (g === undefined || g.addresses.has(addr) || g.indexes.length >= max) {
      g = { indexes: [], addresses: new Set() };
      open.set(key, g);
      groups.push(g.indexes);
    }
    g.indexes.push(i);
    g.addresses.add(addr);
  });
  return groups;
}
