/**
 * A billing table row → revenue facts. Pure. The configured query names its columns: `id` (unique
 * per payment), `amount_minor` (whole minor units ≥ 0), `currency` (ISO 4217), `occurred_at`,
 * `updated_at`, and optionally `customer_id`, `email`, `contact_id` (our contact id, the
 * strongest identity key) and `refunded_minor` (cumulative, like Stripe's amount_refunded).
 * A payment is a conversion `sql:<id>` (first write wins, so correct amounts before they are
 * paid); a refunded amount is a refund of it.
 */
import type { RevenueFact } from '../../billing/port.ts';

export const REQUIRED_COLUMNS = ['id', 'amount_minor', 'currency', 'occurred_at', 'updated_at'] as const;

type Row = Record<string, unknown>;

function whole(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : undefined;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

function instant(v: unknown): Date | undefined {
  const d = v instanceof Date ? v : typeof v === 'string' ? new Date(v) : undefined;
  return d !== undefined && !Number.isNaN(d.getTime()) ? d : undefined;
}

/** Trimmed, display name stripped, lower-cased (attribution.md §7), as Stripe's emails are. */
function email(v: unknown): string | undefined {
  const s = text(v);
  if (s === undefined) return undefined;
  const m = /<([^>]+)>/.exec(s);
  const e = (m ? (m[1] as string) : s).trim().toLowerCase();
  return e.includes('@') ? e : undefined;
}

/** The row's facts, or why it cannot be revenue (naming the column, never its value). */
export function billingRowFacts(row: Row): { ok: true; facts: RevenueFact[] } | { ok: false; reason: string } {
  const id = text(row['id']);
  if (id === undefined) return { ok: false, reason: 'column "id" is empty' };
  const amount = whole(row['amount_minor']);
  if (amount === undefined) return { ok: false, reason: 'column "amount_minor" is not a whole amount ≥ 0' };
  const currency = text(row['currency']);
  if (currency === undefined || !/^[a-z]{3}$/i.test(currency))
    return { ok: false, reason: 'column "currency" is not an ISO 4217 code' };
  const occurredAt = instant(row['occurred_at']);
  if (occurredAt === undefined) return { ok: false, reason: 'column "occurred_at" is not a time' };
  const refunded =
    row['refunded_minor'] === null || row['refunded_minor'] === undefined ? 0 : whole(row['refunded_minor']);
  if (refunded === undefined) return { ok: false, reason: 'column "refunded_minor" is not a whole amount ≥ 0' };
  const customer = text(row['customer_id']);
  const mail = email(row['email']);
  const hint = text(row['contact_id']);
  const conversionId = `sql:${id}`;
  const cur = currency.toLowerCase();
  const facts: RevenueFact[] = [
    {
      kind: 'conversion',
      id: conversionId,
      ...(customer ? { customerId: `sql:${customer}` } : {}),
      ...(mail ? { email: mail } : {}),
      ...(hint ? { contactHint: hint } : {}),
      amountMinor: amount,
      currency: cur,
      occurredAt,
    },
  ];
  if (refunded > 0)
    facts.push({
      kind: 'refund',
      chargeId: conversionId,
      conversionId,
      refundedMinor: refunded,
      currency: cur,
      occurredAt: instant(row['updated_at']) ?? occurredAt,
    });
  return { ok: true, facts };
}
