/**
 * The ESP port: hands rendered messages to an email service provider. No dedupe here: the send
 * stage claims the ledger row first, so an adapter is called at most once per (campaign, contact)
 * unless a previous call's outcome is unknown (crash after the call, before the ledger update).
 *
 * Errors are SwitchyardErrors: ESP_RECIPIENT_REJECTED / ESP_MESSAGE_REJECTED (permanent),
 * ESP_RATE_LIMITED (retryable, retryAfterMs when the provider said so), ESP_UNAVAILABLE
 * (retryable), ESP_AUTH_FAILED (permanent for the batch). Vendor status goes in `details`.
 */

export interface Address { address: string; name?: string }

/** Ids that ride along with the message so webhook events map back to the ledger. */
export interface Correlation {
  campaignId: string;
  contactId: string;
  /** The send-ledger row id (`<campaignId>:<contactId>`). */
  ledgerId: string;
}

export interface OutboundMessage {
  /** RFC 5322 Message-ID without angle brackets; deterministic per ledger row. */
  messageId: string;
  from: Address;
  replyTo?: Address;
  to: Address;
  subject: string;
  html?: string;
  text: string;
  /** Extra headers: List-Unsubscribe, List-Unsubscribe-Post, Feedback-ID, … */
  headers: Record<string, string>;
  /** Envelope sender (VERP return path) when the adapter controls it. */
  returnPath?: string;
  correlation: Correlation;
  /** Category/tag names for the provider's own reporting. */
  tags?: string[];
}

export interface SendReceipt {
  /** The provider's id for the accepted message (SMTP: our Message-ID or the queue id). */
  providerMessageId: string;
  acceptedAt: Date;
}

/** Per-message result of sendBatch: each message either got a receipt or an error. */
export type BatchResult =
  | { ok: true; receipt: SendReceipt }
  | { ok: false; error: import('../../core/errors.ts').SwitchyardError };

export interface Esp {
  readonly name: string;
  /** Largest batch one sendBatch call hands to the provider in one request (1 = no batching). */
  readonly maxBatchSize: number;
  /** Sends one message now. Throws a SwitchyardError as described above. */
  send(msg: OutboundMessage): Promise<SendReceipt>;
  /**
   * Sends many; results[i] belongs to messages[i]. A failure that hits the whole request
   * (auth, 429, network) is reported on every message of that request, never thrown.
   */
  sendBatch(messages: readonly OutboundMessage[]): Promise<BatchResult[]>;
  close(): Promise<void>;
}
