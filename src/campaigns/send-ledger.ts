/**
 * The send ledger (`send_ledger`, one row per campaign × contact): the blast's idempotency record.
 * This module owns every statement that writes a row's send state, one fixed statement per state
 * change, and the reads of it. A recipient is sent only under a claim (the row's claim number
 * `attempts`, taken by `claim`); every later write of a claim is fenced by that number, so a claim
 * taken over by someone else can no longer be committed, confirmed or failed by its old holder.
 * Private to the campaigns service: other services go through its interface.
 *
 * Row sets go in as parallel text arrays (`unnest($n::text[], ...)`), which PostgreSQL parses for
 * less than a jsonb array of objects. Updates of a claim find their rows by the row version the
 * claim (or its last update) wrote (`ctid = any(...)`, a TID scan whatever the statistics say: the
 * ledger grows from empty during a blast, so plans made on its statistics go wrong) and read each
 * row's values from one jsonb object keyed by contact id. A row whose version moved meanwhile is
 * looked up again by key with the same statement's `_BY_KEY` twin.
 */
import { namesLedgerRow } from '../core/message-id.ts';
import type { Db, Queryable } from '../store/port.ts';

/** States a row passes through on its way to a final one; a campaign is not done while any row is in one. */
export const UNSETTLED_STATES: readonly string[] = ['rendered', 'sending', 'retry'];

/** A claim this worker holds: the claim number and where the row version it wrote lives. */
export interface LedgerClaim {
  attempt: number;
  row: string;
}
export type HeldClaim = { contactId: string } & LedgerClaim;

export interface LedgerExclusion {
  contactId: string;
  email: string;
  state: 'suppressed' | 'capped' | 'cancelled' | 'failed';
  reason: string | null;
}

/** SQLSTATE of a unique constraint violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * A chunk's first delivery almost never meets an existing ledger row: a plain insert skips the
 * speculative insertion that ON CONFLICT costs per row. Any existing row fails it as a whole
 * (nothing is written), and `full`, the ON CONFLICT form, decides. Not inside a transaction: the
 * failed statement would abort it.
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

// $1 campaign, $2 chunk, $3 time, $4..$7 contact ids, emails, states, reasons
const EXCLUDE_NEW = `
  insert into send_ledger as l (campaign_id, contact_id, email, state, reason, chunk, updated_at)
  select $1, x.contact_id, x.email, x.state, x.reason, $2, $3
  from unnest($4::text[], $5::text[], $6::text[], $7::text[]) as x(contact_id, email, state, reason)`;
const EXCLUDE_UNLESS_PRESENT = `
  insert into send_ledger as l (campaign_id, contact_id, email, state, reason, chunk, updated_at)
  select $1, x.contact_id, x.email, x.state, x.reason, $2, $3
  from unnest($4::text[], $5::text[], $6::text[], $7::text[]) as x(contact_id, email, state, reason)
  on conflict (campaign_id, contact_id) do nothing`;
// A redelivered chunk's exclusion also replaces a claim nobody committed (`rendered`, whatever its
// age, or `retry`): its old holder can no longer commit it, since the commit requires `rendered`.
const EXCLUDE_OVER_UNCOMMITTED = `
  insert into send_ledger as l (campaign_id, contact_id, email, state, reason, chunk, updated_at)
  select $1, x.contact_id, x.email, x.state, x.reason, $2, $3
  from unnest($4::text[], $5::text[], $6::text[], $7::text[]) as x(contact_id, email, state, reason)
  on conflict (campaign_id, contact_id) do update
    set state = excluded.state, reason = excluded.reason, sent_at = null, updated_at = excluded.updated_at
    where l.state in ('rendered', 'retry')`;

/**
 * Records recipients that will not be sent (suppressed, capped, …). An existing row wins, except
 * on a redelivered chunk, where an uncommitted claim (`rendered`, `retry`) is replaced. `firstTry`
 * (the chunk's first delivery) tries a plain insert first. Returns how many rows it wrote.
 */
