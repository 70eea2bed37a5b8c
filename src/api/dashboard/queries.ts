/**
 * SQL of the dashboard: its sessions (0038_dashboard_sessions.sql) and the read models the pages
 * need that no service exposes yet (a campaign's engagement funnel and send rate over time, the
 * newest reaction events). Read-only except for sessions; one function per statement, rows mapped
 * to camelCase once. Private to src/api/dashboard/.
 */
import type { Role } from '../../core/access-roles.ts';
import type { Queryable } from '../../store/port.ts';

export interface SessionPrincipal {
  keyId: string;
  name: string;
  role: Role;
}

const INSERT_SESSION = `
  insert into dashboard_sessions (token_hash, key_id, created_at, expires_at) values ($1, $2, $3, $4)`;

export async function insertSession(
  db: Queryable,
  s: { tokenHash: string; keyId: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await db.query(INSERT_SESSION, [s.tokenHash, s.keyId, s.createdAt, s.expiresAt]);
}

// the key row is read on every request, so a revoked key ends its sessions at once
const FIND_SESSION = `
  select k.id, k.name, k.role
    from dashboard_sessions s join api_keys k on k.id = s.key_id
   where s.token_hash = $1 and s.ended_at is null and s.expires_at > $2 and k.revoked_at is null`;

export async function findSessionPrincipal(
  db: Queryable,
  tokenHash: string,
  now: Date,
): Promise<SessionPrincipal | null> {
  const { rows } = await db.query<{ id: string; name: string; role: Role }>(FIND_SESSION, [tokenHash, now]);
  const r = rows[0];
  return r === undefined ? null : { keyId: r.id, name: r.name, role: r.role };
}

const END_SESSION = `update dashboard_sessions set ended_at = $2 where token_hash = $1 and ended_at is null`;

export async function endSession(db: Queryable, tokenHash: string, at: Date): Promise<void> {
  await db.query(END_SESSION, [tokenHash, at]);
}

// a day after expiry, so a session that just ran out can still be told apart from a forged one in logs
const PRUNE_SESSIONS = `delete from dashboard_sessions where expires_at < $1`;

export async function pruneSessions(db: Queryable, before: Date): Promise<void> {
  await db.query(PRUNE_SESSIONS, [before]);
}

/** Distinct contacts per engagement event type of one campaign; machine opens apart. */
export interface EngagementCounts {
  type: string;
  contacts: number;
  machineContacts: number;
}

// engagement_events_campaign (campaign_id, type) index; distinct contacts, because a reader who
// opens twice is one open in a funnel
const ENGAGEMENT_COUNTS = `
  select type,
         count(distinct contact_id) filter (where not is_machine)::int as contacts,
         count(distinct contact_id) filter (where is_machine)::int as machine_contacts
    from engagement_events where campaign_id = $1
   group by type`;

export async function engagementCounts(db: Queryable, campaignId: string): Promise<EngagementCounts[]> {
  const { rows } = await db.query<{ type: string; contacts: number; machine_contacts: number }>(ENGAGEMENT_COUNTS, [
    campaignId,
  ]);
  return rows.map((r) => ({ type: r.type, contacts: r.contacts, machineContacts: r.machine_contacts }));
}

// the ledger's primary key (campaign_id, contact_id) bounds the scan to the campaign's rows
const SEND_RATE = `
  select date_bin(make_interval(secs => $2), sent_at, timestamptz '2000-01-01') as at, count(*)::int as sent
    from send_ledger where campaign_id = $1 and sent_at is not null
   group by 1 order by 1`;

export async function sendRate(
  db: Queryable,
  campaignId: string,
  bucketSeconds: number,
): Promise<{ at: Date; sent: number }[]> {
  const { rows } = await db.query<{ at: Date; sent: number }>(SEND_RATE, [campaignId, bucketSeconds]);
  return rows;
}

// Exclusions only: the ledger's reason column also carries bounce and failure reasons, which
// belong to "bounced"/"failed", not to why a selected contact was left out.
const EXCLUSION_COUNTS = `
  select state, reason, count(*)::int as n from send_ledger
   where campaign_id = $1 and state in ('suppressed', 'capped') and reason is not null
   group by state, reason order by n desc, reason limit 50`;

/** Contacts left out of a campaign (suppressed or over the frequency cap), by reason. */
export async function exclusionCounts(
  db: Queryable,
  campaignId: string,
): Promise<{ state: string; reason: string; count: number }[]> {
  const { rows } = await db.query<{ state: string; reason: string; n: number }>(EXCLUSION_COUNTS, [campaignId]);
  return rows.map((r) => ({ state: r.state, reason: r.reason, count: r.n }));
}

/** One reaction event as the dashboard shows it: no address, no raw payload. */
export interface ReactionEvent {
  sourceId: string;
  type: string;
  provider: string;
  occurredAt: Date;
  receivedAt: Date;
  campaignId: string | null;
  contactId: string | null;
  isMachine: boolean;
  reason: string | null;
}

// engagement_events_received (received_at desc, source_id desc): newest first, keyset paging;
// null filters match everything
const RECENT_EVENTS = `
  select source_id, type, provider, occurred_at, received_at, campaign_id, contact_id, is_machine, reason
    from engagement_events
   where ($1::text is null or type = $1)
     and ($2::text is null or campaign_id = $2)
     and ($3::text is null or provider = $3)
     and ($4::timestamptz is null or (received_at, source_id) < ($4, $5::text))
   order by received_at desc, source_id desc
   limit $6`;

export async function recentEvents(
  db: Queryable,
  f: { type?: string; campaignId?: string; provider?: string; before?: { at: Date; sourceId: string }; limit: number },
): Promise<ReactionEvent[]> {
  const { rows } = await db.query<{
    source_id: string;
    type: string;
    provider: string;
    occurred_at: Date;
    received_at: Date;
    campaign_id: string | null;
    contact_id: string | null;
    is_machine: boolean;
    reason: string | null;
  }>(RECENT_EVENTS, [
    f.type ?? null,
    f.campaignId ?? null,
    f.provider ?? null,
    f.before?.at ?? null,
    f.before?.sourceId ?? '',
    f.limit,
  ]);
  return rows.map((r) => ({
    sourceId: r.source_id,
    type: r.type,
    provider: r.provider,
    occurredAt: r.occurred_at,
    receivedAt: r.received_at,
    campaignId: r.campaign_id,
    contactId: r.contact_id,
    isMachine: r.is_machine,
    reason: r.reason,
  }));
}
