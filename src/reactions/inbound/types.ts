/**
 * What an inbound email turns out to be, as a discriminated union: a delivery status notification
 * (one entry per recipient, in report order), a complaint (ARF or a known non-ARF format), an
 * automatic reply, or a human reply. Message ids are stored without angle brackets.
 */
import type { BounceClassification } from '../../core/bounce/types.ts';

export interface DsnRecipient {
  /** Final-Recipient (or the address found in a text bounce). */
  recipient: string;
  originalRecipient?: string;
  /** Lower-cased DSN Action (failed | delayed | delivered | relayed | expanded). */
  action: string;
  /** DSN Status field or the enhanced code found in the text, else null. */
  status: string | null;
  /** Diagnostic-Code without its type and repeated reply codes, else null. */
  diagnostic: string | null;
  remoteMta: string | null;
  classification: BounceClassification;
}

interface Correlation {
  /** Message-ID of our original message (from the returned headers, or In-Reply-To). */
  originalMessageId?: string;
  /** Our X-Switchyard-Msg header (send-ledger id) from the returned headers. */
  ledgerId?: string;
  /** VERP token from the return path the report was sent to; verify with decodeVerpToken. */
  verpToken?: string;
}

export interface InboundDsn extends Correlation {
  kind: 'dsn';
  /** rfc3464 = parsed from message/delivery-status; text = scanned from a human-readable bounce. */
  format: 'rfc3464' | 'text';
  reportingMta?: string;
  messageId?: string;
  recipients: DsnRecipient[];
}

export interface InboundComplaint extends Correlation {
  kind: 'complaint';
  /** arf, or the non-ARF format recognised (microsoft-jmrp, amazon-ses, apple-unsubscribe). */
  format: string;
  /** RFC 5965 Feedback-Type (abuse, fraud, virus, other, not-spam, auth-failure); `abuse` for non-ARF. */
  feedbackType: string;
  /** Original-Rcpt-To: the complaining recipient, when not redacted. */
  originalRcpt?: string;
  originalMailFrom?: string;
  userAgent?: string;
  sourceIp?: string;
  reportedDomain?: string;
  arrivalDate?: string;
  messageId?: string;
}

export interface InboundAutoReply extends Correlation {
  kind: 'auto_reply';
  /** Which signals fired, e.g. `auto-submitted:auto-replied`, `subject:automatic reply:`. */
  signals: string[];
  from?: string;
  subject?: string;
  messageId?: string;
  inReplyTo?: string;
  references: string[];
  text: string;
}

export interface InboundReply extends Correlation {
  kind: 'reply';
  from?: string;
  subject?: string;
  messageId?: string;
  inReplyTo?: string;
  references: string[];
  /** The whole body as text (text part, else HTML converted). */
  text: string;
  /** Just what the person wrote: quotes and signature removed. */
  trimmedText: string;
}

export type InboundMessage = InboundDsn | InboundComplaint | InboundAutoReply | InboundReply;

export interface ParseInboundOptions {
  /** VERP local-part prefix before `+` (default `b`, as encodeVerpAddress). */
  verpPrefix?: string;
  /** Only accept VERP tokens on this bounce domain. */
  verpDomain?: string;
}
