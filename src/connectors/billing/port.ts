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
