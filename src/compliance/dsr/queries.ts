/**
 * SQL of the data-subject-request service; private to src/compliance/dsr/. Steps are claimed with
 * a lease (a crash leaves `running` rows that the next claim takes over once the lease expired)
 * and confirmed steps are never claimed again, which is how a restart resumes a fan-out.
 */
import type { Queryable } from '../../store/port.ts';

export interface RequestRow {
  id: string;
  externalId: string | null;
  type: string;
  subjectHash: string;
  jurisdiction: string;
  channel: string;
  status: string;
  receivedAt: Date;
  dueAt: Date;
  extendedDueAt: Date | null;
  escalateAt: Date;
  deadlineRule: string;
  verifyExpiresAt: Date | null;
  verifiedAt: Date | null;
  completedAt: Date | null;
  result: string | null;
  reason: string | null;
  callbackUrl: string | null;
  joinedCount: number;
}

// biome-ignore lint/suspicious/noExplicitAny: one mapper for the table's row
function toRequest(r: any): RequestRow {
  return {
    id: r.id,
    externalId: r.external_id,
    type: r.type,
    subjectHash: r.subject_hash,
    jurisdiction: r.jurisdiction,
    channel: r.channel,
    status: r.status,
    receivedAt: r.received_at,
    dueAt: r.due_at,
    extendedDueAt: r.extended_due_at,
    escalateAt: r.escalate_at,
    deadlineRule: r.deadline_rule,
    verifyExpiresAt: r.verify_expires_at,
    verifiedAt: r.verified_at,
    completedAt: r.completed_at,
    result: r.result,
    reason: r.reason,
    callbackUrl: r.callback_url,
    joinedCount: Number(r.joined_count),
  };
}

/**
 * A new request with everything it starts with, in one statement (one round trip instead of a
 * transaction of five): the request row, its identities, one pending step per system, the
 * `received` event and, with a callback URL, its first status callback. Nothing is written when a
 * unique key exists (the external id, or an open request of the subject and type): false.
 */
const RECORD_NEW_REQUEST = `
  with req as (
    insert into dsr_requests (id, external_id, type, subject_hash, jurisdiction, channel, status, received_at,
      due_at, extended_due_at, escalate_at, deadline_rule, verify_expires_at, verified_at, callback_url)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
    on conflict do nothing
    returning id),
  subject as (
    insert into dsr_subjects (request_id, identities) select id, $16::jsonb from req),
  steps as (
    insert into dsr_steps (request_id, system, status, next_attempt_at, updated_at)
    select req.id, s, 'pending', $8, $8 from req, unnest($17::text[]) as s),
  received as (
    insert into dsr_events (request_id, at, system, event, detail)
    select id, $8, null, 'received', $18::jsonb from req),
  callback as (
    insert into dsr_callbacks (request_id, url, body, next_attempt_at)
    select id, $15, $19::jsonb, $8 from req where $15::text is not null)
  select id from req`;

export async function recordNewRequest(
  db: Queryable,
  r: RequestRow,
  x: { identities: unknown; systems: readonly string[]; received: unknown; callbackBody: unknown },
): Promise<boolean> {
  const { rows } = await db.query(RECORD_NEW_REQUEST, [
    r.id,
    r.externalId,
    r.type,
    r.subjectHash,
    r.jurisdiction,
    r.channel,
    r.status,
    r.receivedAt,
    r.dueAt,
    r.extendedDueAt,
    r.escalateAt,
    r.deadlineRule,
    r.verifyExpiresAt,
    r.verifiedAt,
    r.callbackUrl,
    JSON.stringify(x.identities),
    x.systems,
    JSON.stringify(x.received),
    JSON.stringify(x.callbackBody),
  ]);
  return rows.length === 1;
}

export async function findByExternalId(db: Queryable, externalId: string): Promise<RequestRow | null> {
  const { rows } = await db.query('select * from dsr_requests where external_id = $1', [externalId]);
  return rows[0] ? toRequest(rows[0]) : null;
}