export async function recordExclusions(
  db: Queryable,
  campaignId: string,
  seq: number,
  rows: readonly LedgerExclusion[],
  at: Date,
  how: { firstTry?: boolean; redelivered?: boolean } = {},
): Promise<number> {
  if (rows.length === 0) return 0;
  const params = [
    campaignId,
    seq,
    at,
    rows.map((r) => r.contactId),
    rows.map((r) => r.email),
    rows.map((r) => r.state),
    rows.map((r) => r.reason),
  ];
  const { rowCount } = await plainInsertFirst(
    how.firstTry === true,
    () => db.query(EXCLUDE_NEW, params),
    () => db.query(how.redelivered === true ? EXCLUDE_OVER_UNCOMMITTED : EXCLUDE_UNLESS_PRESENT, params),
  );
  return rowCount;
}

// $1 campaign, $2 chunk, $3 esp, $4 time, $5 state claimed as, $6..$8 contact ids, emails, message ids
const INSERT_CLAIMS = `
  insert into send_ledger as l (campaign_id, contact_id, email, state, chunk, message_id, esp, attempts, sent_at,
    updated_at)
  select $1, x.contact_id, x.email, $5, $2, x.message_id, $3, 1, case when $5 = 'sending' then $4::timestamptz end, $4
  from unnest($6::text[], $7::text[], $8::text[]) as x(contact_id, email, message_id)`;
const TAKE_OVER = `
  on conflict (campaign_id, contact_id) do update
    set state = excluded.state, sent_at = excluded.sent_at, attempts = l.attempts + 1, esp = excluded.esp,
      updated_at = excluded.updated_at`;
const RETURN_CLAIMS = 'returning l.contact_id, l.attempts, l.ctid::text as row';
const CLAIM_NEW = `${INSERT_CLAIMS} ${RETURN_CLAIMS}`;
// A row that exists already (sent, excluded, claimed by a duplicate of this contact elsewhere) is
// not returned, so it is not sent, unless it is `retry`, or `rendered` by a claim older than $9
// (its worker died before the commit point, so the provider never accepted it).
const CLAIM_OVER_STALE = `${INSERT_CLAIMS} ${TAKE_OVER}
    where l.state = 'retry' or (l.state = 'rendered' and l.updated_at <= $9) ${RETURN_CLAIMS}`;
// A redelivered chunk takes over every `rendered` claim, however young: its earlier delivery failed
// or lost its lease, and a store outage can leave rows `rendered` under a claim that nobody holds
// any more. Safe because the commit is fenced by the claim number this increments: an old holder
// that is only slow finds its commit refused and withholds the message.
const CLAIM_OVER_UNCOMMITTED = `${INSERT_CLAIMS} ${TAKE_OVER}
    where l.state in ('retry', 'rendered') ${RETURN_CLAIMS}`;

export interface ClaimOptions {
  /** `sending` claims and commits in one write, for providers whose commit point is the request
   *  itself; the row is then in doubt until `confirm`. */
  as: 'rendered' | 'sending';
  /** The chunk's first delivery: a plain insert first (not inside a transaction). */
  firstTry: boolean;
  /** A later delivery of the chunk: takes over `rendered` claims of any age. */
  redelivered: boolean;
  /** Otherwise a `rendered` claim last written before this is taken over (its worker died). */
  staleBefore: Date;
}

