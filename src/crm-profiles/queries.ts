/**
 * SQL of the profile cache: contact profiles read and written set-wise (one statement per chunk),
 * change events resolved from the CRM's record id, and the change events that matched nothing.
 */
import type { CrmRecord } from '../connectors/crm/port.ts';
import type { Queryable } from '../store/port.ts';

export interface StoredProfile {
  contactId: string;
  crm: string;
  /** Null: the CRM does not know the contact. */
  record: CrmRecord | null;
  fetchedAt: Date;
  invalidatedAt: Date | null;
}

interface ProfileRow {
  contact_id: string;
  crm: string;
  crm_id: string | null;
  found: boolean;
  account_status: string | null;
  tier: string | null;
  /** jsonb as text, parsed only for found profiles. */
  owner: string | null;
  opted_out: boolean;
  engagement_score: number | null;
  fields: string | null;
  fetched_ms: number;
  invalidated_ms: number | null;
}

// a blast reads a chunk's worth per query: timestamps as epoch ms spare the driver's date parsing
const READ = `
  select contact_id, crm, crm_id, found, account_status, tier, owner::text as owner, opted_out, engagement_score,
    fields::text as fields, (extract(epoch from fetched_at) * 1000)::float8 as fetched_ms,
    (extract(epoch from invalidated_at) * 1000)::float8 as invalidated_ms
  from crm_profiles where contact_id = any($1::text[])`;

export async function readProfiles(db: Queryable, ids: readonly string[]): Promise<StoredProfile[]> {
  const { rows } = await db.query<ProfileRow>(READ, [ids]);
  return rows.map((r) => ({
    contactId: r.contact_id,
    crm: r.crm,
    record: r.found
      ? {
          contactId: r.contact_id,
          crmId: r.crm_id ?? '',
          accountStatus: r.account_status ?? '',
          tier: r.tier ?? '',
          ...(r.owner === null ? {} : { owner: JSON.parse(r.owner) as NonNullable<CrmRecord['owner']> }),
          ...(r.engagement_score === null ? {} : { engagementScore: Number(r.engagement_score) }),
          optedOut: r.opted_out,
          fields: r.fields === null ? {} : (JSON.parse(r.fields) as Record<string, unknown>),
        }
      : null,
    fetchedAt: new Date(Number(r.fetched_ms)),
    invalidatedAt: r.invalidated_ms === null ? null : new Date(Number(r.invalidated_ms)),
  }));
}

// An invalidation that arrived after the fetch started stays: the answer may predate the change.
const UPSERT = `
  insert into crm_profiles as p (contact_id, crm, crm_id, found, account_status, tier, owner, opted_out,
    engagement_score, fields, fetched_at, invalidated_at)
  select x.contact_id, $2::text, x.crm_id, x.found, x.account_status, x.tier, x.owner, coalesce(x.opted_out, false),
    x.engagement_score, coalesce(x.fields, '{}'::jsonb), $3::timestamptz, null
  from jsonb_to_recordset($1::jsonb) as x(contact_id text, crm_id text, found boolean, account_status text,
    tier text, owner jsonb, opted_out boolean, engagement_score float8, fields jsonb)
  on conflict (contact_id) do update set
    crm = excluded.crm, crm_id = excluded.crm_id, found = excluded.found,
    account_status = excluded.account_status, tier = excluded.tier, owner = excluded.owner,
    opted_out = excluded.opted_out, engagement_score = excluded.engagement_score, fields = excluded.fields,
    fetched_at = excluded.fetched_at,
    invalidated_at = case when p.invalidated_at > $4::timestamptz then p.invalidated_at end`;

/** Stores what one CRM look-up answered for `ids`: a record, or "not known" for the absent ones. */
export async function upsertProfiles(
  db: Queryable,
  crm: string,
  ids: readonly string[],
  records: ReadonlyMap<string, CrmRecord>,
  fetchedAt: Date,
  fetchStartedAt: Date,
): Promise<void> {
  if (ids.length === 0) return;
  const rows = [...new Set(ids)].map((id) => {
    const r = records.get(id);
    return r === undefined
      ? { contact_id: id, found: false }
      : {
          contact_id: id,
          crm_id: r.crmId,
          found: true,
          account_status: r.accountStatus,
          tier: r.tier,
          owner: r.owner ?? null,
          opted_out: r.optedOut,
          engagement_score: r.engagementScore ?? null,
          fields: r.fields,
        };
  });
  await db.query(UPSERT, [JSON.stringify(rows), crm, fetchedAt, fetchStartedAt]);
}

/** Contact ids whose profile carries one of these CRM record ids. */
export async function contactsOfCrmIds(db: Queryable, crm: string, crmIds: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{ contact_id: string }>(
    'select contact_id from crm_profiles where crm = $1 and crm_id = any($2::text[])',
    [crm, crmIds],
  );
  return rows.map((r) => r.contact_id);
}

/** Marks profiles for a fetch on next use; returns the contact ids that had one. */
export async function invalidateProfiles(db: Queryable, contactIds: readonly string[], at: Date): Promise<string[]> {
  const { rows } = await db.query<{ contact_id: string }>(
    `update crm_profiles set invalidated_at = greatest(coalesce(invalidated_at, $2), $2)
     where contact_id = any($1::text[]) returning contact_id`,
    [contactIds, at],
  );
  return rows.map((r) => r.contact_id);
}

export async function recordUnmatched(
  db: Queryable,
  change: { source: string; eventId: string; crmId: string },
  reason: string,
  at: Date,
): Promise<void> {
  await db.query(
    `insert into crm_profile_unmatched (source, event_id, crm_id, reason, recorded_at) values ($1, $2, $3, $4, $5)
     on conflict (source, event_id) do nothing`,
    [change.source, change.eventId, change.crmId, reason, at],
  );
}
