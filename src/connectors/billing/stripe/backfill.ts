/**
 * Stripe's list endpoints for the billing backfill (connectors.md §3): GET /v1/{customers,invoices,
 * charges,subscriptions} with `limit`, `starting_after` (the last id of the previous page; Stripe
 * lists newest first) and `created[gte]`, read through the list envelope
 * `{object:"list", data, has_more, url}`. Each object becomes the event the webhook would have
 * sent for its current state, so the backfill applies the same facts (revenue.ts) through the same
 * idempotent path: a paid invoice is `invoice.paid`, a succeeded charge `charge.succeeded` (plus
 * `charge.refunded` when anything was refunded: amount_refunded is cumulative, so the refunds list
 * adds nothing), a subscription `customer.subscription.updated|deleted` as of the read, a customer
 * `customer.updated`.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../../clock/port.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import { boundJson } from '../../../core/storable-json.ts';
import type { BackfillPage, BackfillStream, BillingBackfillSource, BillingEvent } from '../port.ts';
import { createStripeCall, type StripeHttpOptions } from './http.ts';

type Obj = Record<string, unknown>;

// invoices: only paid ones are revenue; subscriptions: Stripe's default hides canceled ones
const FILTERS: Record<BackfillStream, Record<string, string>> = {
  customers: {},
  invoices: { status: 'paid' },
  charges: {},
  subscriptions: { status: 'all' },
};

function unix(v: unknown): Date | undefined {
  return Number.isSafeInteger(v) && (v as number) > 0 ? new Date((v as number) * 1000) : undefined;
}

/** The webhook event types an object's current state stands for. */
function eventTypes(stream: BackfillStream, o: Obj): string[] {
  switch (stream) {
    case 'customers':
      return ['customer.updated'];
    case 'invoices':
      return o['status'] === 'paid' ? ['invoice.paid'] : [];
    case 'charges': {
      const types = o['status'] === 'succeeded' ? ['charge.succeeded'] : [];
      if (Number(o['amount_refunded']) > 0) types.push('charge.refunded');
      return types;
    }
    case 'subscriptions':
      return [o['status'] === 'canceled' ? 'customer.subscription.deleted' : 'customer.subscription.updated'];
  }
}

/** When the fact happened: paid_at for invoices, created for charges, the read itself for state snapshots. */
function occurredAt(type: string, o: Obj, readAt: Date): Date {
  if (type === 'invoice.paid') return unix((o['status_transitions'] as Obj | undefined)?.['paid_at']) ?? readAt;
  if (type === 'charge.succeeded') return unix(o['created']) ?? readAt;
  return readAt;
}

export function toBackfillEvents(
  stream: BackfillStream,
  objects: unknown[],
  readAt: Date,
): Pick<BackfillPage, 'events' | 'invalid'> {
  const events: BillingEvent[] = [];
  const invalid: BackfillPage['invalid'] = [];
  for (const raw of objects) {
    const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Obj;
    const id = typeof o['id'] === 'string' && o['id'] !== '' ? o['id'] : null;
    if (id === null) {
      invalid.push({ objectId: null, reason: `Stripe ${stream} list item has no id` });
      continue;
    }
    const object = boundJson(o) as Obj;
    // one version per content: re-reading an unchanged object is a duplicate, a changed one applies again
    const version = createHash('sha256').update(JSON.stringify(object)).digest('hex').slice(0, 16);
    for (const type of eventTypes(stream, o)) {
      events.push({
        sourceId: `stripe:backfill:${type}:${id}:${version}`,
        type,
        occurredAt: occurredAt(type, o, readAt),
        livemode: o['livemode'] === true,
        object,
        raw: { backfill: stream, id },
      });
    }
  }
  return { events, invalid };
}

export function createStripeBackfillSource(options: StripeHttpOptions & { clock: Clock }): BillingBackfillSource {
  const call = createStripeCall(options);
  async function page(
    stream: BackfillStream,
    { after, since, limit }: { after: string | null; since?: Date; limit: number },
  ): Promise<BackfillPage> {
    const q = new URLSearchParams({ limit: String(Math.min(100, Math.max(1, limit))), ...FILTERS[stream] });
    if (after !== null) q.set('starting_after', after);
    if (since !== undefined) q.set('created[gte]', String(Math.floor(since.getTime() / 1000)));
    const { status, body } = await call('GET', `/v1/${stream}?${q}`);
    const code = ((body['error'] ?? {}) as { code?: string }).code;
    // the object we resume after was deleted since (customers can be): start the list again, the
    // pages already applied are duplicates
    if (after !== null && status === 400 && code === 'resource_missing')
      return page(stream, { after: null, ...(since ? { since } : {}), limit });
    if (status !== 200 || body['object'] !== 'list' || !Array.isArray(body['data'])) {
      const error = (body['error'] ?? {}) as { type?: string; code?: string };
      throw new SwitchyardError('BILLING_UNAVAILABLE', `Stripe ${stream} list answered ${status} without a list`, {
        details: { status, type: error.type, code: error.code },
      });
    }
    const data = body['data'] as unknown[];
    const last = data.at(-1) as Obj | undefined;
    return {
      ...toBackfillEvents(stream, data, options.clock.now()),
      objects: data.length,
      cursor: typeof last?.['id'] === 'string' ? last['id'] : null,
      hasMore: body['has_more'] === true,
    };
  }
  return { name: 'stripe', page };
}