/** The send claim, one statement per chunk; returns the claims this call took, by contact. */
export async function claim(
  db: Queryable,
  campaignId: string,
  seq: number,
  recipients: readonly { contactId: string; email: string; messageId: string }[],
  esp: string,
  at: Date,
  o: ClaimOptions,
): Promise<Map<string, LedgerClaim>> {
  if (recipients.length === 0) return new Map();
  type Row = { contact_id: string; attempts: number; row: string };
  const params = [
    campaignId,
    seq,
    esp,
    at,
    o.as,
    recipients.map((c) => c.contactId),
    recipients.map((c) => c.email),
    // a Message-ID that names its row is not stored: nothing needs to find the row by it (and
    // the ledger's message_id index, random keys, stays out of the blast's writes)
    recipients.map((c) => (namesLedgerRow(c.messageId) ? null : c.messageId)),
  ];
  const { rows } = await plainInsertFirst(
    o.firstTry,
    () => db.query<Row>(CLAIM_NEW, params),
    () =>
      o.redelivered
        ? db.query<Row>(CLAIM_OVER_UNCOMMITTED, params)
        : db.query<Row>(CLAIM_OVER_STALE, [...params, o.staleBefore]),
  );
  return new Map(rows.map((r) => [r.contact_id, { attempt: r.attempts, row: r.row }]));
}

// The updates of a claim. Parameters: $1 campaign, $2 the jsonb object {contactId: [claim number,
// ...values]} (read through an InitPlan, `(select $2::jsonb)`, so it is parsed once per statement,
// not once per row), $3 row versions (tid[]) or, in the _BY_KEY twin, contact ids, $4 time.
// The campaign guard `campaign_id || ''` is one no index serves, so for a handful of rows the TID
// scan is the only cheap plan; a whole chunk also runs with index scans off (updateHeld).

// SMTP's group commit: commits (rendered → sending, at the provider's commit point) and
// confirmations (sending | unknown → sent) of different messages in one statement; each row's
// step is its value 1, a commit still requires `rendered` and a confirmation does not accept it.
const COMMIT_OR_CONFIRM = `
  update send_ledger l
     set state = ((select $2::jsonb) -> l.contact_id) ->> 1,
         sent_at = case when ((select $2::jsonb) -> l.contact_id) ->> 1 = 'sending' then $4 else l.sent_at end,
         esp_message_id = case when ((select $2::jsonb) -> l.contact_id) ->> 1 = 'sent'
           then ((select $2::jsonb) -> l.contact_id) ->> 2 else l.esp_message_id end,
         updated_at = $4
   where l.ctid = any($3::tid[]) and l.campaign_id || '' = $1
     and l.state in ('rendered', 'sending', 'unknown')
     and (l.state = 'rendered') = (((select $2::jsonb) -> l.contact_id) ->> 1 = 'sending')
     and l.attempts = (((select $2::jsonb) -> l.contact_id) ->> 0)::int
  returning l.contact_id, l.ctid::text as row`;
const COMMIT_OR_CONFIRM_BY_KEY = `
  update send_ledger l
     set state = ((select $2::jsonb) -> l.contact_id) ->> 1,
         sent_at = case when ((select $2::jsonb) -> l.contact_id) ->> 1 = 'sending' then $4 else l.sent_at end,
         esp_message_id = case when ((select $2::jsonb) -> l.contact_id) ->> 1 = 'sent'
           then ((select $2::jsonb) -> l.contact_id) ->> 2 else l.esp_message_id end,
         updated_at = $4
   where l.contact_id = any($3::text[]) and l.campaign_id = $1
     and l.state in ('rendered', 'sending', 'unknown')
     and (l.state = 'rendered') = (((select $2::jsonb) -> l.contact_id) ->> 1 = 'sending')
     and l.attempts = (((select $2::jsonb) -> l.contact_id) ->> 0)::int
  returning l.contact_id, l.ctid::text as row`;

// The provider accepted: sending → sent, also unknown → sent (a worker presumed dead was only
// slow). The claim's last step, so no row versions come back.
const CONFIRM = `
  update send_ledger l
     set state = 'sent', esp_message_id = ((select $2::jsonb) -> l.contact_id) ->> 1, updated_at = $4
   where l.ctid = any($3::tid[]) and l.campaign_id || '' = $1
     and l.state in ('sending', 'unknown')
     and l.attempts = (((select $2::jsonb) -> l.contact_id) ->> 0)::int`;
