/**
 * The normalised engagement event: what every ESP webhook, tracking hit and inbound mail becomes.
 * Vendor shapes are translated into this type inside connector folders and nowhere else.
 * `sourceId` is the dedup key: the same reaction delivered twice has the same sourceId.
 */

export const EVENT_TYPES = [
  'delivered',
  'deferred',
  'bounced_hard',
  'bounced_soft',
  'complained',
  'opened',
  'clicked',
  'unsubscribed',
  'replied',
  'auto_replied',
  'dropped',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface EngagementEvent {
  type: EventType;
  /** Stable across redeliveries: `<provider>:<vendor event id>` or a hash of the vendor fields. */
  sourceId: string;
  /** sendgrid | mailgun | ses | postmark | sandbox | smtp | tracking | inbound */
  provider: string;
  occurredAt: Date;
  email?: string;
  /** Our RFC 5322 Message-ID (no angle brackets) when known. */
  messageId?: string;
  providerMessageId?: string;
  campaignId?: string;
  contactId?: string;
  ledgerId?: string;
  /** clicked: the destination URL. */
  url?: string;
  /** Bounce/complaint reason from the taxonomy in core/bounce (userunknown, mailboxfull, …). */
  reason?: string;
  /** SMTP / enhanced status when known, e.g. "5.1.1". */
  status?: string;
  diagnostic?: string;
  /** Opens by privacy proxies and clicks by security scanners: kept, not counted as human. */
  isMachine?: boolean;
  userAgent?: string;
  ip?: string;
  /** The vendor payload of this one event, kept for audit. */
  raw: unknown;
}
