/**
 * SQL of the campaigns service and the blast stages. Set-wise: one statement per chunk. Row sets
 * go in as parallel text arrays (`unnest($n::text[], ...)`): PostgreSQL parses an array of 1000
 * strings for less than it parses the same rows as a jsonb array of objects (claim insert measured
 * 14 → 11 µs of server CPU per row).
 * Per-row ledger updates find their rows by the row version the claim wrote (TID scan) and read
 * each row's values from one jsonb object keyed by contact id, instead of joining a row set: the
 * send ledger grows from empty during a blast, so its statistics are always stale, and plans made
 * on them turn quadratic (measured: a nested loop re-running jsonb_to_recordset per ledger row,
 * 3 s per chunk; with `contact_id = any(...)` the planner still scanned the campaign's whole key
 * range, 200 000 rows, for 1000 updates).
 */
import { namesLedgerRow } from '../core/message-id.ts';
import type { Db, Queryable } from '../store/port.ts';
import type { Campaign, CampaignDefinition, CampaignStatus, Recipient } from './types.ts';

interface CampaignRow {
  id: string; status: CampaignStatus; status_reason: string | null; definition: CampaignDefinition;
  select_after: string | null; select_seq: number; select_done: boolean; selected: number; rejected: number;
  created_at: Date; started_at: Date | null; finished_at: Date | null;
}

function toCampaign(r: CampaignRow): Campaign {
  return {
    id: r.id, status: r.status, statusReason: r.status_reason, definition: r.definition, selectDone: r.select_done,
    selected: r.selected, rejected: r.rejected, createdAt: r.created_at, startedAt: r.started_at, finishedAt: r.finished_at,
  };
}