/** The open request of this subject and type, counting the join. */
export async function joinOpen(tx: Queryable, subjectHash: string, type: string): Promise<RequestRow | null> {
  const { rows } = await tx.query(
    `update dsr_requests set joined_count = joined_count + 1
     where subject_hash = $1 and type = $2 and status in ('pending_verification', 'in_progress')
     returning *`,
    [subjectHash, type],
  );
  return rows[0] ? toRequest(rows[0]) : null;
}

export async function getRequest(db: Queryable, id: string): Promise<RequestRow | null> {
  const { rows } = await db.query('select * from dsr_requests where id = $1', [id]);
  return rows[0] ? toRequest(rows[0]) : null;
}

export async function listRequests(
  db: Queryable,
  f: { status?: string; after?: string; limit: number },
): Promise<RequestRow[]> {
  const { rows } = await db.query(
    `select * from dsr_requests where ($1::text is null or status = $1) and ($2::text is null or id > $2)
     order by id limit $3`,
    [f.status ?? null, f.after ?? null, f.limit],
  );
  return rows.map(toRequest);
}

export async function findSubject(db: Queryable, requestId: string): Promise<unknown | null> {
  const { rows } = await db.query<{ identities: unknown }>(
    'select identities from dsr_subjects where request_id = $1',
    [requestId],
  );
  return rows[0]?.identities ?? null;
}

export async function deleteSubject(db: Queryable, requestId: string): Promise<void> {
  await db.query('delete from dsr_subjects where request_id = $1', [requestId]);
}

export interface StepRow {
  requestId: string;
  system: string;
  status: string;
  attempts: number;
  nextAttemptAt: Date | null;
  evidence: Record<string, unknown> | null;
  lastError: string | null;
  updatedAt: Date;
}

// biome-ignore lint/suspicious/noExplicitAny: one mapper for the table's row
function toStep(r: any): StepRow {
  return {
    requestId: r.request_id,
    system: r.system,
    status: r.status,
    attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at,
    evidence: r.evidence,
    lastError: r.last_error,
    updatedAt: r.updated_at,
  };
}

export async function listSteps(db: Queryable, requestId: string): Promise<StepRow[]> {
  const { rows } = await db.query('select * from dsr_steps where request_id = $1 order by system', [requestId]);
  return rows.map(toStep);
}

/**
 * Claims up to `limit` due steps of running requests: pending or retry steps whose time has come,
 * and running steps whose lease expired (their worker died). Confirmed steps are never taken.
 */
const CLAIM = `
  with due as (
    select s.request_id, s.system from dsr_steps s join dsr_requests r on r.id = s.request_id
    where r.status = 'in_progress'
      and ((s.status in ('pending', 'retry') and s.next_attempt_at <= $1)
           or (s.status = 'running' and s.lease_until <= $1))
    order by s.next_attempt_at nulls first
    limit $3
    for update of s skip locked)
  update dsr_steps s set status = 'running', attempts = s.attempts + 1, lease_until = $2, updated_at = $1
  from due where s.request_id = due.request_id and s.system = due.system
  returning s.*, (select type from dsr_requests r where r.id = s.request_id) as type`;

export async function claimSteps(
  db: Queryable,
  now: Date,
  leaseUntil: Date,
  limit: number,
): Promise<(StepRow & { type: string })[]> {
  const { rows } = await db.query(CLAIM, [now, leaseUntil, limit]);
  return rows.map((r) => ({ ...toStep(r), type: (r as { type: string }).type }));
}

