/** The billing port: what a billing system's verified webhook event becomes. */

export interface BillingEvent {
  sourceId: string;
  /** The vendor's event type, e.g. Stripe's invoice.paid, charge.refunded */
  type: string;
  occurredAt: Date;
  livemode: boolean;
  /** The vendor's object snapshot at event time (Stripe: data.object). */
  object: Record<string, unknown>;
  raw: unknown;
}

/**
 * What a billing event means for revenue, in our terms (each vendor's normalize maps to these).
 * Applying facts must be idempotent and order-independent: conversions are keyed by the vendor's
 * object id, refunds carry the cumulative refunded amount, subscriptions the event time.
 */
export type RevenueFact =
  | {
      kind: 'conversion';
      /** stripe:invoice:<id> | stripe:charge:<id> | crm:deal:<id> | sql:<key> */
      id: string;
      customerId?: string;
      email?: string;
      /** Our contact id as the vendor carries it (metadata.sy_contact, client_reference_id). */
      contactHint?: string;
      amountMinor: number;
      currency: string;
      occurredAt: Date;
    }
  | { kind: 'charge-invoice'; chargeId: string; invoiceId: string }
  | {
      kind: 'refund';
      chargeId: string;
      /** The conversion the charge belongs to, as known from this event. */
      conversionId: string;
      /** Cumulative amount refunded on the charge so far. */
      refundedMinor: number;
      currency: string;
      occurredAt: Date;
    }
  | {
      kind: 'subscription';
      id: string;
      customerId?: string;
      status: string;
      plan?: string;
      amountMinor?: number;
      currency?: string;
      eventCreated: Date;
    }
  | { kind: 'identity'; customerId: string; contactHint?: string; email?: string };

/** The object lists a billing backfill reads, in the order it reads them (identity first). */
export const BACKFILL_STREAMS = ['customers', 'invoices', 'charges', 'subscriptions'] as const;
export type BackfillStream = (typeof BACKFILL_STREAMS)[number];

/** One page of a vendor's list endpoint, already turned into event-like snapshots. */
export interface BackfillPage {
  /** Event-like snapshots of the page's objects. sourceId is deterministic per object version, so a
   *  re-read page is a duplicate and an object that changed since (more refunded) applies again. */
  events: BillingEvent[];
  /** Objects on the page that could not be read (no id…), for a dead letter; never thrown. */
  invalid: Array<{ objectId: string | null; reason: string }>;
  /** How many objects the page held (some stand for no event: an unpaid invoice, a failed charge). */
  objects: number;
  /** Where the next page starts (the vendor's cursor: Stripe's last object id); null on an empty page. */
  cursor: string | null;
  hasMore: boolean;
}

/**
 * A billing system's list endpoints, for backfills. Each call reads one page, newest objects first
 * as the vendor pages them; `after` is a cursor from a previous page (resumable across processes).
 * Errors as BillingCustomers: BILLING_UNAVAILABLE (retryable; retryAfterMs from Retry-After on
 * 429) and BILLING_AUTH_FAILED; the caller owns the retry and the waiting.
 */
export interface BillingBackfillSource {
  readonly name: string;
  page(stream: BackfillStream, options: { after: string | null; since?: Date; limit: number }): Promise<BackfillPage>;
}

/** Where a billing table read stands: the keyset (updated_at, key) of the last row applied. */
export interface BillingWatermark {
  /** The row's updated_at exactly as the source printed it (round-trips without precision loss). */
  updatedAt: string;
  key: string;
}

/**
 * Revenue rows from a table the customer keeps (a warehouse billing table), read by watermark:
 * rows in (updated_at, key) order after `after`, only those updated at or before `until` (rows
 * still being written are left for the next poll), at most `limit`. Rows become facts in the
 * adapter; a row that cannot become one is returned in `rejected` (its key and why, no values),
 * never thrown. `next` is the watermark after the last row read (accepted or rejected), null when
 * no row was read. Errors: WAREHOUSE_UNREACHABLE (retryable), WAREHOUSE_QUERY_FAILED and
 * VALIDATION_FAILED (a required column missing from the query; permanent).
 */
export interface BillingRowSource {
  readonly name: string;
  read(
    after: BillingWatermark | null,
    options: { limit: number; until: Date },
  ): Promise<{
    facts: RevenueFact[];
    rejected: Array<{ key: string | null; reason: string }>;
    rows: number;
    next: BillingWatermark | null;
  }>;
}

/**
 * Customer records in the billing system, for data-subject requests. Vendor shapes stay in the
 * adapter (src/connectors/billing/stripe/customers.ts). Errors: BILLING_UNAVAILABLE (retryable,
 * retryAfterMs when the vendor said so) for network failures, 429 and 5xx; BILLING_AUTH_FAILED
 * (permanent) when the vendor refuses the key.
 */
export interface BillingCustomers {
  readonly name: string;
  /** Customers whose email is this address (case-insensitive), each saying whether invoices exist. */
  findByEmail(email: string): Promise<{ id: string; hasInvoices: boolean }[]>;
  /** Deletes the customer; idempotent (an already deleted customer is success). */
  deleteCustomer(id: string): Promise<void>;
  /**
   * Clears the customer's personal fields that no law requires to be kept (name, phone, address,
   * shipping, description) and marks it restricted with the reason; invoices stay as issued.
   */
  restrictCustomer(id: string, reason: string): Promise<void>;
  /** The customer's record as the vendor holds it (for an access bundle). */
  exportCustomer(id: string): Promise<Record<string, unknown>>;
}