export async function insertCampaign(db: Queryable, id: string, def: CampaignDefinition, at: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into campaigns (id, name, definition, priority, created_at, updated_at) values ($1, $2, $3, $4, $5, $5) on conflict (id) do nothing`,
    [id, def.name, JSON.stringify(def), def.priority, at]);
  return rowCount === 1;
}

export async function getCampaign(db: Queryable, id: string): Promise<(Campaign & { selectAfter: string | null; selectSeq: number }) | null> {
  const { rows: [r] } = await db.query<CampaignRow>('select * from campaigns where id = $1', [id]);
  return r === undefined ? null : { ...toCampaign(r), selectAfter: r.select_after, selectSeq: r.select_seq };
}

export async function listCampaigns(db: Queryable, limit: number): Promise<Campaign[]> {
  const { rows } = await db.query<CampaignRow>('select * from campaigns order by created_at desc, id limit $1', [limit]);
  return rows.map(toCampaign);
}

/** Moves status only from one of `from`; returns false when the campaign was elsewhere. */
export async function transition(db: Queryable, id: string, from: readonly CampaignStatus[], to: CampaignStatus, at: Date, reason: string | null = null): Promise<boolean> {
  const { rowCount } = await db.query(
    `update campaigns set status = $3, status_reason = $4, updated_at = $5,
       started_at = case when $3 = 'running' and started_at is null then $5 else started_at end,
       finished_at = case when $3 in ('completed', 'cancelled', 'failed') then $5 else finished_at end
     where id = $1 and status = any($2::text[])`,
    [id, from, to, reason, at]);
  return rowCount === 1;
}

/** Moves paused → running only when the pause's reason starts with `heldBy` (whoever paused it). */
export async function releaseHold(db: Queryable, id: string, heldBy: string, reason: string, at: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `update campaigns set status = 'running', status_reason = $3, updated_at = $2
      where id = $1 and status = 'paused' and starts_with(coalesce(status_reason, ''), $4)`,
    [id, at, reason, heldBy]);
  return rowCount === 1;
}

/** Records one select step; the seq guard makes a redelivered step a no-op. */
export async function advanceSelect(db: Queryable, id: string, fromSeq: number, toSeq: number, after: string | null, done: boolean, selected: number, rejected: number, at: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `update campaigns set select_seq = $3, select_after = coalesce($4, select_after), select_done = $5,
       selected = selected + $6, rejected = rejected + $7, updated_at = $8
     where id = $1 and select_seq = $2`,
    [id, fromSeq, toSeq, after, done, selected, rejected, at]);
  return rowCount === 1;
}

export interface LedgerExclusion { contactId: string; email: string; state: 'suppressed' | 'capped' | 'cancelled' | 'failed'; reason: string | null }

/**
 * Records recipients that will not be sent (suppressed, capped, …); an existing row wins.
 * `firstTry` (the chunk's first delivery): a plain insert first, as claimForSend does.
 */
export async function insertExclusions(db: Queryable, campaignId: string, seq: number, rows: readonly LedgerExclusion[], at: Date, firstTry = false): Promise<void> {
  if (rows.length === 0) return;
  const insert = (onConflict: string) => db.query(
    `insert into send_ledger (campaign_id, contact_id, email, state, reason, chunk, updated_at)
     select $1, x.contact_id, x.email, x.state, x.reason, $2, $3
     from unnest($4::text[], $5::text[], $6::text[], $7::text[]) as x(contact_id, email, state, reason) ${onConflict}`,
    [campaignId, seq, at, rows.map((r) => r.contactId), rows.map((r) => r.email), rows.map((r) => r.state), rows.map((r) => r.reason)]);
  await plainInsertFirst(firstTry, () => insert(''), () => insert('on conflict (campaign_id, contact_id) do nothing'));
}

/**
 * A chunk's first delivery almost never meets an existing ledger row: a plain insert skips the
 * speculative insertion that ON CONFLICT costs per row (measured on the claim: 8 → 5 µs of
 * server CPU per row). Any existing row fails it as a whole (nothing is written), and `full`,
 * the ON CONFLICT form, decides. Not inside a transaction: the failed statement would abort it.
 */
async function plainInsertFirst<T>(firstTry: boolean, plain: () => Promise<T>, full: () => Promise<T>): Promise<T> {
  if (firstTry) {
    try {
      return await plain();
    } catch (err) {
      if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err;
    }
  }
  return full();
}

/** Marks a chunk prepared (past comply/enrich/schedule) and how many parts it was split into. */
export async function markChunkPrepared(db: Queryable, campaignId: string, seq: number, recipients: number, parts: number): Promise<void> {
  await db.query(`insert into campaign_chunks (campaign_id, seq, recipients, parts) values ($1, $2, $3, $4) on conflict do nothing`, [campaignId, seq, recipients, parts]);
}

export async function markPartDone(db: Queryable, campaignId: string, seq: number, part: number): Promise<void> {
  await db.query(`insert into campaign_chunk_parts (campaign_id, seq, part) values ($1, $2, $3) on conflict do nothing`, [campaignId, seq, part]);
}

/** Contacts that were sent to at least `max` times since `since` (frequency cap). */
export async function overCap(db: Queryable, contactIds: readonly string[], since: Date, max: number): Promise<Set<string>> {
  const { rows } = await db.query<{ contact_id: string }>(
    // uses send_ledger_contact_sent (partial index on sent rows)
    `select contact_id from send_ledger where contact_id = any($1::text[]) and sent_at > $2
     group by contact_id having count(*) >= $3`, [contactIds, since, max]);
  return new Set(rows.map((r) => r.contact_id));
}

/**
 * The send claim, one statement per chunk: inserts the row as `rendered` (claimed, not yet
 * committed to the provider) and returns its claim number (`attempts`). A row that exists
 * already (sent, excluded, or claimed by a duplicate of this contact elsewhere) is not returned,
 * so it is not sent — unless it is `retry`, or `rendered` by a claim older than `staleBefore`
 * (its worker died before the commit point, so the provider never accepted it).
 * `as: 'sending'` claims and commits in the same write, for providers whose commit point is the
 * request itself (nothing happens between the two, so a second write would only cost time):
 * the row is in doubt from here until confirmSent, exactly as after commitSending.
 * `firstTry` (the chunk's first delivery) tries a plain insert first (plainInsertFirst); not
 * inside a transaction (a failed statement would abort it).
 */
export async function claimForSend(db: Queryable, campaignId: string, seq: number, claims: readonly { contactId: string; email: string; messageId: string }[], esp: string, at: Date, staleBefore: Date, as: 'rendered' | 'sending' = 'rendered', firstTry = false): Promise<Map<string, LedgerClaim>> {
  if (claims.length === 0) return new Map();
  type Row = { contact_id: string; attempts: number; row: string };
  const rowsIn = (first: number): string => `
    insert into send_ledger as l (campaign_id, contact_id, email, state, chunk, message_id, esp, attempts, sent_at, updated_at)
    select $1, x.contact_id, x.email, $${first + 1}, $2, x.message_id, $3, 1, case when $${first + 1} = 'sending' then $4::timestamptz end, $4
    from unnest($${first}::text[], $${first + 2}::text[], $${first + 3}::text[]) as x(contact_id, email, message_id)`;
  const columns = [claims.map((c) => c.contactId), as, claims.map((c) => c.email),
    // a Message-ID that names its row is not stored: nothing needs to find the row by it (and
    // the ledger's message_id index, random keys, stays out of the blast's writes)
    claims.map((c) => namesLedgerRow(c.messageId) ? null : c.messageId)];
  const returning = 'returning l.contact_id, l.attempts, l.ctid::text as row';
  const { rows } = await plainInsertFirst(firstTry,
    () => db.query<Row>(`${rowsIn(5)} ${returning}`, [campaignId, seq, esp, at, ...columns]),
    () => db.query<Row>(`${rowsIn(6)}
      on conflict (campaign_id, contact_id) do update
        set state = excluded.state, sent_at = excluded.sent_at, attempts = l.attempts + 1, esp = excluded.esp, updated_at = excluded.updated_at
        where l.state = 'retry' or (l.state = 'rendered' and l.updated_at <= $5)
      ${returning}`, [campaignId, seq, esp, at, staleBefore, ...columns]));
  return new Map(rows.map((r) => [r.contact_id, { attempt: r.attempts, row: r.row }]));
}

/** SQLSTATE of a unique constraint violation. */
const UNIQUE_VIOLATION = '23505';

/** A claim this worker holds: the claim number and where the row version it wrote lives. */
export interface LedgerClaim { attempt: number; row: string }

type ClaimUpdate = { contactId: string } & LedgerClaim;

/** Up to this many rows, a claim update is one statement (see updateClaimed). */
const SMALL_UPDATE = 64;

/** In updateClaimed's statements: this row's values (`[attempt, ...values(claim)]`). `$3` is read
 *  through an InitPlan, so the jsonb is parsed once per statement, not once per row. */
const ROW_VALUES = '((select $3::jsonb) -> l.contact_id)';

/**
 * Updates this worker's own claimed rows in one statement: found by the physical row version the
 * claim (or the last update) wrote (`ctid = any(...)`: a TID scan, whatever the statistics say),
 * guarded by campaign, state and claim number; each row's values come from one jsonb object keyed
 * by contact id. A row whose version moved since (marked in doubt by a redelivered chunk, say) is
 * looked up again by its key in a second statement. Returns each updated contact's new row, or
 * with `newVersions: false` (the claim's last step: nobody updates it by version again) nothing: no row
 * is returned, and only when fewer rows than claims were updated are all of them looked up again
 * by key (the guards skip the ones already done).
 */
async function updateClaimed<C extends ClaimUpdate>(db: Db, campaignId: string, claims: readonly C[], set: string, states: readonly string[], values: (c: C) => unknown[], params: readonly unknown[], rowGuard = 'true', newVersions = true): Promise<Map<string, string>> {
  // the object's text built directly: Object.fromEntries of 1000 distinct keys walks V8 through
  // as many hidden-class transitions before it gives up on them (visible in the send worker's profile)
  const byContact = `{${claims.map((c) => `${JSON.stringify(c.contactId)}:${JSON.stringify([c.attempt, ...values(c)])}`).join(',')}}`;
  const sql = (where: string, campaign: string): string => `update send_ledger l set ${set}
    where ${where} and ${campaign} and l.state = any($2::text[]) and ${rowGuard} and l.attempts = (${ROW_VALUES} ->> 0)::int
    ${newVersions ? 'returning l.contact_id, l.ctid::text as row' : ''}`;
  type Row = { contact_id: string; row: string };
  const byRow = [campaignId, states, byContact, claims.map((c) => c.row), ...params];
  // A few rows (SMTP's per-message group commits): one statement whose campaign guard no index
  // can serve (`|| ''`), so a TID scan is the only cheap plan for a handful of TIDs. A whole
  // chunk: the planner could prefer a sequential scan to 1000 TID fetches on a mid-sized table,
  // so index and bitmap scans are switched off for that one statement instead (three round
  // trips more, once per chunk).
  const { rows, rowCount } = claims.length <= SMALL_UPDATE
    ? await db.query<Row>(sql('l.ctid = any($4::tid[])', `l.campaign_id || '' = $1`), byRow)
    : await db.transaction(async (tx) => {
      await tx.exec('set local enable_indexscan = off; set local enable_bitmapscan = off');
      return tx.query<Row>(sql('l.ctid = any($4::tid[])', 'l.campaign_id = $1'), byRow);
    });
  if (!newVersions) {
    if (rowCount < claims.length) {
      await db.query(sql('l.contact_id = any($4::text[])', 'l.campaign_id = $1'), [campaignId, states, byContact, claims.map((c) => c.contactId), ...params]);
    }
    return new Map();
  }
  const updated = new Map(rows.map((r) => [r.contact_id, r.row]));
  const moved = claims.filter((c) => !updated.has(c.contactId)).map((c) => c.contactId);
  if (moved.length > 0) {
    const again = await db.query<Row>(sql('l.contact_id = any($4::text[])', 'l.campaign_id = $1'), [campaignId, states, byContact, moved, ...params]);
    for (const r of again.rows) updated.set(r.contact_id, r.row);
  }
  return updated;
}

/**
 * The commit point: rendered → sending for rows still held by these claims (a claim taken over
 * by another worker is not returned). `sending` is in doubt until confirmSent: a worker that dies
 * between this and the provider's answer leaves rows that markInDoubt turns into `unknown`.
 * Returns the committed rows' new versions (for confirmSent).
 */
export async function commitSending(db: Db, campaignId: string, claims: readonly ClaimUpdate[], at: Date): Promise<Map<string, string>> {
  if (claims.length === 0) return new Map();
  return updateClaimed(db, campaignId, claims, `state = 'sending', sent_at = $5, updated_at = $5`, ['rendered'], () => [], [at]);
}

/** The provider accepted these: sending → sent (also unknown → sent, when a worker whose rows
 *  were presumed dead was only slow). */
export async function confirmSent(db: Db, campaignId: string, claims: readonly (ClaimUpdate & { espMessageId?: string })[], at: Date): Promise<void> {
  if (claims.length === 0) return;
  // the claim's last step: no row versions needed back
  await updateClaimed(db, campaignId, claims, `state = 'sent', esp_message_id = ${ROW_VALUES} ->> 1, updated_at = $5`,
    ['sending', 'unknown'], (c) => [c.espMessageId ?? null], [at], 'true', false);
}

/** One step of a claim during an SMTP hand-off: committed (rendered → sending) or confirmed (→ sent). */
export type ClaimStep = ClaimUpdate & ({ to: 'sending' } | { to: 'sent'; espMessageId?: string });

/**
 * commitSending and confirmSent of different messages in one statement (SMTP's group commits:
 * while one message reaches its commit point another is being accepted, and both are waiting on
 * the same round trip). Each row's step is in its values; a commit still requires `rendered`, a
 * confirmation `sending` or `unknown`. Returns the new row versions of the rows it updated.
 */
export async function advanceClaims(db: Db, campaignId: string, steps: readonly ClaimStep[], at: Date): Promise<Map<string, string>> {
  if (steps.length === 0) return new Map();
  const to = `(${ROW_VALUES} ->> 1)`;
  return updateClaimed(db, campaignId, steps,
    `state = ${to}, sent_at = case when ${to} = 'sending' then $5 else l.sent_at end,
     esp_message_id = case when ${to} = 'sent' then ${ROW_VALUES} ->> 2 else l.esp_message_id end, updated_at = $5`,
    ['rendered', 'sending', 'unknown'], (c) => [c.to, c.to === 'sent' ? c.espMessageId ?? null : null], [at],
    `(l.state = 'rendered') = (${to} = 'sending')`);
}

/**
 * Rows of a redelivered chunk still `sending` were committed by a worker that died before the
 * provider answered: whether the provider has them is unknowable (SMTP has no look-up), so they
 * become `unknown` — reported, never resent automatically (a resend could be a duplicate).
 */
export async function markInDoubt(db: Queryable, campaignId: string, contactIds: readonly string[], at: Date): Promise<number> {
  const { rowCount } = await db.query(
    `update send_ledger set state = 'unknown', reason = 'worker died between commit and the provider''s answer', updated_at = $3
     where campaign_id = $1 and contact_id = any($2::text[]) and state = 'sending'`,
    [campaignId, contactIds, at]);
  return rowCount;
}

/** Records failed hand-offs of our claims: rendered, or sending when the provider refused after the commit point. */
export async function recordSendFailures(db: Db, campaignId: string, failures: readonly (ClaimUpdate & { state: 'failed' | 'retry'; error: string })[], at: Date): Promise<void> {
  if (failures.length === 0) return;
  await updateClaimed(db, campaignId, failures,
    `state = ${ROW_VALUES} ->> 1, last_error = ${ROW_VALUES} ->> 2, sent_at = null, updated_at = $5`,
    ['rendered', 'sending'], (f) => [f.state, f.error], [at]);
}

export async function ledgerCounts(db: Queryable, campaignId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ state: string; n: number }>(
    'select state, count(*)::int as n from send_ledger where campaign_id = $1 group by state', [campaignId]);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

export async function ledgerReasons(db: Queryable, campaignId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ reason: string; n: number }>(
    `select reason, count(*)::int as n from send_ledger where campaign_id = $1 and reason is not null group by reason order by n desc limit 20`, [campaignId]);
  return Object.fromEntries(rows.map((r) => [r.reason, r.n]));
}

/**
 * Completed when selection is done, every chunk was prepared and every part of it handled, and no
 * ledger row is still on its way. Called after every chunk part: the chunk counts are checked
 * first, so the ledger is only read (by its primary key range) once they add up.
 */
export async function completeIfDone(db: Queryable, campaignId: string, at: Date): Promise<boolean> {
  const { rows: [progress] } = await db.query<{ ready: boolean }>(
    `select c.select_done
       and (select count(*) from campaign_chunks k where k.campaign_id = c.id) = c.select_seq
       and (select coalesce(sum(parts), 0) from campaign_chunks k where k.campaign_id = c.id)
         = (select count(*) from campaign_chunk_parts p where p.campaign_id = c.id) as ready
     from campaigns c where c.id = $1 and c.status = 'running'`, [campaignId]);
  if (progress?.ready !== true) return false;
  const { rowCount } = await db.query(
    `update campaigns c set status = 'completed', finished_at = $2, updated_at = $2
     where c.id = $1 and c.status = 'running'
       and not exists (select 1 from send_ledger l where l.campaign_id = c.id and l.state in ('rendered', 'retry', 'sending'))`,
    [campaignId, at]);
  return rowCount === 1;
}

/** Recipients selected but not yet in the ledger (waiting in a stage or staged for later). */
export async function waitingCount(db: Queryable, campaignId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select greatest(0, c.selected - (select count(*) from send_ledger l where l.campaign_id = c.id))::int as n from campaigns c where c.id = $1`, [campaignId]);
  return rows[0]?.n ?? 0;
}

