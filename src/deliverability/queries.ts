/**
 * The governor's SQL: its per-scope state (migration 0015_governor_state.sql) and the budgets and
 * breakers the send fleet shares (0054_governor_fleet.sql, 0055_governor_fleet_breakers.sql), each
 * written set-wise.
 */
import type { BreakerState } from '../core/throttle/circuit-breaker.ts';
import type { Db } from '../store/port.ts';
import type { GovernorStateRow } from './governor-state.ts';

const SAVE_GOVERNOR_STATE = `
  insert into governor_state (scope_key, state, updated_at)
  select k, s::jsonb, $3 from unnest($1::text[], $2::text[]) as t(k, s)
  on conflict (scope_key) do update set state = excluded.state, updated_at = excluded.updated_at`;

/** Replaces the stored state of these scopes in one statement. */
export async function saveGovernorState(db: Db, rows: readonly GovernorStateRow[], at: Date): Promise<void> {
  if (rows.length === 0) return;
  await db.query(SAVE_GOVERNOR_STATE, [rows.map((r) => r.key), rows.map((r) => r.state), at]);
}

const PRUNE_GOVERNOR_STATE = `delete from governor_state where updated_at < $1`;

/** Forgets scopes not saved since `before` (idle ones; paused, held and warming ones are saved
 *  every round). */
export async function pruneGovernorState(db: Db, before: Date): Promise<void> {
  await db.query(PRUNE_GOVERNOR_STATE, [before]);
}

const LOAD_GOVERNOR_STATE = `select scope_key, state::text as state from governor_state order by updated_at, scope_key`;

/** Every stored scope, oldest update first (so the newest end up most recently used). */
export async function loadGovernorState(db: Db): Promise<GovernorStateRow[]> {
  const { rows } = await db.query<{ scope_key: string; state: string }>(LOAD_GOVERNOR_STATE);
  return rows.map((r) => ({ key: r.scope_key, state: r.state }));
}

/** One scope's lease request: up to `wanted` tokens of a bucket refilling at `rate` msgs/s. */
export interface FleetLeaseRow {
  key: string;
  wanted: number;
  rate: number;
  burst: number;
  /** Clock time of the local rate change to publish; 0 = adopt the stored rate. */
  rateAt: number;
  heldUntil: number;
}

export interface FleetLeaseResult {
  key: string;
  granted: number;
  /** Tokens left in the shared bucket after this grant (negative never; below 1 means wait). */
  tokens: number;
  rate: number;
  heldUntil: number;
}

// Refilled tokens at $1 (epoch ms), at the stored rate up to now; the burst is the caller's
// (configuration), so a changed burst applies at once.
const FLEET_AVAILABLE = `least(excluded.burst, t.tokens + greatest(0, $1::float8 - t.updated_at) * t.rate / 1000)`;
const FLEET_GRANT = `case when greatest(t.held_until, excluded.held_until) > $1::float8 then 0::float8
  else greatest(0::float8, least(excluded.wanted, floor(${FLEET_AVAILABLE} + 1e-9))) end`;

// One statement leases every scope of a request: a new scope's row starts full, one burst for
// the whole fleet as a single process's bucket starts (and a first lease is answered without
// waiting for a refill, which a clock that does not move would never bring); an existing one is
// refilled, taken from and, when the caller's rate change is newer than the stored one, given the
// new rate. Concurrent
// leases queue on the row locks (rows in key order, so two leases never deadlock). All SET
// expressions read the old row.
const LEASE_FLEET_BUDGETS = `
  insert into governor_fleet_budgets as t
    (scope_key, tokens, rate, burst, rate_at, held_until, version, wanted, granted, updated_at, created_at)
  select k, b - g, r, b, ra, h, 0, w, g, $1::float8, $1::float8
  from unnest($2::text[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[])
    as x(k, w, r, b, ra, h),
  lateral (select case when h > $1::float8 then 0::float8 else greatest(0::float8, least(w, floor(b))) end as g) n
  order by k
  on conflict (scope_key) do update set
    tokens = ${FLEET_AVAILABLE} - ${FLEET_GRANT},
    granted = ${FLEET_GRANT},
    wanted = excluded.wanted,
    burst = excluded.burst,
    rate = case when excluded.rate_at > t.rate_at then excluded.rate else t.rate end,
    rate_at = greatest(t.rate_at, excluded.rate_at),
    version = t.version + case when excluded.rate_at > t.rate_at then 1 else 0 end,
    held_until = greatest(t.held_until, excluded.held_until),
    updated_at = greatest(t.updated_at, $1::float8)
  returning scope_key, granted, tokens, rate, held_until`;

