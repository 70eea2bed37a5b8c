/**
 * Reads the profile snapshots segment predicates run on, for a set of contacts, inside the caller's
 * transaction, and locks those contacts' profile rows (in contact order, so two writers never
 * deadlock) for the rest of it: whoever evaluates lists for a contact holds its row, so two
 * evaluations of one contact never interleave and a transition is recorded exactly once.
 * Contacts without a profile get an empty one (a change for an unknown contact creates it).
 * Set-wise: a fixed number of statements whatever the number of contacts.
 */
import type { AttributeStamp } from '../core/profile-merge.ts';
import { MAX_CAMPAIGN_LOOKBACK, type ProfileSnapshot } from '../core/segments/types.ts';
import type { Queryable } from '../store/port.ts';

/** A snapshot plus what the profile writer needs: the per-attribute stamps and identity keys. */
export interface LockedProfile extends ProfileSnapshot {
  lists: Set<string>;
  versions: Record<string, AttributeStamp>;
  email: string | null;
  crmId: string | null;
  warehouseId: string | null;
  /** False when the row was created by this read. */
  existed: boolean;
  /** The lists whose membership `lists` reflects; null: every list. */
  listsRead: Set<string> | null;
  /**
   * The membership rows as read (list id → row version, `ctid`): an exit deletes its row by it, with
   * no index probe. Stable while the caller holds the profile lock and the lists' shared locks: every
   * other writer of the row holds one of them (the profile, or a rebuild chunk's list lane).
   */
  memberRows: Map<string, string>;
}

const CREATE_MISSING = `
  insert into contact_profiles (contact_id, created_at, updated_at)
  select id, $2, $2 from unnest($1::text[]) as id
  on conflict (contact_id) do nothing
  returning contact_id`;

// Both lock the rows one key probe at a time, in the order of the (sorted) ids: the subquery with its
// row lock is not flattened into a join. As `contact_id = any(…) order by contact_id for update` the
// planner scanned the whole table for a batch of a few hundred contacts (its statistics lag a
// table that grows with every new contact) and sorted the hits (bench/README.md, reactions).
// attributes as text: parsed in JS (faster than the driver building jsonb objects)
const LOCK_AND_READ = `
  select p.contact_id, p.email, p.crm_id, p.warehouse_id, p.attributes::text as attributes,
    p.attribute_versions::text as versions
  from unnest($1::text[]) as id, lateral (select * from contact_profiles c where c.contact_id = id for update) as p`;

const LOCK_ONLY = `
  select p.contact_id from unnest($1::text[]) as id,
    lateral (select c.contact_id from contact_profiles c where c.contact_id = id for update) as p`;

/**
 * Locks the contacts' profile rows in contact order, creating missing ones, and reads nothing: for a
 * writer of facts that must hold the rows before writing and evaluates lists (lockSnapshots, which
 * then reads) only if some list reads those facts. One statement when every profile exists.
 */
export async function lockProfiles(tx: Queryable, contactIds: readonly string[], now: Date): Promise<void> {
  const ids = [...new Set(contactIds)].sort();
  if (ids.length === 0) return;
  const { rows } = await tx.query<{ contact_id: string }>(LOCK_ONLY, [ids]);
  if (rows.length === ids.length) return;
  const found = new Set(rows.map((r) => r.contact_id));
  await tx.query(CREATE_MISSING, [ids.filter((id) => !found.has(id)), now]);
  // locked in contact order again, the new rows (and any a concurrent writer created) included
  await tx.query(LOCK_ONLY, [ids]);
}

/**
 * Creates the profiles of these contacts that have none, locking nothing: for a writer of facts
 * that no list reads (so it evaluates nothing, and no evaluation waits on it), the row locks of
 * lockProfiles would cost a WAL record and a dirtied page per contact and protect nothing (decision
 * 0044). An existing profile is left as it is (the conflict skips it without a lock).
 */
export async function ensureProfiles(tx: Queryable, contactIds: readonly string[], now: Date): Promise<void> {
  const ids = [...new Set(contactIds)].sort();
  if (ids.length === 0) return;
  await tx.query(CREATE_MISSING, [ids, now]);
}

const READ_CLICKS = `
  select contact_id, tag, (extract(epoch from last_at) * 1000)::float8 as at_ms
  from profile_click_tags where contact_id = any($1::text[])`;

// the newest MAX_CAMPAIGN_LOOKBACK sends per contact, through profile_campaigns_recent
const READ_CAMPAIGNS = `
  select c.id as contact_id, r.campaign_id, (extract(epoch from r.sent_at) * 1000)::float8 as sent_ms, r.opened
  from unnest($1::text[]) as c(id)
  cross join lateral (
    select pc.campaign_id, pc.sent_at, pc.opened from profile_campaigns pc
    where pc.contact_id = c.id order by pc.sent_at desc, pc.campaign_id desc limit ${MAX_CAMPAIGN_LOOKBACK}
  ) r`;

const READ_MEMBERSHIPS = `select list_id, contact_id, ctid::text as row from list_members
  where contact_id = any($1::text[])`;
