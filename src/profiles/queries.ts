/**
 * SQL of the profile service: identity resolution, profile writes and engagement facts, each one
 * statement per batch. Private to src/profiles/.
 */
import type { AttributeStamp } from '../core/profile-merge.ts';
import type { Queryable } from '../store/port.ts';

/** Contact ids known under these identity keys (CRM id, warehouse id, lower-cased email). */
export async function resolveIdentities(
  db: Queryable,
  keys: { crmIds: string[]; warehouseIds: string[]; emails: string[] },
): Promise<{ contactId: string; crmId: string | null; warehouseId: string | null; email: string | null }[]> {
  if (keys.crmIds.length + keys.warehouseIds.length + keys.emails.length === 0) return [];
  const { rows } = await db.query<{
    contact_id: string;
    crm_id: string | null;
    warehouse_id: string | null;
    email: string | null;
  }>(
    `select contact_id, crm_id, warehouse_id, lower(email) as email from contact_profiles
     where crm_id = any($1::text[]) or warehouse_id = any($2::text[]) or lower(email) = any($3::text[])`,
    [keys.crmIds, keys.warehouseIds, keys.emails],
  );
  return rows.map((r) => ({ contactId: r.contact_id, crmId: r.crm_id, warehouseId: r.warehouse_id, email: r.email }));
}

export interface ProfileWrite {
  contactId: string;
  email: string | null;
  crmId: string | null;
  warehouseId: string | null;
  attributes: Record<string, unknown>;
  versions: Record<string, AttributeStamp>;
}

/** Writes profiles whose rows the caller holds locked (lockSnapshots created missing ones). */
export async function writeProfiles(db: Queryable, rows: readonly ProfileWrite[], at: Date): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `update contact_profiles p set email = x.email, crm_id = x.crm_id, warehouse_id = x.warehouse_id,
       attributes = x.attributes::jsonb, attribute_versions = x.versions::jsonb, updated_at = $7
     from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
       as x(contact_id, email, crm_id, warehouse_id, attributes, versions)
     where p.contact_id = x.contact_id`,
    [
      rows.map((r) => r.contactId),
      rows.map((r) => r.email),
      rows.map((r) => r.crmId),
      rows.map((r) => r.warehouseId),
      rows.map((r) => JSON.stringify(r.attributes)),
      rows.map((r) => JSON.stringify(r.versions)),
      at,
    ],
  );
}

/**
 * Claims bus messages by id (a reaction batch, a chunk of clicks) for the profiles: an event is in
 * exactly one such message (ingest dedups by source id before it publishes), so one row per
 * message dedups as well as one row per event did, at a hundredth of the writes. A message whose
 * `legacy` id (one of its events, as claimed one by one before) is already claimed was applied
 * then, whole, and is not new. Its transaction commits without waiting for the WAL flush: the
 * message is delivered again if a crash loses the commit (the settle's later commit cannot be
 * durable before it), and this claim makes the redelivery change nothing otherwise.
 */
export async function claimMessages(
  db: Queryable,
  claims: readonly { id: string; legacy: string }[],
  at: Date,
): Promise<Set<string>> {
  if (claims.length === 0) return new Set();
  const { rows } = await db.query<{ source_id: string }>(
    `with async_commit as (select set_config('synchronous_commit', 'off', true)),
     input as (select * from unnest($1::text[], $2::text[]) as x(id, legacy))
     insert into profile_events_seen (source_id, seen_at)
     select i.id, $3 from input i cross join async_commit
     where not exists (select 1 from profile_events_seen s where s.source_id = i.legacy)
     order by i.id
     on conflict do nothing returning source_id`,
    [claims.map((c) => c.id), claims.map((c) => c.legacy), at],
  );
  return new Set(rows.map((r) => r.source_id));
}

export interface EngagementDelta {
  contactId: string;
  sent: number;
  opened: number;
  clicked: number;
  replied: number;
  bounced: number;
  unsubscribed: number;
  /** ISO 8601, as the events carry it (parsed by PostgreSQL, not built into a Date here). */
  lastEngagedAt: string | null;
}