const CONFIRM_BY_KEY = `
  update send_ledger l
     set state = 'sent', esp_message_id = ((select $2::jsonb) -> l.contact_id) ->> 1, updated_at = $4
   where l.contact_id = any($3::text[]) and l.campaign_id = $1
     and l.state in ('sending', 'unknown')
     and l.attempts = (((select $2::jsonb) -> l.contact_id) ->> 0)::int`;

// The hand-off failed: → failed or retry (value 1) with the error (value 2), from `rendered`, from
// `sending` (refused after the commit point), or from `unknown` (a slow worker's answer arrived
// after a redelivery put its row in doubt: the refusal settles the doubt).
const RECORD_FAILURE = `
  update send_ledger l
     set state = ((select $2::jsonb) -> l.contact_id) ->> 1, last_error = ((select $2::jsonb) -> l.contact_id) ->> 2,
         sent_at = null, updated_at = $4
   where l.ctid = any($3::tid[]) and l.campaign_id || '' = $1
     and l.state in ('rendered', 'sending', 'unknown')
     and l.attempts = (((select $2::jsonb) -> l.contact_id) ->> 0)::int`;
const RECORD_FAILURE_BY_KEY = `
  update send_ledger l
     set state = ((select $2::jsonb) -> l.contact_id) ->> 1, last_error = ((select $2::jsonb) -> l.contact_id) ->> 2,
         sent_at = null, updated_at = $4
   where l.contact_id = any($3::text[]) and l.campaign_id = $1
     and l.state in ('rendered', 'sending', 'unknown')
     and l.attempts = (((select $2::jsonb) -> l.contact_id) ->> 0)::int`;

/** Up to this many rows an update of held claims is one statement; beyond, it runs with index scans off. */
const SMALL_UPDATE = 64;

/** The jsonb object of an update's values: `{contactId: [claim number, ...values]}`. */
function valuesByContact<C extends HeldClaim>(claims: readonly C[], values: (c: C) => unknown[]): string {
  // the text built directly: Object.fromEntries of 1000 distinct keys walks V8 through as many
  // hidden-class transitions before it gives up on them
  const entries = claims.map((c) => `${JSON.stringify(c.contactId)}:${JSON.stringify([c.attempt, ...values(c)])}`);
  return `{${entries.join(',')}}`;
}

/** Runs `byVersion` over the claims' row versions: alone for a few rows; for a whole chunk with
 *  index and bitmap scans off for that one statement, so no plan on stale statistics replaces the TID scan. */
function updateHeld<R>(
  db: Db,
  byVersion: string,
  campaignId: string,
  values: string,
  rows: readonly string[],
  at: Date,
) {
  const params = [campaignId, values, rows, at];
  return rows.length <= SMALL_UPDATE
    ? db.query<R>(byVersion, params)
    : db.transaction(async (tx) => {
        await tx.exec('set local enable_indexscan = off; set local enable_bitmapscan = off');
        return tx.query<R>(byVersion, params);
      });
}

/** Updates a claim's last step (confirm, failure): no versions back; only when fewer rows than
 *  claims changed are they all looked up again by key (the guards skip the rows already done).
 *  Returns how many rows changed. */
async function finishHeld(
  db: Db,
  byVersion: string,
  byKey: string,
  campaignId: string,
  claims: readonly HeldClaim[],
  values: string,
  at: Date,
): Promise<number> {
  const { rowCount } = await updateHeld(
    db,
    byVersion,
    campaignId,
    values,
    claims.map((c) => c.row),
    at,
  );
  if (rowCount >= claims.length) return rowCount;
  const again = await db.query(byKey, [campaignId, values, claims.map((c) => c.contactId), at]);
  return rowCount + again.rowCount;
}

/** One step of a claim during an SMTP hand-off: committed (rendered → sending) or confirmed (→ sent). */
export type ClaimStep = HeldClaim & ({ to: 'sending' } | { to: 'sent'; espMessageId?: string });

