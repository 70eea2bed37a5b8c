/**
 * The ESP port: hands rendered messages to an email service provider. No dedupe here: the send
 * stage claims the ledger row first, so an adapter is called at most once per (campaign, contact)
 * unless a previous call's outcome is unknown (crash after the call, before the ledger update).
 * Adapters never retry and never sleep: a retryable failure goes back to the bus runner, which
 * owns backoff (honouring retryAfterMs).
 *
 * Errors are SwitchyardErrors: ESP_RECIPIENT_REJECTED / ESP_MESSAGE_REJECTED (permanent),
 * ESP_RATE_LIMITED (retryable, retryAfterMs when the provider said so), ESP_UNAVAILABLE
 * (retryable; also "outcome unknown", e.g. a 2xx without an id), ESP_AUTH_FAILED (permanent for
 * the batch). Vendor status goes in `details` (`status` for HTTP, `smtpCode`/`enhanced`/`response`
 * for SMTP, the vendor's error code/type and message). `details.accountLevel: true` on an
 * ESP_MESSAGE_REJECTED means the account or sending domain itself is refused (paused, suspended,
 * unverified sender): every later message will fail the same way until a human acts.
 * Policy refusals (SMTP 5.7.x) are ESP_MESSAGE_REJECTED, never ESP_RECIPIENT_REJECTED, so a
 * reputation block does not suppress the contact.
 *
 * Correlation always travels with the message in the vendor's own metadata channel (SMTP:
 * X-Switchyard-Msg/-Campaign/-Contact headers; SendGrid custom_args; Mailgun v: variables; SES
 * EmailTags; Postmark Metadata: keys sy_msg = ledgerId, sy_campaign, sy_contact) so webhook
 * events map back to the ledger row. See docs/esp-adapters.md.
 */

export interface Address {
  address: string;
  name?: string;
}

/** A file sent with the message (a report's PDF); only to an adapter that declares `supportsAttachments`. */
export interface Attachment {
  filename: string;
  contentType: string;
  /** The file's bytes, base64. */
  contentBase64: string;
}

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
  /** Files attached to the message; callers send them only when the adapter `supportsAttachments`. */
  attachments?: readonly Attachment[];
}

export interface SendReceipt {
  /**
   * The provider's id for the accepted message (SMTP and sandbox: derived from our Message-ID).
   * Where one request carries many messages (SendGrid personalizations, Mailgun batch mode) the
   * messages of that request share it; webhook events still carry our correlation ids.
   */
  providerMessageId: string;
  acceptedAt: Date;
}

/**
 * Per-message result of sendBatch: each message either got a receipt or an error. `latencyMs` is
 * the provider's own answer time for this message: from the start of its SMTP transaction (or of
 * the HTTP request that carried it) to the answer, without time spent in our queues (the commit
 * window, the connection pool, the caller's beforeCommit). Adapters that can measure it set it;
 * absent means unknown, and the governor then takes no latency signal from the message.
 */
export type BatchResult =
  | { ok: true; receipt: SendReceipt; latencyMs?: number }
  | { ok: false; error: import('../../core/errors.ts').SwitchyardError; latencyMs?: number };

/**
 * Two-phase hand-off, so a crash can never make the ledger and the provider disagree by a resend.
 * `beforeCommit(msg)` is called once per message, before the provider's commit point; the message
 * reaches that point only after it resolved (the caller records the message as committed there),
 * and a rejection abandons that message: it is withheld, never accepted, and reported as
 * ESP_UNAVAILABLE (retryable). An adapter may call it early, so the caller's write overlaps the
 * transfer, but only for a bounded window of messages (SMTP: `commitWindow`, default 4 × the
 * pool size): at any moment at most that many messages are committed by the caller and not yet
 * confirmed by afterAccepted (a message keeps its place in the window until the promise
 * afterAccepted returned settles). That window is exactly what a crash can leave in doubt
 * (committed, outcome unknown). A message committed and then refused or failed by the provider is
 * reported like any failure.
 */
export interface SendHooks {
  beforeCommit?(msg: OutboundMessage): Promise<void>;
  /** Called as soon as the provider accepted a message (before sendBatch returns), so the
   *  caller can confirm it while the rest of the batch is still going. A returned promise holds
   *  the message's place in the commit window until it settles; its rejection does not make the
   *  accepted message a failure (the caller records its own write failures). */
  afterAccepted?(msg: OutboundMessage, receipt: SendReceipt): void | Promise<void>;
}

export interface Esp {
  /** smtp | sandbox | sendgrid | mailgun | ses | postmark (matches EngagementEvent.provider). */
  readonly name: string;
  /**
   * Where this adapter can hold a message before the provider accepts it:
   * - 'before-final-dot' (SMTP): the server only commits a message on the final "." of DATA,
   *   which is sent after beforeCommit resolved (the commit starts when the message enters the
   *   commit window, so it overlaps composing and transmitting it). A crash before the dot
   *   leaves the server without the message: if beforeCommit had not resolved, the caller may
   *   safely send it again; if it had, the message is in doubt (the caller cannot know the dot
   *   was not sent), and the commit window bounds how many messages are.
   * - 'before-request' (HTTP APIs, sandbox): sendBatch takes no hooks; the caller records the
   *   messages before the request, so a crash inside the request can lose them (at most once),
   *   never send them twice.
   */
  readonly commitPoint: 'before-final-dot' | 'before-request';
  /**
   * Most messages one provider request carries (1 = one request per message). sendBatch accepts
   * any number and splits by this itself; callers size chunks by it to keep requests full.
   */
  readonly maxBatchSize: number;
  /**
   * True when the adapter sends `OutboundMessage.attachments` (SMTP, sandbox). Absent means it
   * would drop them, so the message service refuses attachments (MESSAGE_INVALID) for it.
   */
  readonly supportsAttachments?: boolean;
  /**
   * The most a message's files may take, counted as base64 characters, where the provider caps the
   * message (HTTP ESPs). A larger set is refused with a permanent ESP_MESSAGE_REJECTED before any
   * request (in sendBatch: that message's result). Absent: no cap of the adapter's own.
   */
  readonly maxAttachmentBytes?: number;
  /** Sends one message now. Resolves once the provider accepted it; throws a SwitchyardError as
   *  described above. After close() it throws ESP_UNAVAILABLE. */
  send(msg: OutboundMessage): Promise<SendReceipt>;
  /**
   * Sends many; results[i] belongs to messages[i], always messages.length results, and it does
   * not throw. A failure that hits the whole request (auth, 429, network) is reported on every
   * message of that request; a refused recipient fails only its own message (adapters resend
   * the rest of a request the provider refused as a whole). Requests may run concurrently.
   */
  sendBatch(messages: readonly OutboundMessage[], hooks?: SendHooks): Promise<BatchResult[]>;
  /** Releases connections and loops; idempotent. In-flight sends finish or fail. */
  close(): Promise<void>;
}
