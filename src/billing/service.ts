/**
 * Revenue in: stores verified billing events once (by event id) and applies their revenue facts
 * (conversions, refunds, subscriptions, identity hints) idempotently and independently of arrival
 * order, then resolves identities set-wise (queries.ts RESOLVE_CONVERSIONS). Used by the Stripe
 * webhook route, the Stripe backfill, the SQL billing table adapter and CRM deals.
 */
import type { Clock } from '../clock/port.ts';
import type { BillingEvent, RevenueFact } from '../connectors/billing/port.ts';
import type { Db, Queryable } from '../store/port.ts';
import {
  EXPLAIN_CONVERSION,
  INSERT_CHARGE_INVOICE,
  INSERT_CONVERSION,
  INSERT_EVENT,
  INSERT_LINK,
  RESOLVE_CONVERSIONS,
  UPSERT_REFUND,
  UPSERT_SUBSCRIPTION,
} from './queries.ts';

export interface BillingService {
  /**
   * Stores each event and applies its facts in one transaction per event. An event id seen before is
   * a duplicate and changes nothing. Returns counts; then links what can now be linked.
   */
  record(
    items: ReadonlyArray<{ event: BillingEvent; facts: RevenueFact[] }>,
  ): Promise<{ accepted: number; duplicates: number; linked: number }>;
  /** Applies facts that have no vendor event (SQL billing rows, CRM deals), keyed by their own ids. */
  applyFacts(source: string, facts: RevenueFact[]): Promise<{ linked: number }>;
  /** Links conversions whose identity is now known. */
  resolveIdentities(): Promise<{ linked: number; customers: number }>;
  /** Records an identity link decided elsewhere (CRM id, a configured fallback) with its evidence. */
  link(keyKind: string, keyValue: string, contactId: string, rule: string, evidence: unknown): Promise<void>;
  explain(
    conversionId: string,
  ): Promise<Array<{ keyKind: string; keyValue: string; contactId: string; rule: string; evidence: unknown }>>;
}

async function applyFact(tx: Queryable, source: string, eventId: string, f: RevenueFact, now: Date): Promise<void> {
  switch (f.kind) {
    case 'conversion':
      await tx.query(INSERT_CONVERSION, [
        f.id,
        source,
        f.customerId ?? null,
        f.email ?? null,
        f.contactHint ?? null,
        f.amountMinor,
        f.currency,
        f.occurredAt,
        eventId,
      ]);
      return;
    case 'charge-invoice':
      await tx.query(INSERT_CHARGE_INVOICE, [f.chargeId, f.invoiceId]);
      return;
    case 'refund':
      await tx.query(UPSERT_REFUND, [f.chargeId, f.conversionId, f.refundedMinor, f.currency, f.occurredAt]);
      return;
    case 'subscription':
      await tx.query(UPSERT_SUBSCRIPTION, [
        f.id,
        f.customerId ?? null,
        f.status,
        f.plan ?? null,
        f.amountMinor ?? null,
        f.currency ?? null,
        f.eventCreated,
        now,
      ]);
      return;
    case 'identity':
      if (f.contactHint) {
        await tx.query(INSERT_LINK, [
          'billing_customer',
          f.customerId,
          f.contactHint,
          'metadata.sy_contact',
          JSON.stringify({ event: eventId }),
          now,
        ]);
      }
      return;
  }
}

export function createBillingService(deps: { db: Db; clock: Clock }): BillingService {
  const { db, clock } = deps;
  const service: BillingService = {
    async record(items) {
      let accepted = 0;
      let duplicates = 0;
      for (const { event, facts } of items) {
        const now = clock.now();
        const fresh = await db.transaction(async (tx) => {
          const o = event.object;
          const objectId = typeof o['id'] === 'string' ? o['id'] : null;
          const customer = typeof o['customer'] === 'string' ? `stripe:${o['customer']}` : null;
          const r = await tx.query(INSERT_EVENT, [
            event.sourceId,
            event.type,
            event.occurredAt,
            now,
            objectId,
            customer,
            JSON.stringify(o),
          ]);
          if (r.rowCount === 0) return false;
          // the source is the event id's namespace: stripe:evt_… / stripe:backfill:…, crm:<crm>:deal:…
          const source = event.sourceId.slice(0, event.sourceId.indexOf(':'));
          for (const f of facts) await applyFact(tx, source, event.sourceId, f, now);
          return true;
        });
        if (fresh) accepted++;
        else duplicates++;
      }
      const { linked } = accepted > 0 ? await service.resolveIdentities() : { linked: 0 };
      return { accepted, duplicates, linked };
    },
    async applyFacts(source, facts) {
      const now = clock.now();
      await db.transaction(async (tx) => {
        for (const f of facts) await applyFact(tx, source, `${source}:direct`, f, now);
      });
      return { linked: (await service.resolveIdentities()).linked };
    },
    async resolveIdentities() {
      const r = await db.query<{ linked: number; customers: number }>(RESOLVE_CONVERSIONS, [clock.now()]);
      return r.rows[0] ?? { linked: 0, customers: 0 };
    },
    async link(keyKind, keyValue, contactId, rule, evidence) {
      await db.query(INSERT_LINK, [keyKind, keyValue, contactId, rule, JSON.stringify(evidence ?? {}), clock.now()]);
    },
    async explain(conversionId) {
      const r = await db.query<{
        key_kind: string;
        key_value: string;
        contact_id: string;
        rule: string;
        evidence: unknown;
      }>(EXPLAIN_CONVERSION, [conversionId]);
      return r.rows.map((x) => ({
        keyKind: x.key_kind,
        keyValue: x.key_value,
        contactId: x.contact_id,
        rule: x.rule,
        evidence: x.evidence,
      }));
    },
  };
  return service;
}