export function recipientsById(recipients: readonly Recipient[]): Map<string, Recipient> {
  return new Map(recipients.map((r) => [r.id, r]));
}

// Rows that became a message (message_id set at claim; exclusion rows have none). The pairs use the
// primary key; the legacy ids use the partial index send_ledger_message.
const SENT_MESSAGES = `
  select l.campaign_id, l.contact_id, l.email, l.message_id from send_ledger l
  join unnest($1::text[], $2::text[]) as x(campaign_id, contact_id) on l.campaign_id = x.campaign_id and l.contact_id = x.contact_id
  where l.message_id is not null
  union
  select campaign_id, contact_id, email, message_id from send_ledger where message_id = any($3::text[])`;

/** The sent messages among these ledger keys and legacy Message-IDs (inbound report checks). */
export async function findSentMessages(db: Queryable, keys: readonly { campaignId: string; contactId: string }[], messageIds: readonly string[]): Promise<{ campaignId: string; contactId: string; email: string; messageId: string | null }[]> {
  if (keys.length === 0 && messageIds.length === 0) return [];
  const { rows } = await db.query<{ campaign_id: string; contact_id: string; email: string; message_id: string | null }>(SENT_MESSAGES,
    [keys.map((k) => k.campaignId), keys.map((k) => k.contactId), [...messageIds]]);
  return rows.map((r) => ({ campaignId: r.campaign_id, contactId: r.contact_id, email: r.email, messageId: r.message_id }));
}
