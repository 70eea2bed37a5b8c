/**
 * HubSpot contact objects ↔ CrmRecord: which properties a batch read asks for, how a result is
 * matched back to the id it was asked for (merged contacts included), and how properties become
 * the record's fields. Pure; the wire calls are in adapter.ts.
 */
import type { CrmRecord, CrmRecordFailure } from '../port.ts';

/** Which HubSpot contact property holds each field Switchyard reads or writes. */
export interface HubspotPropertyMap {
  /**
   * The property holding Switchyard's contact id: `hs_object_id` when contact ids are HubSpot
   * record ids, `email` when they are addresses, or a custom unique-value property (the usual
   * case: Switchyard's warehouse id stored in HubSpot as an external id).
   */
  idProperty: string;
  accountStatus: string;
  tier: string;
  engagementScore: string;
  lastEngagedAt: string;
  owner: string;
  /** Further properties read into `fields`, under camelCase names. */
  extra: readonly string[];
}

export const DEFAULT_PROPERTIES: HubspotPropertyMap = {
  idProperty: 'switchyard_contact_id',
  accountStatus: 'lifecyclestage',
  tier: 'switchyard_tier',
  engagementScore: 'switchyard_engagement_score',
  lastEngagedAt: 'switchyard_last_engaged_at',
  owner: 'hubspot_owner_id',
  extra: [],
};

/** HubSpot sets it when a contact unsubscribes from all email (read-only). */
export const OPT_OUT_PROPERTY = 'hs_email_optout';
/** Semicolon-separated ids of contacts merged into this one. */
export const MERGED_IDS_PROPERTY = 'hs_merged_object_ids';

export interface HubspotObject {
  id: string;
  properties: Record<string, string | null | undefined>;
  archived?: boolean;
}

export function readProperties(map: HubspotPropertyMap): string[] {
  const wanted = [
    map.idProperty,
    map.accountStatus,
    map.tier,
    map.engagementScore,
    map.lastEngagedAt,
    map.owner,
    OPT_OUT_PROPERTY,
    MERGED_IDS_PROPERTY,
    ...map.extra,
  ];
  return [...new Set(wanted.filter((p) => p !== 'hs_object_id'))];
}

/** The batch-read body for these ids (at most 100). */
export function batchReadBody(ids: readonly string[], map: HubspotPropertyMap): Record<string, unknown> {
  return {
    properties: readProperties(map),
    ...(map.idProperty === 'hs_object_id' ? {} : { idProperty: map.idProperty }),
    inputs: ids.map((id) => ({ id })),
  };
}

function keyOf(value: string, map: HubspotPropertyMap): string {
  return map.idProperty === 'email' ? value.trim().toLowerCase() : value;
}

/**
 * Matches batch-read results to the ids asked for. A contact merged into another answers with
 * the surviving record, whose id differs and whose hs_merged_object_ids names the old one; the
 * asked id then maps to the survivor (its crmId is the new id). Archived results count as absent.
 */
export function matchResults(
  ids: readonly string[],
  results: readonly HubspotObject[],
  map: HubspotPropertyMap,
): Map<string, HubspotObject> {
  const byKey = new Map<string, HubspotObject>();
  for (const r of results) {
    if (r.archived === true || typeof r.id !== 'string') continue;
    const own = map.idProperty === 'hs_object_id' ? r.id : r.properties?.[map.idProperty];
    if (typeof own === 'string' && own !== '') byKey.set(keyOf(own, map), r);
    if (map.idProperty === 'hs_object_id') {
      for (const old of (r.properties?.[MERGED_IDS_PROPERTY] ?? '').split(';')) {
        if (old.trim() !== '' && !byKey.has(old.trim())) byKey.set(old.trim(), r);
      }
    }
  }
  const out = new Map<string, HubspotObject>();
  for (const id of ids) {
    const hit = byKey.get(keyOf(id, map));
    if (hit !== undefined) out.set(id, hit);
  }
  return out;
}

function camel(name: string): string {
  return name.replace(/[_-]+([a-z0-9])/gi, (_, c: string) => c.toUpperCase());
}

export function toCrmRecord(contactId: string, obj: HubspotObject, map: HubspotPropertyMap): CrmRecord {
  const p = obj.properties ?? {};
  const record: CrmRecord = {
    contactId,
    crmId: obj.id,
    accountStatus: p[map.accountStatus] ?? '',
    tier: p[map.tier] ?? '',
    optedOut: p[OPT_OUT_PROPERTY] === 'true',
    fields: { source: 'hubspot' },
  };
  const score = Number(p[map.engagementScore] ?? Number.NaN);
  if (p[map.engagementScore] != null && p[map.engagementScore] !== '' && Number.isFinite(score))
    record.engagementScore = score;
  const last = parseHubspotTime(p[map.lastEngagedAt]);
  if (last !== undefined) record.lastEngagedAt = last;
  const owner = p[map.owner];
  if (owner != null && owner !== '') record.fields.ownerId = owner;
  for (const name of map.extra) if (p[name] != null) record.fields[camel(name)] = p[name];
  return record;
}

/** Datetime properties come back as ISO strings; older portals and webhooks use epoch milliseconds. */
export function parseHubspotTime(value: string | null | undefined): Date | undefined {
  if (value == null || value === '') return undefined;
  const d = /^\d+$/.test(value) ? new Date(Number(value)) : new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export interface BatchError {
  message: string;
  /** The record ids or emails the vendor names for this error. */
  keys: string[];
}

/** Per-record errors of a 207 (or a 200 with `errors`): the ids HubSpot names in each error's context. */
export function batchErrors(body: unknown): BatchError[] {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.map((e) => {
    const o = (e ?? {}) as { message?: unknown; context?: Record<string, unknown> };
    const keys: string[] = [];
    for (const v of Object.values(o.context ?? {})) if (Array.isArray(v)) keys.push(...v.map(String));
    return { message: typeof o.message === 'string' ? o.message : 'HubSpot refused the record', keys };
  });
}

/** Failures for `keys` named by batch errors, mapped to what the caller gave (contact id or email). */
export function failuresFor(errors: readonly BatchError[], toCallerKey: (vendorKey: string) => string | undefined) {
  const failed: CrmRecordFailure[] = [];
  for (const e of errors)
    for (const k of e.keys) {
      const key = toCallerKey(k);
      if (key !== undefined) failed.push({ key, message: e.message });
    }
  return failed;
}

export function resultsOf(body: unknown): HubspotObject[] {
  const results = (body as { results?: unknown } | undefined)?.results;
  return Array.isArray(results) ? (results as HubspotObject[]) : [];
}