/** Settles claimed steps in one statement; only rows still `running` under this attempt change. */
export async function settleSteps(
  db: Queryable,
  rows: readonly {
    requestId: string;
    system: string;
    attempts: number;
    status: string;
    nextAttemptAt: Date | null;
    evidence: unknown;
    lastError: string | null;
  }[],
  at: Date,
): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `update dsr_steps s set status = x.status, next_attempt_at = x.next_attempt_at, evidence = x.evidence,
       last_error = x.last_error, lease_until = null, updated_at = $2
     from jsonb_to_recordset($1::jsonb) as x(request_id text, system text, attempts int, status text,
       next_attempt_at timestamptz, evidence jsonb, last_error text)
     where s.request_id = x.request_id and s.system = x.system and s.attempts = x.attempts and s.status = 'running'`,
    [
      JSON.stringify(
        rows.map((r) => ({
          request_id: r.requestId,
          system: r.system,
          attempts: r.attempts,
          status: r.status,
          next_attempt_at: r.nextAttemptAt,
          evidence: r.evidence ?? null,
          last_error: r.lastError,
        })),
      ),
      at,
    ],
  );
}

export async function insertEvents(
  db: Queryable,
  events: readonly { requestId: string; system: string | null; event: string; detail: unknown }[],
  at: Date,
): Promise<void> {
  if (events.length === 0) return;
  await db.query(
    `insert into dsr_events (request_id, at, system, event, detail)
     select x.request_id, $2, x.system, x.event, coalesce(x.detail, '{}'::jsonb)
     from jsonb_to_recordset($1::jsonb) as x(request_id text, system text, event text, detail jsonb)`,
    [
      JSON.stringify(
        events.map((e) => ({ request_id: e.requestId, system: e.system, event: e.event, detail: e.detail ?? {} })),
      ),
      at,
    ],
  );
}

export async function listEvents(
  db: Queryable,
  requestId: string,
): Promise<{ at: Date; system: string | null; event: string; detail: unknown }[]> {
  const { rows } = await db.query<{ at: Date; system: string | null; event: string; detail: unknown }>(
    'select at, system, event, detail from dsr_events where request_id = $1 order by id',
    [requestId],
  );
  return rows;
}

export async function openException(
  db: Queryable,
  e: { requestId: string; system: string; kind: string; reason: string },
  at: Date,
): Promise<boolean> {
  const { rows } = await db.query(
    `insert into dsr_exceptions (request_id, system, kind, reason, opened_at) values ($1, $2, $3, $4, $5)
     on conflict (request_id, system, kind) where resolved_at is null do nothing returning id`,
    [e.requestId, e.system, e.kind, e.reason, at],
  );
  return rows.length === 1;
}

export interface ExceptionRow {
  id: number;
  requestId: string;
  system: string;
  kind: string;
  reason: string;
  openedAt: Date;
  resolvedAt: Date | null;
  resolvedBy: string | null;
  note: string | null;
  dueAt: Date;
}

export async function listExceptions(db: Queryable, open: boolean): Promise<ExceptionRow[]> {
  const { rows } = await db.query(
    `select e.*, r.due_at from dsr_exceptions e join dsr_requests r on r.id = e.request_id
     where ($1 and e.resolved_at is null) or (not $1) order by r.due_at, e.id limit 1000`,
    [open],
  );
  // biome-ignore lint/suspicious/noExplicitAny: one mapper for the table's row
  return rows.map((r: any) => ({
    id: Number(r.id),
    requestId: r.request_id,
    system: r.system,
    kind: r.kind,
    reason: r.reason,
    openedAt: r.opened_at,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
    note: r.note,
    dueAt: r.due_at,
  }));
}

export async function resolveException(
  db: Queryable,
  id: number,
  by: string,
  note: string | null,
  at: Date,
): Promise<{ requestId: string; system: string; kind: string } | null> {
  const { rows } = await db.query<{ request_id: string; system: string; kind: string }>(
    `update dsr_exceptions set resolved_at = $2, resolved_by = $3, note = $4 where id = $1 and resolved_at is null
     returning request_id, system, kind`,
    [id, at, by, note],
  );
  const r = rows[0];
  return r ? { requestId: r.request_id, system: r.system, kind: r.kind } : null;
}

