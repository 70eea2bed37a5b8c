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