export interface SendFact {
  contactId: string;
  campaignId: string;
  /** ISO 8601. */
  at: string;
  opened: boolean;
}

export interface ClickFact {
  contactId: string;
  tag: string;
  /** ISO 8601. */
  at: string;
}

// The latest click per (contact, tag); a click older than the stored one leaves the row as it is.
const CLICK_TAGS_UPSERT = `
  insert into profile_click_tags as t (contact_id, tag, last_at)
  select contact_id, tag, max(at) from unnest($1::text[], $2::text[], $3::timestamptz[]) as x(contact_id, tag, at)
  group by contact_id, tag
  on conflict (contact_id, tag) do update set last_at = excluded.last_at where excluded.last_at > t.last_at`;

/**
 * A reaction group's facts in one statement (one round trip, parse and plan instead of three): the
 * engagement counts, the campaigns sent and opened, the latest click per tag. A fact already known
 * leaves its row as it is, with no new row version: a campaign delivered again, an open already
 * recorded, a click older than the tag's latest. A campaign fact already known is not even offered
 * to the upsert, whose conflict path would lock the row (a WAL record and a dirtied page per event:
 * nearly every reaction is to a campaign the profile already holds). Facts only grow (a send stays
 * recorded, an open stays opened), so what that probe found stays true whatever a concurrent writer
 * does, and the upsert settles the rest. Rows are written in key order (`deltas` sorted by contact,
 * the other two ordered here), so two writers that hold no profile locks take them in one order.
 */
export async function addReactionFacts(
  db: Queryable,
  deltas: readonly EngagementDelta[],
  sends: readonly SendFact[],
  clicks: readonly ClickFact[],
): Promise<void> {
  if (deltas.length + sends.length + clicks.length === 0) return;
  const col = (k: keyof EngagementDelta) => deltas.map((d) => d[k]);
  await db.query(
    `with engagement as (
       insert into profile_engagement as e
         (contact_id, sent, opened, clicked, replied, bounced, unsubscribed, last_engaged_at)
       select * from unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[], $7::int[],
         $8::timestamptz[])
       on conflict (contact_id) do update set sent = e.sent + excluded.sent, opened = e.opened + excluded.opened,
         clicked = e.clicked + excluded.clicked, replied = e.replied + excluded.replied,
         bounced = e.bounced + excluded.bounced, unsubscribed = e.unsubscribed + excluded.unsubscribed,
         last_engaged_at = greatest(e.last_engaged_at, excluded.last_engaged_at)
     ), sends as (
       insert into profile_campaigns as c (contact_id, campaign_id, sent_at, opened)
       select contact_id, campaign_id, min(at), bool_or(opened)
       from unnest($9::text[], $10::text[], $11::timestamptz[], $12::boolean[])
         as x(contact_id, campaign_id, at, opened)
       group by contact_id, campaign_id
       having not exists (select 1 from profile_campaigns k where k.contact_id = x.contact_id
         and k.campaign_id = x.campaign_id and (k.opened or not bool_or(x.opened)))
       order by contact_id, campaign_id
       on conflict (contact_id, campaign_id) do update set opened = true where excluded.opened and not c.opened
     ), clicks as (
       insert into profile_click_tags as t (contact_id, tag, last_at)
       select contact_id, tag, max(at)
       from unnest($13::text[], $14::text[], $15::timestamptz[]) as x(contact_id, tag, at)
       group by contact_id, tag
       order by contact_id, tag
       on conflict (contact_id, tag) do update set last_at = excluded.last_at where excluded.last_at > t.last_at
     )
     select 1`,
    [
      col('contactId'),
      col('sent'),
      col('opened'),
      col('clicked'),
      col('replied'),
      col('bounced'),
      col('unsubscribed'),
      col('lastEngagedAt'),
      sends.map((f) => f.contactId),
      sends.map((f) => f.campaignId),
      sends.map((f) => f.at),
      sends.map((f) => f.opened),
      clicks.map((f) => f.contactId),
      clicks.map((f) => f.tag),
      clicks.map((f) => f.at),
    ],
  );
}

