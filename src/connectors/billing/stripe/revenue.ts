/**
 * Stripe event snapshots → revenue facts (connectors.md §3). Pure. invoice.paid is the conversion of
 * subscription revenue; charge.succeeded is one only for charges without an invoice (charges of
 * invoices carry `invoice` and would count twice), but still records which invoice it paid so a
 * refund of that charge reverses the invoice; charge.refunded carries the cumulative
 * amount_refunded; subscription events carry status and plan; customer events carry identity
 * (metadata.sy_contact, email). Anything else yields no fact.
 */
import { SwitchyardError } from '../../../core/errors.ts';
import type { BillingEvent, RevenueFact } from '../port.ts';

type Obj = Record<string, unknown>;

function idOf(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Obj)['id'] === 'string') return (v as Obj)['id'] as string;
  return undefined;
}

function minor(o: Obj, field: string): number {
  const v = o[field];
  if (!Number.isSafeInteger(v) || (v as number) < 0) {
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      `Stripe ${String(o['object'])}.${field} is not a whole amount`,
    );
  }
  return v as number;
}

function currency(o: Obj): string {
  const c = o['currency'];
  if (typeof c !== 'string' || !/^[a-z]{3}$/i.test(c)) {
    throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', `Stripe ${String(o['object'])}.currency is not an ISO code`);
  }
  return c.toLowerCase();
}

function email(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  // normalised as attribution.md §7: trimmed, display name stripped, lower-cased; +tags kept
  const m = /<([^>]+)>/.exec(v);
  const e = (m ? (m[1] as string) : v).trim().toLowerCase();
  return e.includes('@') ? e : undefined;
}

function hint(o: Obj): string | undefined {
  const md = o['metadata'];
  const fromMeta = typeof md === 'object' && md !== null ? (md as Obj)['sy_contact'] : undefined;
  if (typeof fromMeta === 'string' && fromMeta !== '') return fromMeta;
  const ref = o['client_reference_id'];
  return typeof ref === 'string' && ref !== '' ? ref : undefined;
}

const customer = (o: Obj): string | undefined => {
  const id = idOf(o['customer']);
  return id === undefined ? undefined : `stripe:${id}`;
};

function seconds(v: unknown): Date | undefined {
  return Number.isSafeInteger(v) && (v as number) > 0 ? new Date((v as number) * 1000) : undefined;
}

/** The facts of one verified, normalised Stripe event. Throws WEBHOOK_PAYLOAD_INVALID on a bad snapshot. */
export function stripeRevenueFacts(event: BillingEvent): RevenueFact[] {
  const o = event.object;
  const id = idOf(o['id']);
  if (id === undefined && event.type !== 'ping') {
    throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', 'Stripe data.object has no id');
  }
  const cust = customer(o);
  const facts: RevenueFact[] = [];
  switch (event.type) {
    case 'invoice.paid': {
      const transitions = o['status_transitions'] as Obj | undefined;
      const paidAt = seconds(transitions?.['paid_at']) ?? event.occurredAt;
      const mail = email(o['customer_email']);
      const h = hint(o);
      facts.push({
        kind: 'conversion',
        id: `stripe:invoice:${id}`,
        ...(cust ? { customerId: cust } : {}),
        ...(mail ? { email: mail } : {}),
        ...(h ? { contactHint: h } : {}),
        amountMinor: minor(o, 'amount_paid'),
        currency: currency(o),
        occurredAt: paidAt,
      });
      const charge = idOf(o['charge']);
      if (charge) facts.push({ kind: 'charge-invoice', chargeId: charge, invoiceId: id as string });
      if (cust && (h || mail)) {
        facts.push({
          kind: 'identity',
          customerId: cust,
          ...(h ? { contactHint: h } : {}),
          ...(mail ? { email: mail } : {}),
        });
      }
      return facts;
    }
    case 'charge.succeeded':
    case 'charge.refunded': {
      const invoice = idOf(o['invoice']);
      if (invoice) facts.push({ kind: 'charge-invoice', chargeId: id as string, invoiceId: invoice });
      const bd = o['billing_details'] as Obj | undefined;
      const mail = email(bd?.['email']) ?? email(o['receipt_email']);
      if (event.type === 'charge.succeeded') {
        if (!invoice) {
          facts.push({
            kind: 'conversion',
            id: `stripe:charge:${id}`,
            ...(cust ? { customerId: cust } : {}),
            ...(mail ? { email: mail } : {}),
            ...(hint(o) ? { contactHint: hint(o) as string } : {}),
            amountMinor: minor(o, 'amount_captured' in o ? 'amount_captured' : 'amount'),
            currency: currency(o),
            occurredAt: seconds(o['created']) ?? event.occurredAt,
          });
        }
      } else {
        facts.push({
          kind: 'refund',
          chargeId: id as string,
          conversionId: invoice ? `stripe:invoice:${invoice}` : `stripe:charge:${id}`,
          refundedMinor: minor(o, 'amount_refunded'),
          currency: currency(o),
          occurredAt: event.occurredAt,
        });
      }
      return facts;
    }
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const items = (o['items'] as Obj | undefined)?.['data'];
      const first = Array.isArray(items) ? (items[0] as Obj | undefined) : undefined;
      const price = (first?.['price'] ?? first?.['plan']) as Obj | undefined;
      const status = event.type === 'customer.subscription.deleted' ? 'canceled' : o['status'];
      if (typeof status !== 'string') {
        throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', 'Stripe subscription has no status');
      }
      const amount = price?.['unit_amount'] ?? price?.['amount'];
      facts.push({
        kind: 'subscription',
        id: id as string,
        ...(cust ? { customerId: cust } : {}),
        status,
        ...(idOf(price?.['id']) ? { plan: idOf(price?.['id']) as string } : {}),
        ...(Number.isSafeInteger(amount) ? { amountMinor: amount as number } : {}),
        ...(typeof price?.['currency'] === 'string' ? { currency: (price['currency'] as string).toLowerCase() } : {}),
        eventCreated: event.occurredAt,
      });
      return facts;
    }
    case 'customer.created':
    case 'customer.updated': {
      const mail = email(o['email']);
      const h = hint(o);
      if (mail || h) {
        facts.push({
          kind: 'identity',
          customerId: `stripe:${id}`,
          ...(h ? { contactHint: h } : {}),
          ...(mail ? { email: mail } : {}),
        });
      }
      return facts;
    }
    default:
      return facts;
  }
}