/** Puts a failed or held step back to pending (a person resolved its exception with retry). */
export async function retryStep(db: Queryable, requestId: string, system: string, at: Date): Promise<void> {
  await db.query(
    `update dsr_steps set status = 'pending', attempts = 0, next_attempt_at = $3, updated_at = $3
     where request_id = $1 and system = $2 and status in ('failed', 'held')`,
    [requestId, system, at],
  );
}

export async function setRequestStatus(
  db: Queryable,
  id: string,
  from: readonly string[],
  to: { status: string; result?: string | null; reason?: string | null; verifiedAt?: Date; completedAt?: Date },
): Promise<RequestRow | null> {
  const { rows } = await db.query(
    `update dsr_requests set status = $3, result = coalesce($4, result), reason = coalesce($5, reason),
       verified_at = coalesce($6, verified_at), completed_at = coalesce($7, completed_at)
     where id = $1 and status = any($2::text[]) returning *`,
    [id, from, to.status, to.result ?? null, to.reason ?? null, to.verifiedAt ?? null, to.completedAt ?? null],
  );
  return rows[0] ? toRequest(rows[0]) : null;
}

/**
 * Completes, in one statement, up to `limit` running requests whose every step is final, except
 * access and portability (their bundle is assembled one by one): `completed` when some system held
 * something (a confirmation marked `held: false`, an ESP suppression, does not count), else
 * `nothing_found`. Rows another runner is completing are skipped (skip locked), so two runners
 * never complete one request twice. Returns the completed rows.
 */
const COMPLETE_FINISHED = `
  with fin as (
    select r.id from dsr_requests r
    where r.status = 'in_progress' and r.type not in ('access', 'portability')
      and not exists (select 1 from dsr_steps s where s.request_id = r.id
                      and s.status in ('pending', 'retry', 'running', 'failed', 'held'))
    limit $2
    for update of r skip locked)
  update dsr_requests r
  set status = 'completed', completed_at = $1,
      result = case when exists (
        select 1 from dsr_steps s where s.request_id = r.id
          and s.status in ('confirmed', 'restricted', 'exported')
          and not coalesce(s.evidence -> 'held' = 'false'::jsonb, false))
        then 'completed' else 'nothing_found' end
  from fin where r.id = fin.id
  returning r.*`;

export async function completeFinishedRequests(tx: Queryable, now: Date, limit: number): Promise<RequestRow[]> {
  const { rows } = await tx.query(COMPLETE_FINISHED, [now, limit]);
  return rows.map(toRequest);
}

/** Deletes the identities of these requests (erasure: the last plain copy of the subject they held). */
export async function deleteSubjects(db: Queryable, requestIds: readonly string[]): Promise<void> {
  if (requestIds.length > 0)
    await db.query('delete from dsr_subjects where request_id = any($1::text[])', [requestIds]);
}

