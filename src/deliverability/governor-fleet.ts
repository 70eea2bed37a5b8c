/**
 * The governor's fleet-wide rate budgets: every rated scope (provider, receiving group, sending
 * domain with a fixed rate) is one token bucket in the store (governor_fleet_budgets, migration
 * 0054), and each send process leases blocks of its tokens, so N processes together keep the
 * configured rate instead of N times it. A block is about `blockMs` of the scope's rate (never
 * more than its burst) and expires after `ttlMs` unused, so an idle process cannot hoard tokens
 * for a later burst. A lease is one set-wise statement for every short scope of a send key.
 *
 * The same row carries the scope's AIMD rate and hard hold (versioned by the clock time of the
 * change): a process whose own AIMD moved the rate publishes it with its next lease, and every
 * process adopts the row's rate from each lease's answer (governor.ts applies it).
 *
 * Circuit breakers are shared by a sync loop (createBreakerSync): every `intervalMs` each process
 * writes its breakers that changed phase and reads those other processes changed, so a pause
 * raised in one process stops the others within about one interval.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';
import type { FleetBreakerRow, FleetLeaseResult } from './queries.ts';
import { clearFleetHolds, leaseFleetBudgets, pullFleetBreakers, pushFleetBreakers } from './queries.ts';

export type { FleetBreakerRow, FleetLeaseResult } from './queries.ts';

/** What one send key still needs from the fleet bucket of one scope. */
export interface FleetNeed {
  /** The governor's entry key (p:…, g:…, d:…), also the row's key. */
  key: string;
  /** Tokens this admission wants (the block may be larger). */
  need: number;
  /** This process's current rate for the scope (msgs/s) and bucket burst. */
  rate: number;
  burst: number;
  heldUntil: number;
  /** AIMD-steered: a new process adopts the stored rate instead of imposing its start rate. */
  adaptive: boolean;
}

export interface FleetLeases {
  /** Whole tokens this process holds for the scope now (an expired block holds none). */
  held(key: string, nowMs: number): number;
  /** Spends n held tokens (n <= held). */
  take(key: string, n: number): void;
  /** Leases a block for each need in one statement and returns each scope's stored state; an
   *  empty answer when another lease of this process was in flight (its blocks are here now). */
  lease(needs: readonly FleetNeed[], nowMs: number): Promise<FleetLeaseResult[]>;
  /** An operator cleared these scopes' holds: clears the stored ones too. */
  clearHolds(keys: readonly string[]): Promise<void>;
}

export interface FleetLeaseOptions {
  /** Block size as ms of the scope's rate (default 100). */
  blockMs?: number;
  /** Unused tokens of a block are dropped this long after its lease (default 1000). */
  ttlMs?: number;
}

interface Block {
  tokens: number;
  expiresAt: number;
}

export function createFleetLeases(deps: { db: Db }, options: FleetLeaseOptions = {}): FleetLeases {
  const blockMs = options.blockMs ?? 100;
  const ttlMs = options.ttlMs ?? 1_000;
  const blocks = new Map<string, Block>();
  /** The rate each scope's row had at the last lease: a local rate that differs was changed here. */
  const lastSeen = new Map<string, number>();
  let inFlight: Promise<FleetLeaseResult[]> | undefined;

  function held(key: string, nowMs: number): number {
    const b = blocks.get(key);
    if (b === undefined) return 0;
    if (nowMs < b.expiresAt) return Math.floor(b.tokens + 1e-9);
    blocks.delete(key);
    return 0;
  }

  async function leaseNow(needs: readonly FleetNeed[], nowMs: number): Promise<FleetLeaseResult[]> {
    const rows = needs.map((n) => {
      const seen = lastSeen.get(n.key);
      const publish = seen === undefined ? !n.adaptive : seen !== n.rate;
      const block = Math.ceil((n.rate * blockMs) / 1000);
      return {
        key: n.key,
        wanted: Math.max(1, Math.min(Math.floor(n.burst), Math.max(n.need, block))),
        rate: n.rate,
        burst: n.burst,
        rateAt: publish ? nowMs : 0,
        heldUntil: n.heldUntil,
      };
    });
    const results = await leaseFleetBudgets(deps.db, rows, nowMs);
    if (blocks.size > 10_000) for (const k of blocks.keys()) held(k, nowMs); // drops the expired
    for (const r of results) {
      lastSeen.set(r.key, r.rate);
      if (r.granted <= 0) continue;
      const left = held(r.key, nowMs);
      blocks.set(r.key, { tokens: left + r.granted, expiresAt: nowMs + ttlMs });
    }
    if (lastSeen.size > 10_000) lastSeen.clear(); // re-learnt at the next lease of each scope
    return results;
  }

  return {
    held,
    take(key, n) {
      const b = blocks.get(key);
      if (b !== undefined) b.tokens -= n;
    },
    async lease(needs, nowMs) {
      if (inFlight !== undefined) {
        await inFlight.catch(() => undefined);
        return [];
      }
      inFlight = leaseNow(needs, nowMs);
      try {
        return await inFlight;
      } finally {
        inFlight = undefined;
      }
    },
    clearHolds: (keys) => clearFleetHolds(deps.db, keys),
  };
}

/** What the breaker sync needs of the governor. */
export interface BreakerHolder {
  breakers(): FleetBreakerRow[];
  adoptBreakers(rows: readonly FleetBreakerRow[]): number;
}

export const BREAKER_SYNC_INTERVAL_MS = 1_000;
/** Rows read again from this far before the last read: another process's write may commit late. */
const PULL_OVERLAP_MS = 10_000;

export interface BreakerSync {
  /** One round: writes this process's changed breakers, adopts the newer ones of the others. */
  sync(): Promise<void>;
  /** Syncs every intervalMs until the signal aborts, then once more. */
  run(signal: AbortSignal): Promise<void>;
}

export function createBreakerSync(
  deps: { db: Db; clock: Clock; governor: BreakerHolder; log: Logger },
  intervalMs = BREAKER_SYNC_INTERVAL_MS,
): BreakerSync {
  /** The transition time last written or adopted per scope: only a newer one is written. */
  const known = new Map<string, number>();
  let pulledAt = Number.NEGATIVE_INFINITY;

  async function sync(): Promise<void> {
    const at = deps.clock.now();
    // a breaker that never opened is no news; one that opened once is, whatever its phase now
    const changed = deps.governor
      .breakers()
      .filter(
        (r) =>
          r.breaker.since > (known.get(r.key) ?? Number.NEGATIVE_INFINITY)
          && (r.breaker.phase !== 'closed' || Number.isFinite(r.breaker.openedAt)),
      );
    await pushFleetBreakers(deps.db, changed, at);
    for (const r of changed) known.set(r.key, r.breaker.since);
    const rows = await pullFleetBreakers(deps.db, pulledAt - PULL_OVERLAP_MS);
    deps.governor.adoptBreakers(rows);
    for (const r of rows) known.set(r.key, Math.max(known.get(r.key) ?? Number.NEGATIVE_INFINITY, r.breaker.since));
    pulledAt = at.getTime();
    if (known.size > 10_000) known.clear(); // at worst, unchanged states are written once more
  }

  return {
    sync,
    async run(signal) {
      const logged = () => sync().catch((err: unknown) => deps.log.warn({ err }, 'could not sync the breakers'));
      while (!signal.aborted) {
        await logged();
        await deps.clock.sleep(intervalMs, signal).catch(() => undefined);
      }
      await logged();
    },
  };
}
