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

/** A page of a vendor's list endpoint, for backfills. */
export interface BillingBackfillSource {
  readonly name: string;
  /** Yields every object as an event-like BillingEvent of the given type, oldest pages first as the API pages. */
  pages(kind: 'invoices' | 'charges' | 'subscriptions'): AsyncIterable<BillingEvent[]>;
}
