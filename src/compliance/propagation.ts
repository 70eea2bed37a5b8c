/**
 * Suppression propagation: after an address is suppressed here (immediately, at ingest), every
 * connected system must learn it too — the ESP's own suppression list, the CRM opt-out, the
 * warehouse table, the compliance archive. The `propagation` group turns each contact.suppressed
 * message into one pending row per system, already leased to itself, and makes the first attempt at
 * once; the loop claims due rows (retries, and first attempts a crash left leased), calls each
 * system's sink in batches, and records per-system confirmation, retrying with exponential backoff
 * until maxAttempts, after which the row is `failed` and needs an operator (docs/reactions.md).
 * No sink is called inside a transaction; claiming leases rows, so a crash mid-call only delays.
 */
import type { Logger } from 'pino';
import type { StageDefinition } from '../bus/stage.ts';
import type { Clock } from '../clock/port.ts';
import { isSwitchyardError, toError } from '../core/errors.ts';
import type { Queryable } from '../store/port.ts';
import type { SuppressionItem, SuppressionSink } from './sink-port.ts';
import { normalizeEmail } from './suppression.ts';
import { consumerOf, TOPICS } from '../bus/topics.ts';
import { createGroupCommit } from '../reactions/group-commit.ts';

/** The systems a suppression reaches when nothing else is configured (names of the sinks app.ts wires). */
export const PROPAGATION_SYSTEMS = ['esp', 'crm', 'warehouse', 'compliance'] as const;

export interface PropagationOptions {
  /** Rows per sink call (default 100, the port's promise). */
  batchSize: number;
  /** Attempts per (address, system) before it is marked failed (default 25 ≈ 19 h of retries). */
  maxAttempts: number;
  /** First retry delay, doubled per attempt up to backoffMaxMs (defaults 30 s and 1 h). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How long a claimed row is hidden from other loops while its sink call runs (default 5 min). */
  leaseMs: number;
  /** How often the loop looks for due rows (default 1 s). */
  intervalMs: number;
}

export interface PropagationDeps {
  db: Queryable;
  clock: Clock;
  log: Logger;
  sinks: readonly SuppressionSink[];
  options?: Partial<PropagationOptions>;
}

const DEFAULTS: PropagationOptions = {
  batchSize: 100,
  maxAttempts: 25,
  backoffBaseMs: 30_000,
  backoffMaxMs: 3_600_000,
  leaseMs: 300_000,
  intervalMs: 1_000,
};

/** Delay before attempt n + 1 after n failed attempts. */
export function propagationBackoff(
  attempts: number,
  o: Pick<PropagationOptions, 'backoffBaseMs' | 'backoffMaxMs'> = DEFAULTS,
): number {
  return Math.min(o.backoffMaxMs, o.backoffBaseMs * 2 ** Math.max(0, attempts - 1));
}

// A failed row comes back to pending (a new suppression of the address, or an operator's retry);
// pending and confirmed rows are left alone, so a redelivered message changes nothing. With $6 the
// commit does not wait for its WAL flush (the caller's input is redelivered until handled). With $7
// the rows it creates or revives are leased until then (claimed, as CLAIM would) and returned, so the
// caller attempts them at once: one row version fewer than a pending row the loop claims later
// (decision 0044).
const ENQUEUE = `
  insert into suppression_propagations as p (email, system, reason, contact_id, status, attempts, next_attempt_at,
    created_at, updated_at)
  select x.email, s.system, x.reason, x.contact_id, 'pending', 0, coalesce($7::timestamptz, $3), $3, $3
  from (select case when $6::boolean then set_config('synchronous_commit', 'off', true) end) as async_commit,
    unnest($1::text[], $4::text[], $5::text[]) as x(email, reason, contact_id) cross
    join unnest($2::text[]) as s(system)
  on conflict (email, system) do update set
    status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, last_error = null,
    reason = excluded.reason, contact_id = coalesce(excluded.contact_id, p.contact_id), updated_at = excluded.updated_at
  where p.status = 'failed'
  returning p.email, p.system, p.reason, p.contact_id, p.attempts`;

/**
 * Creates a pending row per (address, system); returns how many rows were created or revived.
 * `asyncCommit`: only for input that is delivered again if this commit is lost (a bus message).
 */
export async function enqueuePropagations(
  db: Queryable,
  items: readonly SuppressionItem[],
  systems: readonly string[],
  now: Date,
  options: { asyncCommit?: boolean } = {},
): Promise<number> {
  return (await enqueue(db, items, systems, now, { asyncCommit: options.asyncCommit ?? false, leaseUntil: null }))
    .length;
}

async function enqueue(
  db: Queryable,
  items: readonly SuppressionItem[],
  systems: readonly string[],
  now: Date,
  options: { asyncCommit: boolean; leaseUntil: Date | null },
): Promise<Claimed[]> {
  if (items.length === 0 || systems.length === 0) return [];
  const { rows } = await db.query<Claimed>(ENQUEUE, [
    items.map((i) => normalizeEmail(i.email)),
    [...systems],
    now,
    items.map((i) => i.reason),
    items.map((i) => i.contactId ?? null),
    options.asyncCommit,
    options.leaseUntil,
  ]);
  return rows;
}

