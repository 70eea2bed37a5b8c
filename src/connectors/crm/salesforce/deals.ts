/**
 * Closed-won Opportunities for revenue attribution, in three SOQL reads per page (no
 * relationship sub-queries, so any org and API version answers them): the Opportunities
 * (`IsWon = true`, CloseDate ≥ since, keyset on CloseDate and Id), their OpportunityContactRoles,
 * and the Contacts of those roles and of the Opportunities' Accounts with our id field. Contacts
 * without our id are left out. Amount is the org's currency: single-currency orgs have no
 * CurrencyIsoCode, so the currency is configured (default usd).
 */
import type { CrmDeal } from '../port.ts';
import { amountToMinor, decodeDealCursor, encodeDealCursor } from '../deal-cursor.ts';
import { chunkIn, field, quote } from './soql.ts';
import type { SalesforceFieldMap } from './records.ts';

type Row = Record<string, unknown>;

export interface SalesforceDealReader {
  query(soql: string): Promise<Row[]>;
  /** The query path prefix, to size IN lists (soql.ts chunkIn). */
  queryPath: string;
  map: SalesforceFieldMap;
  currency: string;
}

const DATE = /^\d{4}-\d\d-\d\d$/;

export async function readSalesforceDeals(
  r: SalesforceDealReader,
  options: { since: Date; after?: string; limit: number },
): Promise<{ deals: CrmDeal[]; next?: string; more: boolean }> {
  const from = decodeDealCursor(options.after);
  const since = options.since.toISOString().slice(0, 10);
  // CloseDate is a date: unquoted yyyy-mm-dd literals; the cursor's date is checked before use
  const keyset =
    from === undefined || !DATE.test(from.closed)
      ? ''
      : ` AND (CloseDate > ${from.closed} OR (CloseDate = ${from.closed} AND Id > ${quote(from.id)}))`;
  const opps = await r.query(
    `SELECT Id, Amount, CloseDate, AccountId FROM Opportunity WHERE IsWon = true AND CloseDate >= ${since}${keyset} `
      + `ORDER BY CloseDate, Id LIMIT ${Math.max(1, Math.floor(options.limit))}`,
  );
  if (opps.length === 0) return { deals: [], more: false };
  const oppIds = opps.map((o) => String(o.Id));
  const roles: Row[] = [];
  for (const soql of chunkIn(
    oppIds,
    r.queryPath,
    (list) => `SELECT OpportunityId, ContactId FROM OpportunityContactRole WHERE OpportunityId IN (${list})`,
  ))
    roles.push(...(await r.query(soql)));
  const accounts = [...new Set(opps.map((o) => o.AccountId).filter((a): a is string => typeof a === 'string'))];
  const roleContacts = [...new Set(roles.map((x) => x.ContactId).filter((c): c is string => typeof c === 'string'))];
  const idField = field(r.map.idField);
  const contacts: Row[] = [];
  for (const [where, values] of [
    ['AccountId', accounts],
    ['Id', roleContacts],
  ] as const)
    for (const soql of chunkIn(
      values,
      r.queryPath,
      (list) => `SELECT Id, AccountId, ${idField} FROM Contact WHERE ${where} IN (${list})`,
    ))
      contacts.push(...(await r.query(soql)));
  const ours = new Map<string, string>();
  const byAccount = new Map<string, Set<string>>();
  for (const c of contacts) {
    const own = c[r.map.idField];
    if (typeof own !== 'string' || own === '') continue;
    ours.set(String(c.Id), own);
    if (typeof c.AccountId === 'string') {
      const set = byAccount.get(c.AccountId) ?? new Set<string>();
      set.add(own);
      byAccount.set(c.AccountId, set);
    }
  }
  const deals: CrmDeal[] = [];
  for (const o of opps) {
    const amountMinor = amountToMinor(o.Amount);
    const closed = typeof o.CloseDate === 'string' && DATE.test(o.CloseDate) ? o.CloseDate : undefined;
    if (amountMinor === undefined || closed === undefined) continue; // no amount: nothing to attribute
    const account = typeof o.AccountId === 'string' ? o.AccountId : undefined;
    const onDeal = roles
      .filter((x) => x.OpportunityId === o.Id)
      .map((x) => ours.get(String(x.ContactId)))
      .filter((c): c is string => c !== undefined);
    deals.push({
      dealId: String(o.Id),
      amountMinor,
      currency: r.currency,
      closedAt: new Date(`${closed}T00:00:00Z`),
      ...(account ? { accountId: account } : {}),
      dealContactIds: [...new Set(onDeal)].sort(),
      accountContactIds: account ? [...(byAccount.get(account) ?? [])].sort() : [],
    });
  }
  const last = opps.at(-1) as Row;
  return {
    deals,
    next: encodeDealCursor(String(last.CloseDate), String(last.Id)),
    more: opps.length >= options.limit,
  };
}
