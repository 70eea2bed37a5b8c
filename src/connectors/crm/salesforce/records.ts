/**
 * Salesforce Contact records ↔ CrmRecord: the field mapping, which fields a query selects, how a
 * record becomes a CrmRecord or a contact change, and how an sObject Collections answer becomes
 * per-record failures. Pure; the wire calls are in adapter.ts and changes.ts.
 */
import type { CrmRecord, CrmRecordFailure } from '../port.ts';
import { field } from './soql.ts';

/** Which Contact field holds each value Switchyard reads or writes. */
export interface SalesforceFieldMap {
  /**
   * The field holding Switchyard's contact id: `Id` when contact ids are Salesforce ids, `Email`
   * when they are addresses, or an external-id field (the usual case).
   */
  idField: string;
  accountStatus: string;
  tier: string;
  engagementScore: string;
  lastEngagedAt: string;
  owner: string;
  /** Further fields read into `fields`, under camelCase names. */
  extra: readonly string[];
}

export const DEFAULT_FIELDS: SalesforceFieldMap = {
  idField: 'Switchyard_Contact_Id__c',
  accountStatus: 'Switchyard_Account_Status__c',
  tier: 'Switchyard_Tier__c',
  engagementScore: 'Switchyard_Engagement_Score__c',
  lastEngagedAt: 'Switchyard_Last_Engaged_At__c',
  owner: 'OwnerId',
  extra: [],
};

/** Standard Contact/Lead checkbox: the person asked not to receive email. */
export const OPT_OUT_FIELD = 'HasOptedOutOfEmail';

export type SalesforceRecord = Record<string, unknown> & { Id: string; attributes?: { type?: string } };

export function selectFields(map: SalesforceFieldMap): string[] {
  const wanted = [
    'Id',
    map.idField,
    map.accountStatus,
    map.tier,
    map.engagementScore,
    map.lastEngagedAt,
    map.owner,
    OPT_OUT_FIELD,
    ...map.extra,
  ];
  return [...new Set(wanted.map(field))];
}

export function keyOf(value: string, map: SalesforceFieldMap): string {
  return map.idField === 'Email' ? value.trim().toLowerCase() : value;
}

/** Salesforce datetimes come back as 2026-03-01T10:00:00.000+0000 (no colon in the offset). */
export function parseSalesforceTime(value: unknown): Date | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const d = new Date(value.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function camel(name: string): string {
  const plain = name.replace(/__c$/, '');
  return (
    plain.charAt(0).toLowerCase() + plain.slice(1).replace(/[_.]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase())
  );
}

export function toCrmRecord(contactId: string, r: SalesforceRecord, map: SalesforceFieldMap): CrmRecord {
  const record: CrmRecord = {
    contactId,
    crmId: r.Id,
    accountStatus: text(r[map.accountStatus]) ?? '',
    tier: text(r[map.tier]) ?? '',
    optedOut: r[OPT_OUT_FIELD] === true,
    fields: { source: 'salesforce' },
  };
  const score = r[map.engagementScore];
  if (typeof score === 'number' && Number.isFinite(score)) record.engagementScore = score;
  const last = parseSalesforceTime(r[map.lastEngagedAt]);
  if (last !== undefined) record.lastEngagedAt = last;
  const owner = text(r[map.owner]);
  if (owner !== null && owner !== '') record.fields.ownerId = owner;
  for (const name of map.extra) if (r[name] !== undefined && r[name] !== null) record.fields[camel(name)] = r[name];
  return record;
}

/** The mapped fields of a record as a change's properties (CRM field names, values as text). */
export function changeProperties(r: SalesforceRecord, map: SalesforceFieldMap): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const name of selectFields(map)) if (name !== 'Id' && name in r) out[name] = text(r[name]);
  return out;
}

export interface SaveResult {
  id?: string;
  success?: boolean;
  errors?: { statusCode?: string; message?: string; fields?: string[] }[];
}

/**
 * Failures of an sObject Collections answer. Results come back in the order the records were
 * sent; `keyAt(i)` names the caller's key for record i.
 */
export function saveFailures(body: unknown, count: number, keyAt: (i: number) => string): CrmRecordFailure[] {
  const results = Array.isArray(body) ? (body as SaveResult[]) : [];
  const failed: CrmRecordFailure[] = [];
  for (let i = 0; i < count; i += 1) {
    const r = results[i];
    if (r?.success === true) continue;
    const e = r?.errors?.[0];
    const message =
      e === undefined
        ? 'Salesforce returned no result for this record'
        : (e.message ?? e.statusCode ?? 'Salesforce refused the record');
    failed.push({ key: keyAt(i), message });
  }
  return failed;
}