export async function recordClicks(db: Queryable, clicks: readonly ClickFact[]): Promise<void> {
  if (clicks.length === 0) return;
  await db.query(CLICK_TAGS_UPSERT, [
    clicks.map((c) => c.contactId),
    clicks.map((c) => c.tag),
    clicks.map((c) => c.at),
  ]);
}

export async function readProfile(
  db: Queryable,
  contactId: string,
): Promise<{
  contactId: string;
  email: string | null;
  crmId: string | null;
  warehouseId: string | null;
  attributes: Record<string, unknown>;
  versions: Record<string, AttributeStamp>;
  engagement: Record<string, unknown> | null;
  lists: string[];
  updatedAt: Date;
} | null> {
  const { rows } = await db.query<{
    contact_id: string;
    email: string | null;
    crm_id: string | null;
    warehouse_id: string | null;
    attributes: Record<string, unknown>;
    attribute_versions: Record<string, AttributeStamp>;
    updated_at: Date;
    engagement: Record<string, unknown> | null;
    lists: string[] | null;
  }>(
    `select p.*,
       (select to_jsonb(e) - 'contact_id' from profile_engagement e where e.contact_id = p.contact_id) as engagement,
       (select array_agg(m.list_id order by m.list_id) from list_members m where m.contact_id = p.contact_id) as lists
     from contact_profiles p where p.contact_id = $1`,
    [contactId],
  );
  const r = rows[0];
  if (r === undefined) return null;
  return {
    contactId: r.contact_id,
    email: r.email,
    crmId: r.crm_id,
    warehouseId: r.warehouse_id,
    attributes: r.attributes,
    versions: r.attribute_versions,
    engagement: r.engagement,
    lists: r.lists ?? [],
    updatedAt: r.updated_at,
  };
}

/** An exact time text (UTC, microseconds) of a timestamptz column, as the feed positions hold them. */
const UTC_MICROS = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/** Where a warehouse feed stands for its changes and its deletes; absent ones start from the beginning. */
export async function readFeedWatermarks(
  db: Queryable,
  source: string,
): Promise<{ changes?: { at: string; key: string }; deletes?: { at: string; key: string } }> {
  const { rows } = await db.query<{
    at: string | null;
    key: string | null;
    del_at: string | null;
    del_key: string | null;
  }>(
    `select to_char(updated_at at time zone 'UTC', ${UTC_MICROS}) as at, last_key as key,
       to_char(deleted_at at time zone 'UTC', ${UTC_MICROS}) as del_at, deleted_key as del_key
     from profile_source_watermarks where source = $1`,
    [source],
  );
  const r = rows[0];
  if (r === undefined) return {};
  return {
    ...(r.at === null || r.key === null ? {} : { changes: { at: r.at, key: r.key } }),
    ...(r.del_at === null || r.del_key === null ? {} : { deletes: { at: r.del_at, key: r.del_key } }),
  };
}

/** Saves one stream's position (after its page was applied), leaving the other stream's as it is. */
export async function saveFeedWatermark(
  db: Queryable,
  source: string,
  stream: 'changes' | 'deletes',
  position: { at: string; key: string },
  polledAt: Date,
): Promise<void> {
  const [at, key] = stream === 'changes' ? ['updated_at', 'last_key'] : ['deleted_at', 'deleted_key'];
  await db.query(
    `insert into profile_source_watermarks (source, ${at}, ${key}, polled_at) values ($1, $2::timestamptz, $3, $4)
     on conflict (source) do update
       set ${at} = excluded.${at}, ${key} = excluded.${key}, polled_at = excluded.polled_at`,
    [source, position.at, position.key, polledAt],
  );
}
