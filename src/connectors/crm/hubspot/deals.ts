/**
 * Closed-won HubSpot deals for revenue attribution: the CRM v3 deals search (dealstage = the
 * won stage, closedate ≥ since, read in (closedate, hs_object_id) order by searchDealsPage's own
 * keyset, because search's own `after` offset stops at 10 000 results), the v4
 * associations deal → contacts and deal → companies, company → contacts, and one contacts batch
 * read of all those HubSpot ids for our id property. Contacts without our id are left out.
 * `deal_currency_code` gives the currency when set (multi-currency portals), else the configured one.
 */
import type { CrmDeal, CrmDealChange } from '../port.ts';
import { decimalToMinor } from '../../../core/currency.ts';
import { decodeDealCursor, encodeDealCursor } from '../deal-cursor.ts';
import type { HubspotClient } from './client.ts';
import { type HubspotObject, parseHubspotTime, resultsOf } from './contacts.ts';

export interface HubspotDealOptions {
  /** Internal name of the won stage: 'closedwon' in the default pipeline. */
  wonStage: string;
  currency: string;
  /** Our contact id property (HubspotPropertyMap.idProperty). */
  idProperty: string;
  /** Waits for the CRM Search API's own budget (4 requests/s per token), when the adapter has one. */
  beforeSearch?: () => Promise<void>;
}

/** v4 batch association read: from id → associated ids (chunks of 100 inputs). */
async function associated(client: HubspotClient, from: string, to: string, ids: readonly string[]) {
  const out = new Map<string, string[]>();
  for (let i = 0; i < ids.length; i += 100) {
    const res = await client.send('POST', `/crm/v4/associations/${from}/${to}/batch/read`, {
      inputs: ids.slice(i, i + 100).map((id) => ({ id })),
    });
    const results = ((res.body as { results?: unknown[] } | undefined)?.results ?? []) as Array<{
      from?: { id?: string };
      to?: Array<{ toObjectId?: string | number }>;
    }>;
    for (const r of results) {
      if (r.from?.id === undefined) continue;
      out.set(
        String(r.from.id),
        (r.to ?? []).map((t) => String(t.toObjectId)),
      );
    }
  }
  return out;
}

/**
 * The CrmDeal of each found deal that has an amount and a close date (by HubSpot id): its
 * contacts and its first company's contacts, read with the v4 associations and one contacts batch
 * read per 100 HubSpot contact ids.
 */
async function detailDeals(
  client: HubspotClient,
  o: HubspotDealOptions,
  found: readonly HubspotObject[],
): Promise<Map<string, CrmDeal>> {
  const deals = new Map<string, CrmDeal>();
  if (found.length === 0) return deals;
  const dealIds = found.map((d) => d.id);
  const dealContacts = await associated(client, 'deals', 'contacts', dealIds);
  const dealCompanies = await associated(client, 'deals', 'companies', dealIds);
  const companies = [...new Set([...dealCompanies.values()].flat())];
  const companyContacts = await associated(client, 'companies', 'contacts', companies);
  const hsContacts = [...new Set([...dealContacts.values(), ...companyContacts.values()].flat())];
  const ours = new Map<string, string>();
  for (let i = 0; i < hsContacts.length; i += 100) {
    const read = await client.send('POST', '/crm/v3/objects/contacts/batch/read', {
      inputs: hsContacts.slice(i, i + 100).map((id) => ({ id })),
      properties: [o.idProperty],
    });
    for (const c of resultsOf(read.body)) {
      const own = c.properties?.[o.idProperty];
      if (typeof own === 'string' && own !== '') ours.set(c.id, own);
    }
  }
  const mapped = (ids: string[] | undefined) =>
    [...new Set((ids ?? []).map((id) => ours.get(id)).filter((c): c is string => c !== undefined))].sort();
  for (const d of found) {
    const code = d.properties?.['deal_currency_code'];
    const currency = typeof code === 'string' && /^[a-z]{3}$/i.test(code) ? code.toLowerCase() : o.currency;
    const amountMinor = decimalToMinor(d.properties?.['amount'], currency);
    const closedAt = parseHubspotTime(d.properties?.['closedate'] ?? undefined);
    if (amountMinor === undefined || closedAt === undefined) continue; // no amount: nothing to attribute
    const company = dealCompanies.get(d.id)?.[0];
    deals.set(d.id, {
      dealId: d.id,
      amountMinor,
      currency,
      closedAt,
      ...(company ? { accountId: company } : {}),
      dealContactIds: mapped(dealContacts.get(d.id)),
      accountContactIds: company ? mapped(companyContacts.get(company)) : [],
    });
  }
  return deals;
}

export async function readHubspotDeals(
  client: HubspotClient,
  o: HubspotDealOptions,
  options: { since: Date; after?: string; limit: number },
): Promise<{ deals: CrmDeal[]; next?: string; more: boolean }> {
  const won = { propertyName: 'dealstage', operator: 'EQ', value: o.wonStage };
  const since = { propertyName: 'closedate', operator: 'GTE', value: String(options.since.getTime()) };
  const limit = Math.min(100, Math.max(1, Math.floor(options.limit)));
  const { found, next, more } = await searchDealsPage(client, o, {
    by: 'closedate',
    fixed: [won],
    firstPage: [since],
    after: options.after,
    properties: ['amount', 'closedate', 'deal_currency_code', 'dealstage'],
    limit,
  });
  const detailed = await detailDeals(client, o, found);
  const deals = found.map((d) => detailed.get(d.id)).filter((d): d is CrmDeal => d !== undefined);
  return { deals, ...(next === undefined ? {} : { next }), more };
}