/** Leases tokens for every scope in one statement (see LEASE_FLEET_BUDGETS). */
export async function leaseFleetBudgets(
  db: Db,
  rows: readonly FleetLeaseRow[],
  nowMs: number,
): Promise<FleetLeaseResult[]> {
  if (rows.length === 0) return [];
  const { rows: out } = await db.query<{
    scope_key: string;
    granted: number;
    tokens: number;
    rate: number;
    held_until: number;
  }>(LEASE_FLEET_BUDGETS, [
    nowMs,
    rows.map((r) => r.key),
    rows.map((r) => r.wanted),
    rows.map((r) => r.rate),
    rows.map((r) => r.burst),
    rows.map((r) => r.rateAt),
    rows.map((r) => r.heldUntil),
  ]);
  return out.map((r) => ({
    key: r.scope_key,
    granted: Number(r.granted),
    tokens: Number(r.tokens),
    rate: Number(r.rate),
    heldUntil: Number(r.held_until),
  }));
}

const CLEAR_FLEET_HOLDS = `update governor_fleet_budgets set held_until = 0 where scope_key = any($1::text[])`;

/** An operator's resume: the shared holds of these scopes end too, or the next lease would
 *  bring them back. */
export async function clearFleetHolds(db: Db, keys: readonly string[]): Promise<void> {
  if (keys.length > 0) await db.query(CLEAR_FLEET_HOLDS, [keys]);
}

/** One shared breaker: a campaign's or sending domain's (key c:… or d:…) breaker state. */
export interface FleetBreakerRow {
  key: string;
  breaker: BreakerState;
}

// Written only by a newer transition (`since` is the version).
const PUSH_FLEET_BREAKERS = `
  insert into governor_fleet_breakers as t (scope_key, phase, reason, since, opened_at, requires_operator, updated_at)
  select k, p, r, s, o, q, $7
  from unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::boolean[]) as x(k, p, r, s, o, q)
  order by k
  on conflict (scope_key) do update set
    phase = excluded.phase, reason = excluded.reason, since = excluded.since, opened_at = excluded.opened_at,
    requires_operator = excluded.requires_operator, updated_at = excluded.updated_at
  where excluded.since > t.since`;

/** Writes breaker states that are newer than the stored ones, in one statement. */
export async function pushFleetBreakers(db: Db, rows: readonly FleetBreakerRow[], at: Date): Promise<void> {
  if (rows.length === 0) return;
  await db.query(PUSH_FLEET_BREAKERS, [
    rows.map((r) => r.key),
    rows.map((r) => r.breaker.phase),
    rows.map((r) => r.breaker.reason ?? null),
    rows.map((r) => r.breaker.since),
    rows.map((r) => (Number.isFinite(r.breaker.openedAt) ? r.breaker.openedAt : null)),
    rows.map((r) => r.breaker.requiresOperator),
    at,
  ]);
}

const PULL_FLEET_BREAKERS = `
  select scope_key, phase, reason, since, opened_at, requires_operator
  from governor_fleet_breakers where since >= $1 order by since`;

/** The breaker states whose transition is at or after sinceMs. */
export async function pullFleetBreakers(db: Db, sinceMs: number): Promise<FleetBreakerRow[]> {
  const { rows } = await db.query<{
    scope_key: string;
    phase: BreakerState['phase'];
    reason: string | null;
    since: number;
    opened_at: number | null;
    requires_operator: boolean;
  }>(PULL_FLEET_BREAKERS, [sinceMs]);
  return rows.map((r) => ({
    key: r.scope_key,
    breaker: {
      phase: r.phase,
      reason: r.reason ?? undefined,
      since: Number(r.since),
      openedAt: r.opened_at === null ? Number.NEGATIVE_INFINITY : Number(r.opened_at),
      requiresOperator: r.requires_operator,
    },
  }));
}