/** Running access/portability requests whose every step is final (their bundle is assembled next). */
export async function findFinishedBundleRequests(db: Queryable, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select r.id from dsr_requests r where r.status = 'in_progress' and r.type in ('access', 'portability')
       and not exists (select 1 from dsr_steps s where s.request_id = r.id
                       and s.status in ('pending', 'retry', 'running', 'failed', 'held'))
     limit $1`,
    [limit],
  );
  return rows.map((r) => r.id);
}

/** Requests past their 80 % mark without an open deadline exception. */
export async function findEscalations(db: Queryable, now: Date, limit: number): Promise<RequestRow[]> {
  const { rows } = await db.query(
    `select * from dsr_requests r where r.status in ('pending_verification', 'in_progress') and r.escalate_at <= $1
       and not exists (select 1 from dsr_exceptions e where e.request_id = r.id and e.kind = 'deadline_near')
     limit $2`,
    [now, limit],
  );
  return rows.map(toRequest);
}

export async function expireUnverified(db: Queryable, now: Date, reason: string): Promise<RequestRow[]> {
  const { rows } = await db.query(
    `update dsr_requests set status = 'expired', reason = $2, completed_at = $1
     where status = 'pending_verification' and verify_expires_at <= $1 returning *`,
    [now, reason],
  );
  return rows.map(toRequest);
}

export async function isOnLegalHold(db: Queryable, subjectHash: string): Promise<string | null> {
  const { rows } = await db.query<{ reason: string }>('select reason from dsr_legal_holds where subject_hash = $1', [
    subjectHash,
  ]);
  return rows[0]?.reason ?? null;
}

export async function placeLegalHold(db: Queryable, subjectHash: string, reason: string, at: Date): Promise<void> {
  await db.query(
    `insert into dsr_legal_holds (subject_hash, reason, placed_at) values ($1, $2, $3)
     on conflict (subject_hash) do update set reason = excluded.reason`,
    [subjectHash, reason, at],
  );
}

export async function releaseLegalHold(db: Queryable, subjectHash: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from dsr_legal_holds where subject_hash = $1', [subjectHash]);
  return rowCount > 0;
}

export async function saveBundle(
  db: Queryable,
  b: { requestId: string; json: unknown; html: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await db.query(
    `insert into dsr_bundles (request_id, json, html, created_at, expires_at) values ($1, $2, $3, $4, $5)
     on conflict (request_id) do update set json = excluded.json, html = excluded.html,
       created_at = excluded.created_at, expires_at = excluded.expires_at`,
    [b.requestId, JSON.stringify(b.json), b.html, b.createdAt, b.expiresAt],
  );
}

export async function findBundle(
  db: Queryable,
  requestId: string,
): Promise<{ json: unknown; html: string; expiresAt: Date } | null> {
  const { rows } = await db.query<{ json: unknown; html: string; expires_at: Date }>(
    'select json, html, expires_at from dsr_bundles where request_id = $1',
    [requestId],
  );
  const r = rows[0];
  return r ? { json: r.json, html: r.html, expiresAt: r.expires_at } : null;
}

export async function deleteExpiredBundles(db: Queryable, now: Date): Promise<number> {
  const { rowCount } = await db.query('delete from dsr_bundles where expires_at <= $1', [now]);
  return rowCount;
}

export async function enqueueCallback(db: Queryable, requestId: string, url: string, body: unknown, at: Date) {
  await db.query('insert into dsr_callbacks (request_id, url, body, next_attempt_at) values ($1, $2, $3, $4)', [
    requestId,
    url,
    JSON.stringify(body),
    at,
  ]);
}

export async function dueCallbacks(
  db: Queryable,
  now: Date,
  limit: number,
): Promise<{ id: number; url: string; body: unknown; attempts: number }[]> {
  const { rows } = await db.query<{ id: number; url: string; body: unknown; attempts: number }>(
    `select id, url, body, attempts from dsr_callbacks where delivered_at is null and next_attempt_at <= $1
     order by id limit $2`,
    [now, limit],
  );
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

export async function settleCallback(
  db: Queryable,
  id: number,
  r: { delivered: Date | null; nextAttemptAt: Date; error: string | null },
): Promise<void> {
  await db.query(
    `update dsr_callbacks set delivered_at = $2, next_attempt_at = $3, last_error = $4, attempts = attempts + 1
     where id = $1`,
    [id, r.delivered, r.nextAttemptAt, r.error],
  );
}

export async function findSubjects(db: Queryable, requestIds: readonly string[]): Promise<Map<string, unknown>> {
  const { rows } = await db.query<{ request_id: string; identities: unknown }>(
    'select request_id, identities from dsr_subjects where request_id = any($1::text[])',
    [requestIds],
  );
  return new Map(rows.map((r) => [r.request_id, r.identities]));
}

export async function findHolds(db: Queryable, requestIds: readonly string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; reason: string }>(
    `select r.id, h.reason from dsr_requests r join dsr_legal_holds h on h.subject_hash = r.subject_hash
     where r.id = any($1::text[])`,
    [requestIds],
  );
  return new Map(rows.map((r) => [r.id, r.reason]));
}