/**
 * Commits and confirmations of held claims in one statement (SMTP's group commits: while one
 * message reaches its commit point another is being accepted, and both wait on the same round
 * trip). Returns the new row version of each row it changed; a step missing from it was refused
 * (a commit of a claim taken over, a confirmation of a row already settled).
 */
export async function commitOrConfirm(
  db: Db,
  campaignId: string,
  steps: readonly ClaimStep[],
  at: Date,
): Promise<Map<string, string>> {
  if (steps.length === 0) return new Map();
  type Row = { contact_id: string; row: string };
  const values = valuesByContact(steps, (s) => [s.to, s.to === 'sent' ? (s.espMessageId ?? null) : null]);
  const { rows } = await updateHeld<Row>(
    db,
    COMMIT_OR_CONFIRM,
    campaignId,
    values,
    steps.map((s) => s.row),
    at,
  );
  const updated = new Map(rows.map((r) => [r.contact_id, r.row]));
  const moved = steps.filter((s) => !updated.has(s.contactId)).map((s) => s.contactId);
  if (moved.length > 0) {
    const again = await db.query<Row>(COMMIT_OR_CONFIRM_BY_KEY, [campaignId, values, moved, at]);
    for (const r of again.rows) updated.set(r.contact_id, r.row);
  }
  return updated;
}

/** The provider accepted these (a request-commit provider's whole batch): → sent. Returns how many rows changed. */
export async function confirm(
  db: Db,
  campaignId: string,
  claims: readonly (HeldClaim & { espMessageId?: string })[],
  at: Date,
): Promise<number> {
  if (claims.length === 0) return 0;
  return finishHeld(
    db,
    CONFIRM,
    CONFIRM_BY_KEY,
    campaignId,
    claims,
    valuesByContact(claims, (c) => [c.espMessageId ?? null]),
    at,
  );
}

/** Records failed hand-offs of held claims (failed, or retry for another attempt). Returns how many rows changed. */
export async function recordFailures(
  db: Db,
  campaignId: string,
  failures: readonly (HeldClaim & { state: 'failed' | 'retry'; error: string })[],
  at: Date,
): Promise<number> {
  if (failures.length === 0) return 0;
  return finishHeld(
    db,
    RECORD_FAILURE,
    RECORD_FAILURE_BY_KEY,
    campaignId,
    failures,
    valuesByContact(failures, (f) => [f.state, f.error]),
    at,
  );
}

const MARK_IN_DOUBT = `
  update send_ledger set state = 'unknown', reason =
    'an earlier attempt committed it but its provider answer was not recorded', updated_at = $3
  where campaign_id = $1 and contact_id = any($2::text[]) and state = 'sending'`;

/**
 * Rows of a redelivered chunk still `sending` were committed by an earlier attempt whose answer
 * from the provider was never recorded (its worker died, its lease ran out, or the store failed):
 * whether the provider has them is unknowable (SMTP has no look-up), so they become `unknown`,
 * reported and never resent automatically. A slow worker's late answer still settles them.
 */
export async function markInDoubt(
  db: Queryable,
  campaignId: string,
  contactIds: readonly string[],
  at: Date,
): Promise<number> {
  const { rowCount } = await db.query(MARK_IN_DOUBT, [campaignId, contactIds, at]);
  return rowCount;
}

// A delivery report can overtake our own confirmation (rendered or sending), and a bounce or complaint
// can follow a delivery; nothing else moves a row that already has an outcome. The update is
// record_ledger_outcomes (migration 0065), planned to probe each row by its key. Outcomes come from
// reports that are delivered again until handled (bus messages), so the commit does not wait for
// its WAL flush: a crash that loses it is followed by the same report again (same final state).
// The setting is made outside the function, whose own settings end with its call.
const RECORD_OUTCOMES = `
  select record_ledger_outcomes($1::text[], $2::text[], $3::text[], $4::text[], $5) as moved
  from (select set_config('synchronous_commit', 'off', true)) as async_commit`;

