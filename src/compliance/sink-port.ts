/**
 * The suppression-sink port: one connected system (ESP, CRM, warehouse, compliance archive) that
 * must learn that an address may no longer be mailed. The propagation loop (propagation.ts) calls
 * each system's sink with batches of due addresses and records, per address and system, whether
 * the system confirmed it. Adapters live in sinks.ts (and, for ESP vendors, next to the vendor's
 * connector); they translate to the vendor's own opt-out/suppression call and nothing else.
 */

export interface SuppressionItem {
  /** Lower-cased address. */
  email: string;
  /** Why it is suppressed (unsubscribed, complained, bounced_hard, manual, erased, …). */
  reason: string;
  /** The Switchyard contact, when known; email-only suppressions have none. */
  contactId?: string;
}

/** What one suppress call achieved. */
export interface SuppressResult {
  /** Emails (as given) the system has durably recorded. */
  confirmed: string[];
  /** Emails the system refused for good (an address it calls invalid): marked failed, with the reason. */
  rejected?: { email: string; reason: string }[];
  /** The system asked us to slow down: retry the unconfirmed items no sooner than this. */
  retryAfterMs?: number;
}

export interface SuppressionSink {
  /** Stable system name, used as `suppression_propagations.system` (e.g. 'esp', 'crm'). */
  readonly name: string;
  /**
   * Records the suppressions in the system. Must be idempotent: the loop retries an address until
   * it is confirmed, so the same item may arrive again after a crash or a lost answer.
   * `confirmed` lists the emails (as given) the system has durably recorded; `rejected` those it
   * refused for good (marked failed at once, reason shown); an address in neither is retried later
   * with backoff, or after `retryAfterMs` when the vendor rate-limited part of the batch. Throw a
   * SwitchyardError when the call failed: a retryable one (or any plain Error) is retried with
   * backoff (its retryAfterMs honoured); a permanent one makes the loop try each item of the
   * batch alone, and an item that fails permanently on its own is marked failed.
   * Batches hold at most 100 items; an adapter whose vendor takes fewer splits them itself.
   */
  suppress(items: readonly SuppressionItem[]): Promise<SuppressResult>;
}
