/**
 * CRM closed-won deals as revenue (B2B): reads the CRM port's closed-won deals page by page from
 * a durable position (billing_sync_cursors, source `crm`) and stores each deal once, by the event
 * id `crm:<crm>:deal:<id>` (BillingService.record), as one conversion per person it is shared
 * with (core/attribution/deal-split.ts: equal shares over the account's and the deal's contacts),
 * each linked to that contact. Because the deal is stored once, a later change of the account's
 * contacts never adds shares to a deal already counted. A deal without any known contact is kept
 * as one unlinked conversion on its account. This is the backfill by close date; the `crm-deals`
 * stage (deal-poll.ts) keeps deals current by modification, and a deal it holds is left to it here.
 */
import type { Clock } from '../clock/port.ts';
import type { BillingEvent, RevenueFact } from '../connectors/billing/port.ts';
import type { Crm, CrmDeal } from '../connectors/crm/port.ts';
import { splitDeal } from '../core/attribution/deal-split.ts';
import type { Db } from '../store/port.ts';
import { SELECT_HELD_IDS } from './deal-poll-queries.ts';
import { SAVE_CURSOR, SELECT_CURSOR } from './queries.ts';
import type { BillingService } from './service.ts';

export interface CrmDealDeps {
  db: Db;
  clock: Clock;
  billing: BillingService;
  crm: Pick<Crm, 'name' | 'readClosedWonDeals'>;
}

export interface CrmDealResult {
  pages: number;
  deals: number;
  accepted: number;
  duplicates: number;
  conversions: number;
}

/** The facts of one deal: its shares as conversions (source 'crm'), each hinting its contact. */
export function dealFacts(crmName: string, d: CrmDeal): Array<Extract<RevenueFact, { kind: 'conversion' }>> {
  const base = `crm:${crmName}:deal:${d.dealId}`;
  const account = d.accountId === undefined ? {} : { customerId: `crm:${crmName}:account:${d.accountId}` };
  const shares = splitDeal(d.amountMinor, d.dealContactIds, d.accountContactIds);
  if (shares.length === 0)
    return [
      {
        kind: 'conversion',
        id: base,
        ...account,
        amountMinor: d.amountMinor,
        currency: d.currency,
        occurredAt: d.closedAt,
      },
    ];
  return shares.map((s) => ({
    kind: 'conversion' as const,
    id: `${base}:${s.contactId}`,
    ...account,
    contactHint: s.contactId,
    amountMinor: s.amountMinor,
    currency: d.currency,
    occurredAt: d.closedAt,
  }));
}

/** Reads and stores every closed-won deal after the saved position (closed on or after `since`). */
export async function syncCrmDeals(
  deps: CrmDealDeps,
  options: { since: Date; pageSize?: number },
): Promise<CrmDealResult> {
  const { db, clock, crm } = deps;
  const limit = options.pageSize ?? 100;
  const saved = (await db.query<{ since: Date | null; position: string | null }>(SELECT_CURSOR, ['crm', crm.name]))
    .rows[0];
  // another --since starts again (cheap: every deal already stored is a duplicate)
  let after = saved?.position && saved.since?.getTime() === options.since.getTime() ? saved.position : undefined;
  const result: CrmDealResult = { pages: 0, deals: 0, accepted: 0, duplicates: 0, conversions: 0 };
  for (;;) {
    const page = await crm.readClosedWonDeals({ since: options.since, limit, ...(after ? { after } : {}) });
    // deals the poller holds are kept current by it (deal-poll.ts): a first-write copy here would undo its changes
    const polled = new Set(
      (await db.query<{ deal_id: string }>(SELECT_HELD_IDS, [crm.name, page.deals.map((d) => d.dealId)])).rows.map(
        (x) => x.deal_id,
      ),
    );
    const items = page.deals
      .filter((d) => !polled.has(d.dealId))
      .map((d) => {
        const facts = dealFacts(crm.name, d);
        const event: BillingEvent = {
          sourceId: `crm:${crm.name}:deal:${d.dealId}`,
          type: 'crm.deal.closed_won',
          occurredAt: d.closedAt,
          livemode: true,
          object: { id: d.dealId, amountMinor: d.amountMinor, currency: d.currency, shares: facts.length },
          raw: null,
        };
        return { event, facts };
      });
    const r = await deps.billing.record(items);
    result.pages++;
    result.deals += page.deals.length;
    result.accepted += r.accepted;
    result.duplicates += r.duplicates + polled.size;
    result.conversions += items.reduce((n, x) => n + x.facts.length, 0);
    after = page.next ?? after;
    await db.query(SAVE_CURSOR, [
      'crm',
      crm.name,
      options.since,
      after ?? null,
      !page.more,
      result.pages,
      result.deals,
      clock.now(),
    ]);
    if (!page.more) break;
  }
  return result;
}
