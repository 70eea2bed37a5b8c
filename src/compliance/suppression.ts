/**
 * The suppression list and consent states: who must not be mailed. Checked set-wise (one query
 * per chunk) at selection and again right before each ESP call. Adding is idempotent: the first
 * reason recorded for an address stays (an unsubscribe is not overwritten by a later bounce).
 */
import type { Queryable } from '../store/port.ts';
import type { ConsentStatus } from '../core/eligibility.ts';

export const SUPPRESSION_REASONS = [
  'unsubscribed',
  'complained',
  'bounced_hard',
  'bounced_soft',
  'manual',
  'erased',
] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

export interface SuppressionEntry {
  email: string;
  reason: SuppressionReason;
  source: string;
  contactId?: string;
  campaignId?: string;
}

export interface Suppression extends SuppressionEntry {
  createdAt: Date;
}

/** Lower-cases the whole address: suppression matches case-insensitively. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

const CHECK = `select email, reason from suppressions where email = any($1::text[])`;

// erased people survive only as fingerprints (blind indexes): one round trip checks both lists.
// The fingerprints (16 bytes each) arrive as one binary parameter, cut in SQL: a bytea array
// parameter travels as text, a hex string per recipient.
const CHECK_WITH_FINGERPRINTS = `
  select s.email, s.reason, null::int4 as i from suppressions s where s.email = any($1::text[])
  union all
  select null, f.reason, x.i::int4 from suppression_fingerprints f
  join (select substring($2::bytea from 16 * (n - 1) + 1 for 16) as fp, n as i
    from generate_series(1, length($2::bytea) / 16) as n) x on f.fingerprint = x.fp`;

/**
 * email (normalised) → reason, for the suppressed ones among `emails`. With `fingerprintOf` (the
 * privacy module's blind index, or the chunk's blind indexes packed 16 bytes each in the order of
 * `emails`), an address whose fingerprint is suppressed (an erased person) counts too, in the same query.
 */
export async function findSuppressed(
  db: Queryable,
  emails: readonly string[],
  fingerprintOf?: ((email: string) => Buffer) | Buffer,
): Promise<Map<string, string>> {
  if (emails.length === 0) return new Map();
  const normalized = emails.map(normalizeEmail);
  if (fingerprintOf === undefined) {
    const { rows } = await db.query<{ email: string; reason: string }>(CHECK, [normalized]);
    return new Map(rows.map((r) => [r.email, r.reason]));
  }
  let packed: Buffer;
  if (Buffer.isBuffer(fingerprintOf)) packed = fingerprintOf;
  else {
    const fingerprints = normalized.map(fingerprintOf);
    if (fingerprints.some((f) => f.length !== 16)) throw new RangeError('a suppression fingerprint is 16 bytes');
    packed = Buffer.concat(fingerprints, 16 * fingerprints.length);
  }
  if (packed.length !== 16 * normalized.length) throw new RangeError('a suppression fingerprint is 16 bytes');
  const { rows } = await db.query<{ email: string | null; reason: string; i: number | null }>(CHECK_WITH_FINGERPRINTS, [
    normalized,
    packed,
  ]);
  const out = new Map<string, string>();
  for (const r of rows) {
    const email = r.email ?? normalized[r.i! - 1]!;
    if (!out.has(email)) out.set(email, r.reason);
  }
  return out;
}

const ADD = `
  insert into suppressions (email, reason, source, contact_id, campaign_id, created_at)
  select x.email, x.reason, x.source, x.contact_id, x.campaign_id, $2
  from jsonb_to_recordset($1::jsonb) as x(email text, reason text, source text, contact_id text, campaign_id text)
  on conflict (email) do nothing
  returning email`;

/** Adds entries; returns the addresses that were not suppressed before. */
export async function addSuppressions(
  db: Queryable,
  entries: readonly SuppressionEntry[],
  at: Date,
): Promise<string[]> {
  if (entries.length === 0) return [];
  const input = entries.map((e) => ({
    email: normalizeEmail(e.email),
    reason: e.reason,
    source: e.source,
    contact_id: e.contactId ?? null,
    campaign_id: e.campaignId ?? null,
  }));
  const { rows } = await db.query<{ email: string }>(ADD, [JSON.stringify(input), at]);
  return rows.map((r) => r.email);
}

const GET = `select email, reason, source, contact_id, campaign_id, created_at from suppressions where email = $1`;

export async function getSuppression(db: Queryable, email: string): Promise<Suppression | null> {
  const {
    rows: [r],
  } = await db.query<{
    email: string;
    reason: SuppressionReason;
    source: string;
    contact_id: string | null;
    campaign_id: string | null;
    created_at: Date;
  }>(GET, [normalizeEmail(email)]);
  if (r === undefined) return null;
  return {
    email: r.email,
    reason: r.reason,
    source: r.source,
    contactId: r.contact_id ?? undefined,
    campaignId: r.campaign_id ?? undefined,
    createdAt: r.created_at,
  };
}

export async function removeSuppression(db: Queryable, email: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from suppressions where email = $1', [normalizeEmail(email)]);
  return rowCount > 0;
}

const CONSENTS = `select contact_id, status, basis from consents where contact_id = any($1::text[])`;

export interface ConsentState {
  status: ConsentStatus;
  /** The lawful basis recorded with it (law.md §10), if any: the geographic rules accept some bases only. */
  basis: string | undefined;
}

export async function findConsents(db: Queryable, contactIds: readonly string[]): Promise<Map<string, ConsentState>> {
  if (contactIds.length === 0) return new Map();
  const { rows } = await db.query<{ contact_id: string; status: ConsentStatus; basis: string | null }>(CONSENTS, [
    contactIds,
  ]);
  return new Map(rows.map((r) => [r.contact_id, { status: r.status, basis: r.basis ?? undefined }]));
}

const SET_CONSENT = `
  insert into consents (contact_id, status, basis, source, updated_at) values ($1, $2, $3, $4, $5)
  on conflict (contact_id) do update set status = excluded.status, basis = excluded.basis, source = excluded.source,
    updated_at = excluded.updated_at
  where consents.updated_at <= excluded.updated_at`;

export async function setConsent(
  db: Queryable,
  c: { contactId: string; status: ConsentStatus; basis?: string; source: string; at: Date },
): Promise<void> {
  await db.query(SET_CONSENT, [c.contactId, c.status, c.basis ?? null, c.source, c.at]);
}