const READ_SOME_MEMBERSHIPS = `select list_id, contact_id, ctid::text as row from list_members
  where contact_id = any($1::text[]) and list_id = any($2::text[])`;

type MembershipRow = { list_id: string; contact_id: string; row: string };

function addMemberships(profiles: ReadonlyMap<string, LockedProfile>, rows: readonly MembershipRow[]): void {
  for (const m of rows) {
    const p = profiles.get(m.contact_id);
    if (p === undefined) continue;
    p.lists.add(m.list_id);
    p.memberRows.set(m.list_id, m.row);
  }
}

export interface SnapshotNeeds {
  clicks: boolean;
  opens: boolean;
  /**
   * The lists whose memberships to read (a change of one attribute re-evaluates a few lists of
   * many; a contact is in tens); absent: all.
   */
  lists?: readonly string[];
}

/**
 * Reads the memberships of `listIds` that the snapshots were read without (the catalogue moved
 * since, or the caller evaluates more than it read for), so an evaluation never takes a contact
 * for a non-member of a list it is in.
 */
export async function completeMemberships(
  tx: Queryable,
  profiles: ReadonlyMap<string, LockedProfile>,
  listIds: Iterable<string>,
): Promise<void> {
  const missing = new Set<string>();
  for (const p of profiles.values()) {
    if (p.listsRead === null) continue;
    for (const id of listIds) if (!p.listsRead.has(id)) missing.add(id);
  }
  if (missing.size === 0) return;
  const ids = [...profiles.keys()];
  const { rows } = await tx.query<MembershipRow>(READ_SOME_MEMBERSHIPS, [ids, [...missing]]);
  addMemberships(profiles, rows);
  for (const p of profiles.values()) for (const id of missing) p.listsRead?.add(id);
}

export async function lockSnapshots(
  tx: Queryable,
  contactIds: readonly string[],
  now: Date,
  needs: SnapshotNeeds = { clicks: true, opens: true },
): Promise<Map<string, LockedProfile>> {
  const ids = [...new Set(contactIds)].sort();
  const out = new Map<string, LockedProfile>();
  if (ids.length === 0) return out;
  // lock and read first: almost always every profile exists, and the insert is then skipped
  type Row = {
    contact_id: string;
    email: string | null;
    crm_id: string | null;
    warehouse_id: string | null;
    attributes: string;
    versions: string;
  };
  let { rows } = await tx.query<Row>(LOCK_AND_READ, [ids]);
  const created = new Set<string>();
  if (rows.length < ids.length) {
    const found = new Set(rows.map((r) => r.contact_id));
    const absent = ids.filter((id) => !found.has(id));
    for (const r of (await tx.query<{ contact_id: string }>(CREATE_MISSING, [absent, now])).rows)
      created.add(r.contact_id);
    // locked in contact order again, the new rows (and any a concurrent writer created) included
    rows = (await tx.query<Row>(LOCK_AND_READ, [ids])).rows;
  }
  for (const r of rows) {
    out.set(r.contact_id, {
      contactId: r.contact_id,
      attributes: JSON.parse(r.attributes) as Record<string, unknown>,
      versions: JSON.parse(r.versions) as Record<string, AttributeStamp>,
      lastClickByTag: new Map(),
      campaigns: [],
      lists: new Set(),
      email: r.email,
      crmId: r.crm_id,
      warehouseId: r.warehouse_id,
      existed: !created.has(r.contact_id),
      listsRead: null,
      memberRows: new Map(),
    });
  }
  // also when the read created a profile (its evaluation takes every list): what the caller locked
  // is read here, the rest by completeMemberships once the evaluation holds their locks
  const some = needs.lists;
  const members = await tx.query<MembershipRow>(
    some === undefined ? READ_MEMBERSHIPS : READ_SOME_MEMBERSHIPS,
    some === undefined ? [ids] : [ids, some],
  );
  if (some !== undefined) for (const p of out.values()) p.listsRead = new Set(some);
  addMemberships(out, members.rows);
  if (needs.clicks) {
    const clicks = await tx.query<{ contact_id: string; tag: string; at_ms: number }>(READ_CLICKS, [ids]);
    for (const c of clicks.rows) {
      const p = out.get(c.contact_id);
      if (p) (p.lastClickByTag as Map<string, number>).set(c.tag, Number(c.at_ms));
    }
  }
  if (needs.opens) {
    const sends = await tx.query<{ contact_id: string; campaign_id: string; sent_ms: number; opened: boolean }>(
      READ_CAMPAIGNS,
      [ids],
    );
    const byContact = new Map<string, { campaignId: string; sentAt: number; opened: boolean }[]>();
    for (const s of sends.rows) {
      const list = byContact.get(s.contact_id) ?? [];
      list.push({ campaignId: s.campaign_id, sentAt: Number(s.sent_ms), opened: s.opened });
      byContact.set(s.contact_id, list);
    }
    for (const [id, list] of byContact) {
      const p = out.get(id);
      if (p) p.campaigns = list;
    }
  }
  return out;
}
