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

export interface SuppressionSink {
  /** Stable system name, used as `suppression_propagations.system` (e.g. 'esp', 'crm'). */
  readonly name: string;
  /**
   * Records the suppressions in the system. Must be idempotent: the loop retries an address until
   * it is confirmed, so the same item may arrive again after a crash or a lost answer.
   * `confirmed` lists the emails (as given) the system has durably recorded; an address left out
   * is retried later with backoff. Throw a SwitchyardError when the call failed: a retryable one
   * (or any plain Error) is retried with backoff; a permanent one makes the loop try each item of
   * the batch alone, and an item that fails permanently on its own is marked failed.
   * Batches hold at most 100 items; an adapter whose vendor takes fewer splits them itself.
   */
  suppress(items: readonly SuppressionItem[]): Promise<{ confirmed: string[] }>;
}