// Claim = push next_attempt_at past the lease, so a second loop (or this one after a crash)
// does not take the same rows meanwhile; skip locked keeps concurrent claimers apart.
const CLAIM = `
  with due as (
    select email, system from suppression_propagations
    where status = 'pending' and next_attempt_at <= $1 and system = any($2::text[])
    order by next_attempt_at, email, system
    limit $3
    for update skip locked
  )
  update suppression_propagations p set next_attempt_at = $4, updated_at = $1
  from due
  where p.email = due.email and p.system = due.system
  returning p.email, p.system, p.reason, p.contact_id, p.attempts`;

const RECORD = `
  update suppression_propagations p set
    status = x.status, attempts = x.attempts, next_attempt_at = x.next_attempt_at, last_error = x.last_error,
    confirmed_at = x.confirmed_at, updated_at = $2
  from jsonb_to_recordset($1::jsonb) as x(email text, system text, status text, attempts int,
    next_attempt_at timestamptz, last_error text, confirmed_at timestamptz)
  where p.email = x.email and p.system = x.system and p.status = 'pending'`;

interface Claimed {
  email: string;
  system: string;
  reason: string;
  contact_id: string | null;
  attempts: number;
}
interface Result {
  email: string;
  system: string;
  status: 'pending' | 'confirmed' | 'failed';
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  confirmed_at: string | null;
}

/**
 * One pass: claims every due pending row (in rounds of batchSize per call), calls the sinks and
 * records the outcome of each row. Returns how many rows were attempted.
 */
export async function propagateDue(deps: PropagationDeps): Promise<number> {
  const o = { ...DEFAULTS, ...deps.options };
  const systems = deps.sinks.map((s) => s.name);
  let attempted = 0;
  for (;;) {
    const now = deps.clock.now();
    const { rows } = await deps.db.query<Claimed>(CLAIM, [
      now,
      systems,
      o.batchSize,
      new Date(now.getTime() + o.leaseMs),
    ]);
    if (rows.length === 0) return attempted;
    await attemptClaimed(deps, o, rows);
    attempted += rows.length;
    if (rows.length < o.batchSize) return attempted;
  }
}

/** Calls each claimed row's sink (batchSize rows per call) and records every row's outcome. */
async function attemptClaimed(deps: PropagationDeps, o: PropagationOptions, rows: readonly Claimed[]): Promise<void> {
  const sinks = new Map(deps.sinks.map((s) => [s.name, s]));
  const results: Result[] = [];
  for (const [system, group] of groupBy(rows, (r) => r.system)) {
    for (let i = 0; i < group.length; i += o.batchSize) {
      results.push(...(await callSink(sinks.get(system)!, group.slice(i, i + o.batchSize), deps, o)));
    }
  }
  await deps.db.query(RECORD, [JSON.stringify(results), deps.clock.now()]);
}

async function callSink(
  sink: SuppressionSink,
  rows: Claimed[],
  deps: PropagationDeps,
  o: PropagationOptions,
): Promise<Result[]> {
  const item = (r: Claimed): SuppressionItem => ({
    email: r.email,
    reason: r.reason,
    ...(r.contact_id === null ? {} : { contactId: r.contact_id }),
  });
  const outcome = async (batch: Claimed[]): Promise<Outcome> => {
    try {
      const r = await sink.suppress(batch.map(item));
      return {
        confirmed: new Set(r.confirmed.map(normalizeEmail)),
        rejected: new Map((r.rejected ?? []).map((x) => [normalizeEmail(x.email), x.reason])),
        retryAfterMs: r.retryAfterMs,
        error: undefined,
      };
    } catch (err) {
      return { confirmed: new Set(), rejected: new Map(), retryAfterMs: retryAfterOf(err), error: err };
    }
  };
  const first = await outcome(rows);
  // A permanent failure of a batch may be one bad address: try each alone so the rest go through.
  if (first.error !== undefined && isPermanent(first.error) && rows.length > 1) {
    const results: Result[] = [];
    for (const r of rows) results.push(...toResults(sink.name, [r], await outcome([r]), deps.clock.now(), o));
    logFailures(deps.log, sink.name, results, first.error);
    return results;
  }
  const results = toResults(sink.name, rows, first, deps.clock.now(), o);
  logFailures(deps.log, sink.name, results, first.error);
  return results;
}

interface Outcome {
  confirmed: Set<string>;
  /** Refused for good by the system, with its reason. */
  rejected: Map<string, string>;
  /** The system asked for this pause before the next try (429 Retry-After). */
  retryAfterMs: number | undefined;
  error: unknown;
}

function retryAfterOf(err: unknown): number | undefined {
  return isSwitchyardError(err) && err.retryable ? err.retryAfterMs : undefined;
}

