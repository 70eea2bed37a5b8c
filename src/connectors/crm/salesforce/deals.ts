/**
 * Closed-won Opportunities for revenue attribution, in three SOQL reads per page (no
 * relationship sub-queries, so any org and API version answers them): the Opportunities
 * (`IsWon = true`, CloseDate ≥ since, keyset on CloseDate and Id), their OpportunityContactRoles,
 * and the Contacts of those roles and of the Opportunities' Accounts with our id field. Contacts
 * without our id are left out. Amount is the org's currency: single-currency orgs have no
 * CurrencyIsoCode, so the currency is configured (default usd).
 */
import { SwitchyardError } from '../../../core/errors.ts';
import type { CrmDeal, CrmDealChange } from '../port.ts';
import { decimalToMinor } from '../../../core/currency.ts';
import { decodeDealCursor, encodeDealCursor } from '../deal-cursor.ts';
import { chunkIn, dateTime, field, quote } from './soql.ts';
import { parseSalesforceTime } from './records.ts';
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
  const detailed = await detailOpportunities(r, opps);
  const deals = opps.map((o) => detailed.get(String(o.Id))).filter((d): d is CrmDeal => d !== undefined);
  const last = opps.at(-1) as Row;
  return {
    deals,
    next: encodeDealCursor(String(last.CloseDate), String(last.Id)),
    more: opps.length >= options.limit,
  };
}

/** The CrmDeal of each Opportunity with an amount and a close date (by Id), with its contacts. */
async function detailOpportunities(r: SalesforceDealReader, opps: readonly Row[]): Promise<Map<string, CrmDeal>> {
  if (opps.length === 0) return new Map();
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
  const deals = new Map<string, CrmDeal>();
  for (const o of opps) {
    const amountMinor = decimalToMinor(o.Amount, r.currency);
    const closed = typeof o.CloseDate === 'string' && DATE.test(o.CloseDate) ? o.CloseDate : undefined;
    if (amountMinor === undefined || closed === undefined) continue; // no amount: nothing to attribute
    const account = typeof o.AccountId === 'string' ? o.AccountId : undefined;
    const onDeal = roles
      .filter((x) => x.OpportunityId === o.Id)
      .map((x) => ours.get(String(x.ContactId)))
      .filter((c): c is string => c !== undefined);
    deals.set(String(o.Id), {
      dealId: String(o.Id),
      amountMinor,
      currency: r.currency,
      closedAt: new Date(`${closed}T00:00:00Z`),
      ...(account ? { accountId: account } : {}),
      dealContactIds: [...new Set(onDeal)].sort(),
      accountContactIds: account ? [...(byAccount.get(account) ?? [])].sort() : [],
    });
  }
  return deals;
}

/**
 * Opportunities of any stage modified before `until`, by (SystemModstamp, Id), the keyset strictly
 * after the cursor; IsWon says which are won (only those get their contacts read). The query
 * follows nextRecordsUrl when Salesforce splits the answer.
 */
export async function readSalesforceDealChanges(
  r: SalesforceDealReader,
  options: { after?: string; until: Date; limit: number },
): Promise<{ changes: CrmDealChange[]; next?: string; more: boolean }> {
  const from = decodeDealCursor(options.after);
  const stamp = from === undefined ? undefined : parseSalesforceTime(from.closed);
  if (from !== undefined && stamp === undefined)
    throw new SwitchyardError('VALIDATION_FAILED', 'not a deal cursor of this CRM');
  const keyset =
    from === undefined || stamp === undefined
      ? ''
      : ` AND (SystemModstamp > ${dateTime(stamp)}`
        + ` OR (SystemModstamp = ${dateTime(stamp)} AND Id > ${quote(from.id)}))`;
  const limit = Math.max(1, Math.floor(options.limit));
  const opps = await r.query(
    `SELECT Id, Amount, CloseDate, AccountId, IsWon, SystemModstamp FROM Opportunity `
      + `WHERE SystemModstamp < ${dateTime(options.until)}${keyset} ORDER BY SystemModstamp, Id LIMIT ${limit}`,
  );
  const won = await detailOpportunities(
    r,
    opps.filter((o) => o.IsWon === true),
  );
  const changes: CrmDealChange[] = [];
  let last: { stamp: Date; id: string } | undefined;
  for (const o of opps) {
    const modifiedAt = parseSalesforceTime(o.SystemModstamp);
    if (modifiedAt === undefined) continue;
    const deal = won.get(String(o.Id));
    changes.push({ dealId: String(o.Id), modifiedAt, ...(deal ? { won: deal } : {}) });
    last = { stamp: modifiedAt, id: String(o.Id) };
  }
  return {
    changes,
    ...(last ? { next: encodeDealCursor(last.stamp.toISOString(), last.id) } : {}),
    more: opps.length >= limit,
  };
}
