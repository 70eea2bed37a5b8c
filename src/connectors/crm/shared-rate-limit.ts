/**
 * A request budget shared by every Switchyard process talking to one CRM account: a token bucket
 * whose state is a row of crm_rate_buckets (migration 0018), taken and refilled by one atomic
 * UPDATE … RETURNING, so processes never need to know about each other. Time is the injected
 * clock's, passed into the SQL as a parameter (never now()).
 *
 * Invariant: with `capacity` C and a refill of R tokens per `perMs`, any window of `perMs` holds at
 * most C + R grants. Callers that must never exceed a vendor budget B per window choose C + R = B
 * (budgetBucket below). A vendor 429 with Retry-After drives the bucket below zero (holdOff), so
 * every process waits it out, not only the one that was refused.
 */
import type { Clock } from '../../clock/port.ts';
import { SwitchyardError } from '../../core/errors.ts';
import type { Db } from '../../store/port.ts';

export interface SharedRateLimiter {
  /** Resolves when one request may start (waits on the clock); rejects when the signal aborts. */
  acquire(signal?: AbortSignal): Promise<void>;
  /** The vendor refused for `ms`: no process is granted a request before it has passed. */
  holdOff(ms: number): Promise<void>;
}

export interface BucketOptions {
  /** Row key, one per vendor account, e.g. `hubspot:default`. */
  name: string;
  /** Most tokens the bucket holds (the burst). */
  capacity: number;
  /** Tokens added per millisecond. */
  refillPerMs: number;
}

/** A bucket that never grants more than `requests` in any window of `perMs`: a tenth of it as burst. */
export function budgetBucket(name: string, requests: number, perMs: number): BucketOptions {
  if (!Number.isInteger(requests) || requests < 2 || !(perMs > 0))
    throw new SwitchyardError('VALIDATION_FAILED', `rate budget ${name}: needs requests ≥ 2 and perMs > 0`);
  const capacity = Math.max(1, Math.floor(requests / 10));
  return { name, capacity, refillPerMs: (requests - capacity) / perMs };
}

const ENSURE_BUCKET = `
  insert into crm_rate_buckets (name, tokens, updated_at) values ($1, $2, $3)
  on conflict (name) do nothing`;

// One statement reads, refills, takes and writes the row: concurrent takers queue on the row lock
// and each sees the previous one's result. SET expressions all read the old row.
const AVAILABLE = `least($4::float8,
  tokens + greatest(0, extract(epoch from ($3::timestamptz - updated_at))::float8 * 1000) * $5::float8)`;
const TAKE = `
  update crm_rate_buckets set
    tokens = case when ${AVAILABLE} >= $2::float8 then ${AVAILABLE} - $2::float8 else ${AVAILABLE} end,
    last_granted = ${AVAILABLE} >= $2::float8,
    updated_at = greatest(updated_at, $3::timestamptz)
  where name = $1
  returning tokens, last_granted`;

const HOLD_OFF = `
  update crm_rate_buckets
  set tokens = least(${AVAILABLE}, $2::float8), updated_at = greatest(updated_at, $3::timestamptz)
  where name = $1`;

export function createSharedRateLimiter(deps: { db: Db; clock: Clock }, options: BucketOptions): SharedRateLimiter {
  const { db, clock } = deps;
  const { name, capacity, refillPerMs } = options;
  if (!(capacity >= 1) || !(refillPerMs > 0))
    throw new SwitchyardError('VALIDATION_FAILED', `rate bucket ${name}: capacity ≥ 1 and refillPerMs > 0`);
  let ensured: Promise<void> | undefined;
  const ensure = (): Promise<void> =>
    (ensured ??= db.query(ENSURE_BUCKET, [name, capacity, clock.now()]).then(
      () => undefined,
      (err: unknown) => {
        ensured = undefined;
        throw err;
      },
    ));

  return {
    async acquire(signal) {
      await ensure();
      for (;;) {
        signal?.throwIfAborted();
        const { rows } = await db.query<{ tokens: number; last_granted: boolean }>(TAKE, [
          name,
          1,
          clock.now(),
          capacity,
          refillPerMs,
        ]);
        const row = rows[0];
        if (row === undefined) {
          ensured = undefined; // the row was removed under us: create it again
          await ensure();
          continue;
        }
        if (row.last_granted) return;
        await clock.sleep(Math.max(1, Math.ceil((1 - Number(row.tokens)) / refillPerMs)), signal);
      }
    },
    async holdOff(ms) {
      await ensure();
      await db.query(HOLD_OFF, [name, -ms * refillPerMs, clock.now(), capacity, refillPerMs]);
    },
  };
}