/**
 * Deals of any stage modified before `until`, by (hs_lastmodifieddate, hs_object_id), with the
 * keyset of readHubspotDeals. Only the won ones (the
 * won stage, an amount, a close date) get their associations read.
 */
export async function readHubspotDealChanges(
  client: HubspotClient,
  o: HubspotDealOptions,
  options: { after?: string; until: Date; limit: number },
): Promise<{ changes: CrmDealChange[]; next?: string; more: boolean }> {
  const MOD = 'hs_lastmodifieddate';
  const before = { propertyName: MOD, operator: 'LT', value: String(options.until.getTime()) };
  const limit = Math.min(100, Math.max(1, Math.floor(options.limit)));
  const { found, next, more } = await searchDealsPage(client, o, {
    by: MOD,
    fixed: [before],
    firstPage: [],
    after: options.after,
    properties: ['amount', 'closedate', 'deal_currency_code', 'dealstage', MOD],
    limit,
  });
  const stamped = found
    .map((d) => ({ d, modifiedAt: parseHubspotTime(d.properties?.[MOD] ?? undefined) }))
    .filter((x): x is { d: HubspotObject; modifiedAt: Date } => x.modifiedAt !== undefined);
  const won = await detailDeals(
    client,
    o,
    found.filter((d) => d.properties?.['dealstage'] === o.wonStage),
  );
  const changes = stamped.map(({ d, modifiedAt }) => {
    const deal = won.get(d.id);
    return { dealId: d.id, modifiedAt, ...(deal ? { won: deal } : {}) };
  });
  return { changes, ...(next === undefined ? {} : { next }), more };
}

interface SearchFilter {
  propertyName: string;
  operator: string;
  value: string;
}

/** The cursor's id once every deal at its `by` value was read: the next page starts after it. */
const GROUP_DONE = '*';

/**
 * One page of the deals search in (`by`, hs_object_id) order, after the cursor. HubSpot's search
 * takes one sort only and orders ties arbitrarily, so a page is either a range page (later `by`,
 * sorted by it; a full page gives back the deals at its last `by` value, which may continue on
 * the next) or a tie page (the deals at the cursor's `by` value, sorted by id, after its id).
 * The cursor is (`by` in epoch ms, id): '' = none read at that value yet, GROUP_DONE = all read.
 * The first page (no cursor) has `firstPage` instead of the range filter.
 */
async function searchDealsPage(
  client: HubspotClient,
  o: HubspotDealOptions,
  q: {
    by: string;
    fixed: SearchFilter[];
    firstPage: SearchFilter[];
    after?: string;
    properties: string[];
    limit: number;
  },
): Promise<{ found: HubspotObject[]; next?: string; more: boolean }> {
  const search = async (filters: SearchFilter[], sortBy: string): Promise<HubspotObject[]> => {
    await o.beforeSearch?.();
    const res = await client.send('POST', '/crm/v3/objects/deals/search', {
      filterGroups: [{ filters: [...q.fixed, ...filters] }],
      sorts: [{ propertyName: sortBy, direction: 'ASCENDING' }],
      properties: q.properties,
      limit: q.limit,
    });
    return resultsOf(res.body);
  };
  const byOf = (d: HubspotObject) => parseHubspotTime(d.properties?.[q.by] ?? undefined)?.getTime();
  const tiePage = async (at: string, afterId: string) => {
    const id = afterId === '' ? [] : [{ propertyName: 'hs_object_id', operator: 'GT', value: afterId }];
    const found = await search([{ propertyName: q.by, operator: 'EQ', value: at }, ...id], 'hs_object_id');
    const full = found.length >= q.limit;
    return { found, next: encodeDealCursor(at, full ? found.at(-1)!.id : GROUP_DONE) };
  };
  const from = decodeDealCursor(q.after);
  // an empty tie page read the rest of its value: the position moves past it even if nothing follows
  let passed: string | undefined;
  if (from !== undefined && from.id !== GROUP_DONE) {
    const t = await tiePage(from.closed, from.id);
    if (t.found.length > 0) return { found: t.found, next: t.next, more: true };
    passed = t.next;
  }
  const found = await search(
    from === undefined ? q.firstPage : [{ propertyName: q.by, operator: 'GT', value: from.closed }],
    q.by,
  );
  const last = found.at(-1);
  const lastBy = last === undefined ? undefined : byOf(last);
  if (last === undefined || lastBy === undefined)
    return { found, ...(passed === undefined ? {} : { next: passed }), more: false };
  if (found.length < q.limit) return { found, next: encodeDealCursor(String(lastBy), GROUP_DONE), more: false };
  // a full page: the deals at its last value may continue beyond it, in no set order
  const complete = found.filter((d) => byOf(d) !== lastBy);
  if (complete.length > 0) return { found: complete, next: encodeDealCursor(String(lastBy), ''), more: true };
  const t = await tiePage(String(lastBy), '');
  return { found: t.found, next: t.next, more: true };
}