/** A rate-limited row waits what the system asked (at least a second), else the backoff. */
function retryDelay(attempts: number, out: Outcome, o: PropagationOptions): number {
  return out.retryAfterMs === undefined
    ? propagationBackoff(attempts, o)
    : Math.min(o.backoffMaxMs, Math.max(1_000, out.retryAfterMs));
}

function toResults(system: string, rows: Claimed[], out: Outcome, now: Date, o: PropagationOptions): Result[] {
  return rows.map((r) => {
    const attempts = r.attempts + 1;
    if (out.confirmed.has(r.email)) {
      return {
        email: r.email,
        system,
        status: 'confirmed',
        attempts,
        next_attempt_at: now.toISOString(),
        last_error: null,
        confirmed_at: now.toISOString(),
      };
    }
    const refusal = out.rejected.get(r.email);
    const message =
      refusal !== undefined
        ? `${system} refused the address: ${refusal}`
        : out.error === undefined
          ? `${system} did not confirm the address${out.retryAfterMs === undefined ? '' : ' (rate limited)'}`
          : describeError(out.error);
    const giveUp =
      refusal !== undefined || attempts >= o.maxAttempts || (out.error !== undefined && isPermanent(out.error));
    return {
      email: r.email,
      system,
      status: giveUp ? 'failed' : 'pending',
      attempts,
      last_error: message,
      confirmed_at: null,
      next_attempt_at: new Date(now.getTime() + (giveUp ? 0 : retryDelay(attempts, out, o))).toISOString(),
    };
  });
}

function isPermanent(err: unknown): boolean {
  return isSwitchyardError(err) && !err.retryable;
}

function describeError(err: unknown): string {
  const e = toError(err);
  return isSwitchyardError(e) ? `${e.code}: ${e.message}` : `${e.name}: ${e.message}`;
}

function logFailures(log: Logger, system: string, results: Result[], error: unknown): void {
  const failed = results.filter((r) => r.status === 'failed').length;
  const retrying = results.filter((r) => r.status === 'pending').length;
  if (failed > 0)
    log.error(
      { system, failed, err: error === undefined ? undefined : toError(error) },
      'suppression propagation gave up; operator action needed',
    );
  else if (retrying > 0)
    log.warn(
      { system, retrying, err: error === undefined ? undefined : toError(error) },
      'suppression propagation will be retried',
    );
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k) ?? [];
    list.push(it);
    m.set(k, list);
  }
  return m;
}

/** The loop: propagate what is due, then sleep intervalMs on the clock, until aborted. */
export async function runPropagation(deps: PropagationDeps, signal: AbortSignal): Promise<void> {
  const o = { ...DEFAULTS, ...deps.options };
  const log = deps.log.child({ stage: 'propagation', loop: 'propagate' });
  while (!signal.aborted) {
    try {
      await propagateDue({ ...deps, log });
    } catch (err) {
      log.error({ err: toError(err) }, 'suppression propagation pass failed; will retry');
    }
    await deps.clock.sleep(o.intervalMs, signal).catch(() => undefined);
  }
}

export function propagationStage(deps: PropagationDeps): StageDefinition {
  const o = { ...DEFAULTS, ...deps.options };
  const systems = deps.sinks.map((s) => s.name);
  const log = deps.log.child({ stage: 'propagation' });
  // Each suppressed address is its own bus message: the handlers of a fetched batch run at once and
  // share one statement (group commit) instead of one statement and commit per address. An address
  // twice in a group is enqueued once (the later one would change nothing: its rows are pending), and
  // addresses go in sorted, so two processes' groups take the rows' index locks in one order.
  // The rows are created leased and attempted at once, after their commit: no claim statement and no
  // claim's row version per row, and no wait for the loop's next pass (decision 0044).
  const enqueueAndAttempt = createGroupCommit(
    async (items: readonly SuppressionItem[]) => {
      const first = new Map<string, SuppressionItem>();
      for (const i of items) if (!first.has(normalizeEmail(i.email))) first.set(normalizeEmail(i.email), i);
      const sorted = [...first].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, i]) => i);
      const now = deps.clock.now();
      const claimed = await enqueue(deps.db, sorted, systems, now, {
        asyncCommit: true,
        leaseUntil: new Date(now.getTime() + o.leaseMs),
      });
      try {
        await attemptClaimed({ ...deps, log }, o, claimed);
      } catch (err) {
        // the rows are committed and leased: the loop attempts them once the lease ends
        log.warn({ err: toError(err), rows: claimed.length }, 'first propagation attempt failed; the loop retries');
      }
      return items.map(() => undefined);
    },
    { maxWeight: 1_000, weight: () => 1 },
  );
  return {
    name: 'propagation',
    consumers: [
      consumerOf({ topic: TOPICS.suppressed, group: 'propagation', batchSize: 100, concurrency: 100 }, async (m) => {
        const p = m.payload;
        await enqueueAndAttempt({
          email: p.email,
          reason: p.reason,
          ...(p.contactId === null ? {} : { contactId: p.contactId }),
        });
      }),
    ],
    loops: [(signal) => runPropagation(deps, signal)],
  };
}