/** What the provider or the receiving side reported after the hand-off. */
export interface LedgerOutcome {
  campaignId: string;
  contactId: string;
  state: 'delivered' | 'bounced' | 'deferred' | 'failed' | 'complained';
  reason: string | null;
}

/** Records reported outcomes, set-wise; a repeated batch finds its rows already moved. */
export async function recordOutcomes(db: Queryable, outcomes: readonly LedgerOutcome[], at: Date): Promise<number> {
  if (outcomes.length === 0) return 0;
  const { rows } = await db.query<{ moved: number }>(RECORD_OUTCOMES, [
    outcomes.map((o) => o.campaignId),
    outcomes.map((o) => o.contactId),
    outcomes.map((o) => o.state),
    outcomes.map((o) => o.reason),
    at,
  ]);
  return Number(rows[0]!.moved);
}

const UNSETTLED = `
  select contact_id from send_ledger where campaign_id = $1 and contact_id = any($2::text[])
    and state = any($3::text[])`;

/** Those of these contacts whose rows are not final yet (see UNSETTLED_STATES). */
export async function findUnsettled(
  db: Queryable,
  campaignId: string,
  contactIds: readonly string[],
): Promise<string[]> {
  const { rows } = await db.query<{ contact_id: string }>(UNSETTLED, [campaignId, contactIds, UNSETTLED_STATES]);
  return rows.map((r) => r.contact_id);
}

const COUNT_STATES = 'select state, count(*)::int as n from send_ledger where campaign_id = $1 group by state';

export async function countStates(db: Queryable, campaignId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ state: string; n: number }>(COUNT_STATES, [campaignId]);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

const COUNT_REASONS = `
  select reason, count(*)::int as n from send_ledger where campaign_id = $1 and reason is not null
  group by reason order by n desc limit 20`;

export async function countReasons(db: Queryable, campaignId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ reason: string; n: number }>(COUNT_REASONS, [campaignId]);
  return Object.fromEntries(rows.map((r) => [r.reason, r.n]));
}

// uses send_ledger_contact_sent (partial index on sent rows)
const OVER_CAP = `
  select contact_id from send_ledger where contact_id = any($1::text[]) and sent_at > $2
  group by contact_id having count(*) >= $3`;

/** Contacts that were sent to at least `max` times since `since` (frequency cap). */
export async function overCap(
  db: Queryable,
  contactIds: readonly string[],
  since: Date,
  max: number,
): Promise<Set<string>> {
  const { rows } = await db.query<{ contact_id: string }>(OVER_CAP, [contactIds, since, max]);
  return new Set(rows.map((r) => r.contact_id));
}

// Rows that became a message (message_id set at claim; exclusion rows have none). The pairs use the
// primary key; the legacy ids use the partial index send_ledger_message.
const SENT_MESSAGES = `
  select l.campaign_id, l.contact_id, l.email, l.message_id from send_ledger l
  join unnest($1::text[], $2::text[]) as x(campaign_id, contact_id) on l.campaign_id = x.campaign_id
    and l.contact_id = x.contact_id
  where l.message_id is not null
  union
  select campaign_id, contact_id, email, message_id from send_ledger where message_id = any($3::text[])`;

/** The sent messages among these ledger keys and legacy Message-IDs (inbound report checks). */
export async function findSentMessages(
  db: Queryable,
  keys: readonly { campaignId: string; contactId: string }[],
  messageIds: readonly string[],
): Promise<{ campaignId: string; contactId: string; email: string; messageId: string | null }[]> {
  if (keys.length === 0 && messageIds.length === 0) return [];
  const { rows } = await db.query<{
    campaign_id: string;
    contact_id: string;
    email: string;
    message_id: string | null;
  }>(SENT_MESSAGES, [keys.map((k) => k.campaignId), keys.map((k) => k.contactId), [...messageIds]]);
  return rows.map((r) => ({
    campaignId: r.campaign_id,
    contactId: r.contact_id,
    email: r.email,
    messageId: r.message_id,
  }));
}
