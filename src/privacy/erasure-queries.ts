/**
 * The statements that remove a subject's plain-text traces from the places that keep addresses
 * unsealed (suppression and propagation records, engagement events, inbound review items, sandbox
 * events) and from message payloads (bus log, outbox, staged chunks, dead letters). Private to
 * src/privacy/. Each takes the normalised address (and a regex of it and the names), never builds
 * SQL from values. Payload scans read whole tables: erasure is rare and may be slow, sending may not.
 */
import type { Queryable } from '../store/port.ts';

export interface ErasureTargets {
  /** Normalised address. */
  email: string;
  /** What replaces it: the subject's erased marker (`pii1:<subject>`), so rows stay countable. */
  marker: string;
  /** Prefix every sealed value of the subject starts with (finds its ledger rows). */
  sealedPrefix: string;
  /** Case-insensitive POSIX regex matching the address and each known name (escaped by the caller). */
  pattern: string;
}

// contacts known to be this person: their ledger rows (sealed, found by subject prefix), events,
// suppressions and profiles
const CONTACTS = `
  select contact_id from send_ledger where starts_with(email, $2) or lower(email) = $1
  union select contact_id from engagement_events where lower(email) = $1 and contact_id is not null
  union select contact_id from suppressions where email = $1 and contact_id is not null
  union select contact_id from contact_profiles where lower(email) = $1`;

type Param = 'email' | 'marker' | 'contactIds' | 'pattern';

// each statement's parameters in order: PostgreSQL refuses parameters a statement does not use
const STATEMENTS: readonly { sql: string; params: readonly Param[] }[] = [
  // review items quote the person's own words: the excerpt goes, the decision record stays
  {
    sql: `update review_items set excerpt = '[erased]' where contact_id = any($2::text[])
      or source_id in (select source_id from engagement_events where lower(email) = $1)`,
    params: ['email', 'contactIds'],
  },
  {
    sql: `update engagement_events set email = $2, raw = null,
        reason = case when reason ~* $4 then '[erased]' else reason end,
        url = case when url ~* $4 then null else url end
      where lower(email) = $1 or contact_id = any($3::text[])`,
    params: ['email', 'marker', 'contactIds', 'pattern'],
  },
  { sql: 'update send_ledger set email = $2 where lower(email) = $1', params: ['email', 'marker'] },
  {
    sql: `update send_ledger set last_error = '[erased]' where contact_id = any($1::text[]) and last_error ~* $2`,
    params: ['contactIds', 'pattern'],
  },
  // the suppression itself survives as the fingerprint (suppression_fingerprints); the address goes
  { sql: 'delete from suppressions where email = $1', params: ['email'] },
  {
    sql: 'update suppression_propagations set email = $2, last_error = null where email = $1',
    params: ['email', 'marker'],
  },
  { sql: 'update suppression_export set email = $2 where email = $1', params: ['email', 'marker'] },
  { sql: 'update compliance_suppression_log set email = $2 where email = $1', params: ['email', 'marker'] },
  { sql: 'delete from sandbox_events where lower(email) = $1', params: ['email'] },
  {
    sql: `update crm_profiles set fields = '{}'::jsonb where contact_id = any($1::text[])`,
    params: ['contactIds'],
  },
  // Switchyard's own copies of the contact (profile, journey entry snapshot, a billing event's address)
  {
    sql: `update contact_profiles set email = null, attributes = '{}'::jsonb, attribute_versions = '{}'::jsonb
      where lower(email) = $1 or contact_id = any($2::text[])`,
    params: ['email', 'contactIds'],
  },
  { sql: `update journey_runs set contact = '{}'::jsonb where contact_id = any($1::text[])`, params: ['contactIds'] },
  { sql: 'update billing_conversions set email = null where email = $1', params: ['email'] },
  // payloads: the address and names inside JSON text are replaced where they occur; ids and keys
  // that embed the address (`suppressed:<address>:<ms>`) take the marker, so they stay unique
  {
    sql: `update bus_messages set payload = regexp_replace(payload, $1, '[erased]', 'gi'),
        msg_id = regexp_replace(msg_id, $1, $2, 'gi'), msg_key = regexp_replace(msg_key, $1, $2, 'gi')
      where payload ~* $1 or msg_id ~* $1 or msg_key ~* $1`,
    params: ['pattern', 'marker'],
  },
  {
    sql: `update bus_outbox set payload = regexp_replace(payload, $1, '[erased]', 'gi'),
        msg_id = regexp_replace(msg_id, $1, $2, 'gi'), msg_key = regexp_replace(msg_key, $1, $2, 'gi')
      where payload ~* $1 or msg_id ~* $1 or msg_key ~* $1`,
    params: ['pattern', 'marker'],
  },
  {
    sql: `update staged_chunks set payload = regexp_replace(payload::text, $1, '[erased]', 'gi')::jsonb
      where payload::text ~* $1`,
    params: ['pattern'],
  },
  {
    sql: `update dead_letters set payload = regexp_replace(payload::text, $1, '[erased]', 'gi')::jsonb,
        message = regexp_replace(message, $1, '[erased]', 'gi'),
        msg_id = regexp_replace(msg_id, $1, $2, 'gi'), msg_key = regexp_replace(msg_key, $1, $2, 'gi')
      where payload::text ~* $1 or message ~* $1 or msg_id ~* $1 or msg_key ~* $1`,
    params: ['pattern', 'marker'],
  },
];

/** The suppression reason the address had before erasure (kept on the fingerprint), if any. */
export async function suppressionReasonOf(db: Queryable, email: string): Promise<string | undefined> {
  const { rows } = await db.query<{ reason: string }>('select reason from suppressions where email = $1', [email]);
  return rows[0]?.reason;
}

/** Runs every statement; returns how many rows each place changed (the step's evidence). */
export async function scrubPlainText(db: Queryable, t: ErasureTargets): Promise<Record<string, number>> {
  const { rows } = await db.query<{ contact_id: string }>(CONTACTS, [t.email, t.sealedPrefix]);
  const contactIds = rows.map((r) => r.contact_id);
  const changed: Record<string, number> = {};
  for (const { sql, params } of STATEMENTS) {
    const table = /(?:update|from)\s+(\w+)/.exec(sql)![1]!;
    const values = { email: t.email, marker: t.marker, contactIds, pattern: t.pattern };
    const { rowCount } = await db.query(
      sql,
      params.map((p) => values[p]),
    );
    changed[table] = (changed[table] ?? 0) + rowCount;
  }
  return changed;
}
