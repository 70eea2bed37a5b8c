/**
 * Turns a parsed inbound message into normalised EngagementEvents (one per DSN recipient, one per
 * complaint, auto-reply or reply). The caller supplies the receipt time and a stable source id
 * (e.g. the inbound message's hash); each event's sourceId derives from it, so redelivery of the
 * same email dedupes. A valid VERP token fills campaignId/contactId when the secret is given.
 */
import { decodeVerpToken } from '../../core/bounce/verp.ts';
import type { EngagementEvent, EventType } from '../../core/events.ts';
import type { BounceKind } from '../../core/bounce/types.ts';
import type { InboundMessage } from './types.ts';

const EVENT_FOR_KIND: Readonly<Record<BounceKind, EventType>> = {
  hard_bounce: 'bounced_hard',
  soft_bounce: 'bounced_soft',
  deferred: 'deferred',
  delivered: 'delivered',
  complaint: 'complained',
  auto_reply: 'auto_replied',
};

/**
 * Is an ARF Original-Rcpt-To a redaction (RFC 6590) rather than an address? Providers replace the
 * local part (or the whole address) with a placeholder or a hash: `redacted@…`, `xxxxxxxx@…`,
 * `****@…`, a hex digest, or no address at all. Such a report names no one; the address comes
 * from the send it references.
 */
export function isRedactedAddress(value: string): boolean {
  const v = value.trim().replace(/^<(.*)>$/, '$1');
  const at = v.lastIndexOf('@');
  if (at <= 0) return true;
  const local = v.slice(0, at).toLowerCase();
  return (
    /^[x*#_.-]+$/.test(local)
    || /redact|anonymi[sz]ed|removed|hidden|withheld|unknown|undisclosed/.test(local)
    || /^[0-9a-f]{16,}$/.test(local)
  );
}

/** ARF types that mean "this person objects"; not-spam and auth-failure are not about the contact. */
const COMPLAINT_TYPES = new Set(['abuse', 'fraud', 'virus', 'other']);

export function toEngagementEvents(
  parsed: InboundMessage,
  options: { receivedAt: Date; sourceId: string; verpSecret?: string },
): EngagementEvent[] {
  const verp =
    parsed.verpToken !== undefined && options.verpSecret !== undefined
      ? decodeVerpToken(parsed.verpToken, options.verpSecret)
      : null;
  const base = {
    provider: 'inbound',
    occurredAt: options.receivedAt,
    ...(parsed.originalMessageId === undefined ? {} : { messageId: parsed.originalMessageId }),
    ...(parsed.ledgerId === undefined ? {} : { ledgerId: parsed.ledgerId }),
    ...(verp?.ok === true ? { campaignId: verp.campaignId, contactId: verp.contactId } : {}),
  };
  switch (parsed.kind) {
    case 'dsn':
      return parsed.recipients.map((r, i) => ({
        ...base,
        type: EVENT_FOR_KIND[r.classification.kind],
        sourceId: `${options.sourceId}:${r.recipient === '' ? `#${i}` : r.recipient.toLowerCase()}`,
        ...(r.recipient === '' ? {} : { email: r.recipient }),
        reason: r.classification.reason,
        ...(r.classification.status === null ? {} : { status: r.classification.status }),
        ...(r.diagnostic === null ? {} : { diagnostic: r.diagnostic }),
        raw: { action: r.action, status: r.status, remoteMta: r.remoteMta, format: parsed.format },
      }));
    case 'complaint':
      if (!COMPLAINT_TYPES.has(parsed.feedbackType)) return [];
      return [
        {
          ...base,
          type: 'complained',
          sourceId: `${options.sourceId}:complaint`,
          reason: 'feedback',
          ...(parsed.originalRcpt === undefined || isRedactedAddress(parsed.originalRcpt)
            ? {}
            : { email: parsed.originalRcpt }),
          ...(parsed.userAgent === undefined ? {} : { userAgent: parsed.userAgent }),
          ...(parsed.sourceIp === undefined ? {} : { ip: parsed.sourceIp }),
          raw: { format: parsed.format, feedbackType: parsed.feedbackType },
        },
      ];
    case 'auto_reply':
      return [
        {
          ...base,
          type: 'auto_replied',
          sourceId: `${options.sourceId}:auto_reply`,
          reason: 'vacation',
          ...(parsed.from === undefined ? {} : { email: parsed.from }),
          raw: { signals: parsed.signals },
        },
      ];
    case 'reply':
      return [
        {
          ...base,
          type: 'replied',
          sourceId: `${options.sourceId}:reply`,
          ...(parsed.from === undefined ? {} : { email: parsed.from }),
          raw: { subject: parsed.subject ?? null, trimmedText: parsed.trimmedText },
        },
      ];
  }
}
