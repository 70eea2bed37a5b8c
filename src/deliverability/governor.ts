/**
 * The deliverability governor: decides when the send stage may hand the next message to an ESP.
 * It owns rate limits (token buckets whose rates AIMD controllers steer from deferrals), warm-up
 * daily caps, and circuit breakers that pause a campaign or sending domain when hard bounces or
 * complaints cross deliverability.md §9 thresholds. It sends nothing and does no I/O itself. This
 * file is admission (acquire), status and resume; outcomes are fed in by governor-report.ts.
 *
 * State is in memory for one process, saved to the store every few seconds and loaded at start
 * (governor-persistence.ts) so counters, rates and breakers survive a restart. With deps.fleet
 * (several send processes on one PostgreSQL) every rated scope also draws on a bucket shared by
 * the fleet, leased in blocks (governor-fleet.ts), whose answers carry the fleet's AIMD rate and
 * holds. Memory is bounded: idle keys are evicted (governor-entries.ts). Time comes only from
 * deps.clock.
 */
import type { Clock } from '../clock/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import { breakerResume } from '../core/throttle/circuit-breaker.ts';
import { receivingGroup } from '../core/throttle/receiving-group.ts';
import { clearWindow } from '../core/throttle/sliding-window.ts';
import { available, createTokenBucket, setRate, takeUpTo, tryTake } from '../core/throttle/token-bucket.ts';
import type { TokenBucket } from '../core/throttle/token-bucket.ts';
import { msUntilNextDay, warmupCap, warmupRollover } from '../core/throttle/warmup.ts';
import { createEntries, emptyWarmupDay, isRateEntry } from './governor-entries.ts';
import type { PauseEntry } from './governor-entries.ts';
import type { FleetLeaseResult, FleetLeases, FleetNeed } from './governor-fleet.ts';
import type { FleetBreakerRow } from './queries.ts';
import { createReporter, scopeOf } from './governor-report.ts';
import { restoreEntries, snapshotEntries } from './governor-state.ts';
import type { GovernorStateRow } from './governor-state.ts';
import { resolveGovernorOptions } from './governor-options.ts';
import { isReservedDomain } from './reserved-domains.ts';
import type { GovernorOptions } from './governor-options.ts';
import { describeStatus } from './governor-status.ts';
import type { GovernorStatus } from './governor-status.ts';
import type { AlertScope, GovernorAlert, SendKey, SendOutcome } from './governor-types.ts';

export type { GovernorOptions } from './governor-options.ts';
export type { GovernorStateRow } from './governor-state.ts';
export type { GovernorStatus, ScopeStatus } from './governor-status.ts';
export type { AlertScope, GovernorAlert, OutcomeKind, SendKey, SendOutcome } from './governor-types.ts';

export interface GovernorDeps {
  clock: Clock;
  /** Called synchronously on every pause, resume and rate reduction; must not throw. */
  onAlert(alert: GovernorAlert): void;
  /** Rate budgets shared with the other send processes; without it the limits are this process's. */
  fleet?: FleetLeases;
}

export interface Governor {
  /** Waits until every budget admits one send. Throws DELIVERABILITY_PAUSED when the campaign or
   *  sending domain is paused (also if it becomes paused while waiting), or the signal's reason. */
  acquire(key: SendKey, signal?: AbortSignal): Promise<void>;
  /** Waits until at least one send is admitted, then takes and returns as many as are admitted now
   *  (1..n). Same errors as acquire. n <= 0 returns 0 at once. */
  acquireMany(n: number, key: SendKey, signal?: AbortSignal): Promise<number>;
  /** Non-waiting form: how many of n may go now (0..n), already taken. Throws DELIVERABILITY_PAUSED. */
  tryAcquireMany(n: number, key: SendKey): number;
  /** Feeds one outcome (from the ESP call, or later from reactions) to AIMD and the breakers. */
  report(outcome: SendOutcome): void;
  /** Counted form for a chunk: exactly as n report({ ...key, kind: 'accepted', latencyMs }) calls
   *  at this clock time (same state, same alerts), in O(1) while those sends only bump counters —
   *  in practice all but the first few. n must be a whole number >= 0 (RangeError otherwise). */
  reportAccepted(key: SendKey, n: number, latencyMs?: number): void;
  status(): GovernorStatus;
  /** Operator override: closes the breakers (and clears holds) in scope. */
  resume(scope: AlertScope, by: { operator: true }): void;
  /** The state of every scope used at or after sinceMs (all when undefined) and of every paused,
   *  held or warming one, for the store. */
  snapshot(sinceMs?: number): GovernorStateRow[];
  /** Loads saved scopes (replacing those with the same key); returns how many were loaded. Emits
   *  no alerts: a breaker that was open is open again, as it was. */
  restore(rows: readonly GovernorStateRow[]): number;
  /** Every campaign's and sending domain's breaker (key c:… or d:…), for the fleet to share. */
  breakers(): FleetBreakerRow[];
  /** Takes the breaker states of other processes that are newer (`since`) than this one's; returns
   *  how many. No alerts: the process whose breaker changed raised them. */
  adoptBreakers(rows: readonly FleetBreakerRow[]): number;
}

export function createGovernor(deps: GovernorDeps, options: GovernorOptions): Governor {
  const o = resolveGovernorOptions(options);
  const entries = createEntries(o);
  const nowMs = (): number => deps.clock.now().getTime();
  const alert = (kind: GovernorAlert['kind'], scope: AlertScope, reason: string, at: number): void =>
    deps.onAlert({ kind, scope, reason, at: new Date(at) });

  const { checkBreaker, report, reportAccepted } = createReporter(entries, o, nowMs, alert);

  function throwIfPaused(e: PauseEntry, now: number): void {
    checkBreaker(e, now);
    if (e.breaker.phase !== 'open') return;
    const waitMs = e.breaker.requiresOperator
      ? undefined
      : Math.max(0, e.breaker.openedAt + o.breaker.cooldownMs - now);
    throw new SwitchyardError(
      'DELIVERABILITY_PAUSED',
      `${e.kind === 'campaign' ? 'campaign' : 'sending domain'} ${e.id} is paused: `
        + `${e.breaker.reason ?? 'no reason recorded'}`,
      {
        retryable: waitMs !== undefined,
        ...(waitMs === undefined ? {} : { retryAfterMs: waitMs }),
        details: { scope: scopeOf(e), reason: e.breaker.reason, requiresOperator: e.breaker.requiresOperator },
      },
    );
  }

  interface Limit {
    avail: number;
    waitMs: number;
    take(k: number): void;
    /** A fleet budget: what to lease when this process holds too few of its tokens. */
    fleet?: FleetNeed;
  }

  /** The fleet's share of a rated scope: the tokens of it this process holds; none while the
   *  scope is held here (a hold waits, it does not lease). */
  function fleetLimit(
    fleet: FleetLeases,
    key: string,
    rate: number,
    heldUntil: number,
    adaptive: boolean,
    now: number,
  ): Limit {
    if (now < heldUntil) return { avail: 0, waitMs: heldUntil - now, take: () => undefined };
    const avail = fleet.held(key, now);
    return {
      avail,
      waitMs: 0,
      take: (k) => fleet.take(key, k),
      fleet: { key, need: 1, rate, burst: entries.burst(rate), heldUntil, adaptive },
    };
  }

  /** Applies what the fleet's rows say: another process's AIMD rate, and its holds. */
  function adopt(results: readonly FleetLeaseResult[], now: number): void {
    for (const r of results) {
      const e = entries.peek(r.key);
      if (e === undefined || !isRateEntry(e)) continue;
      if (r.rate !== e.aimd.rate && Number.isFinite(r.rate) && r.rate > 0) {
        e.aimd = { ...e.aimd, rate: r.rate };
        e.bucket = setRate(e.bucket, now, r.rate, entries.burst(r.rate));
      }
      if (r.heldUntil > now) e.retryAfterUntil = Math.max(e.retryAfterUntil, r.heldUntil);
    }
  }

  /** How long until the emptiest leased scope has a token for this process to lease. */
  function fleetWaitMs(results: readonly FleetLeaseResult[], now: number): number {
    let wait = 0;
    for (const r of results) {
      if (r.granted > 0) continue;
      const ms = r.heldUntil > now ? r.heldUntil - now : Math.ceil(((1 - r.tokens) * 1000) / r.rate);
      wait = Math.max(wait, Number.isFinite(ms) ? ms : 60_000);
    }
    return wait;
  }

  function bucketLimit(get: () => TokenBucket, set: (b: TokenBucket) => void, now: number, heldUntil = 0): Limit {
    if (now < heldUntil) return { avail: 0, waitMs: heldUntil - now, take: () => undefined };
    const b = get();
    return {
      avail: available(b, now),
      waitMs: tryTake(b, now, 1).waitMs,
      take: (k) => set(takeUpTo(get(), now, k).state),
    };
  }

  function rollWarmup(d: PauseEntry, now: number): void {
    const w = d.warmup;
    if (w === undefined) return;
    const t = w.today;
    const state = warmupRollover(w.ramp, w.state, now, {
      deferralRate: t.attempts > 0 ? t.deferred / t.attempts : 0,
      complaintRate: t.accepted > 0 ? t.complaints / t.accepted : 0,
      hadThrottleSignal: t.throttleSignal,
      hadHardSignal: t.hardSignal,
    });
    if (state !== w.state) {
      w.state = state;
      w.today = emptyWarmupDay();
    }
  }

  /** Every budget the key draws on, after checking the pauses. */
  function limitsFor(key: SendKey, now: number): Limit[] {
    const domain = entries.sendingDomain(key.sendingDomain, now);
    const campaign = key.campaignId === undefined ? undefined : entries.campaign(key.campaignId, now);
    // The campaign first: when both are paused its reason is the more specific one.
    if (campaign !== undefined) throwIfPaused(campaign, now);
    throwIfPaused(domain, now);
    const provider = entries.provider(key.provider, now);
    const group = entries.group(key.provider, key.sendingDomain, receivingGroup(key.recipientDomain), now);
    entries.sweep(now); // after the touches above, so this key's entries are the newest
    // reserved test domains (demo, sandbox, local sinks) have no receiver to protect
    const rated = o.exemptReservedDomains && isReservedDomain(key.recipientDomain) ? [provider] : [provider, group];
    const fleet = deps.fleet;
    // With a fleet, a finite rate is the fleet bucket's alone: a local bucket too would make a
    // process leave leased tokens unspent (and let them expire) whenever its own share ran ahead.
    const isLeased = (rate: number): boolean => fleet !== undefined && Number.isFinite(rate);
    const limits: Limit[] = rated.map((e) => {
      const heldUntil = Math.max(e.aimd.heldUntil, e.retryAfterUntil);
      if (!isLeased(e.aimd.rate))
        return bucketLimit(
          () => e.bucket,
          (b) => {
            e.bucket = b;
          },
          now,
          heldUntil,
        );
      return fleetLimit(fleet!, entries.keyOf(e), e.aimd.rate, heldUntil, true, now);
    });
    for (const p of campaign === undefined ? [domain] : [domain, campaign]) {
      if (p.halfOpenBucket !== undefined)
        limits.push(
          bucketLimit(
            () => p.halfOpenBucket!,
            (b) => {
              p.halfOpenBucket = b;
            },
            now,
          ),
        );
    }
    const d = domain.domainBucket;
    if (d !== undefined && isLeased(d.rate))
      limits.push(fleetLimit(fleet!, entries.keyOf(domain), d.rate, 0, false, now));
    else if (d !== undefined)
      limits.push(
        bucketLimit(
          () => domain.domainBucket!,
          (b) => {
            domain.domainBucket = b;
          },
          now,
        ),
      );
    rollWarmup(domain, now);
    const w = domain.warmup;
    if (w !== undefined) {
      const left = warmupCap(w.ramp, w.state) - w.state.used;
      limits.push({
        avail: left,
        waitMs: left >= 1 ? 0 : msUntilNextDay(now),
        take: (k) => {
          w.state = { ...w.state, used: w.state.used + k };
        },
      });
    }
    return limits;
  }

  /** Takes as many of n as every budget admits now; otherwise says how long to wait for one, and
   *  which fleet budgets to lease first (those this process holds no token of). */
  function grant(n: number, key: SendKey): { granted: number; waitMs: number; lease: FleetNeed[] } {
    const limits = limitsFor(key, nowMs());
    const granted = Math.max(0, Math.floor(Math.min(n, ...limits.map((l) => l.avail))));
    if (granted > 0) for (const l of limits) l.take(granted);
    const short = limits.filter((l) => l.avail < 1);
    const lease: FleetNeed[] = [];
    // only when the local budgets admit: a lease while they wait would only age in this process
    if (granted === 0 && short.every((l) => l.fleet !== undefined))
      for (const l of short) lease.push({ ...l.fleet!, need: n });
    return { granted, waitMs: Math.max(o.minWaitMs, ...short.map((l) => l.waitMs)), lease };
  }

  /** Leases what grant asked for; the ms to wait before the next try (0: try again now). */
  async function leaseFleet(needs: readonly FleetNeed[]): Promise<number> {
    const results = await deps.fleet!.lease(needs, nowMs());
    const now = nowMs();
    adopt(results, now);
    return fleetWaitMs(results, now);
  }

  async function acquireMany(n: number, key: SendKey, signal?: AbortSignal): Promise<number> {
    if (n <= 0) return 0;
    for (;;) {
      signal?.throwIfAborted();
      const { granted, waitMs, lease } = grant(n, key);
      if (granted > 0) return granted;
      if (lease.length > 0) {
        // a refused lease waits as long as a local wait would (minWaitMs): a shorter one would
        // only add store round trips, each getting the few tokens refilled meanwhile
        const fleetWait = await leaseFleet(lease);
        if (fleetWait > 0) await sleepFor(Math.min(Math.max(o.minWaitMs, fleetWait), 60_000), signal);
        continue;
      }
      // A wait of Infinity (rate 0) is capped so pauses and rate changes are noticed.
      await sleepFor(Math.min(waitMs, 60_000), signal);
    }
  }

  /** Sleeps on the clock with a private signal, so a long-lived caller signal gains no listener
   *  per wait (a send loop waits thousands of times on one signal). */
  async function sleepFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal === undefined) return deps.clock.sleep(ms);
    const inner = new AbortController();
    const onAbort = (): void => inner.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await deps.clock.sleep(ms, inner.signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  function resume(scope: AlertScope, _by: { operator: true }): void {
    const now = nowMs();
    const targets: PauseEntry[] = [];
    if (scope.campaignId !== undefined) targets.push(entries.campaign(scope.campaignId, now));
    if (scope.sendingDomain !== undefined) targets.push(entries.sendingDomain(scope.sendingDomain, now));
    for (const e of targets) {
      const was = e.breaker.phase;
      e.breaker = breakerResume(e.breaker, now, { operator: true });
      // Old complaints must not re-trip the breaker the moment it closes.
      clearWindow(e.window);
      e.halfOpenBucket = undefined;
      if (was !== 'closed') alert('resumed', scopeOf(e), 'resumed by operator', now);
    }
    if (scope.provider !== undefined) {
      const cleared: string[] = [];
      for (const e of entries.all()) {
        if (
          isRateEntry(e)
          && e.provider === scope.provider
          && (scope.sendingDomain === undefined
            || e.sendingDomain === undefined
            || e.sendingDomain === scope.sendingDomain)
        ) {
          e.aimd = { ...e.aimd, heldUntil: 0 };
          e.retryAfterUntil = 0;
          cleared.push(entries.keyOf(e));
        }
      }
      // the shared rows too, or the next lease would bring the holds back (best effort: a failed
      // clear leaves them to run out, as they would have without the operator)
      void deps.fleet?.clearHolds(cleared).catch(() => undefined);
      alert('resumed', scope, 'holds cleared by operator', now);
    }
  }

  function breakers(): FleetBreakerRow[] {
    const now = nowMs();
    const rows: FleetBreakerRow[] = [];
    for (const e of entries.all()) {
      if (isRateEntry(e)) continue;
      checkBreaker(e, now); // a cool-down that ended is a transition to share too
      rows.push({ key: entries.keyOf(e), breaker: e.breaker });
    }
    return rows;
  }

  function adoptBreakers(rows: readonly FleetBreakerRow[]): number {
    const now = nowMs();
    let adopted = 0;
    for (const { key, breaker } of rows) {
      const id = key.slice(2);
      const e = key.startsWith('c:')
        ? entries.campaign(id, now)
        : key.startsWith('d:')
          ? entries.sendingDomain(id, now)
          : undefined;
      if (e === undefined) continue;
      // a breaker that never opened has no transition to defend: any shared state is newer
      const mine = Number.isFinite(e.breaker.openedAt) ? e.breaker.since : Number.NEGATIVE_INFINITY;
      if (breaker.since <= mine) continue;
      const was = e.breaker.phase;
      e.breaker = breaker;
      // as after the same transition here: half-open admits at its own reduced rate and judges
      // fresh traffic only; a close forgets the samples that opened it
      e.halfOpenBucket = breaker.phase === 'half_open' ? createTokenBucket(o.halfOpenRatePerSec, 1, now) : undefined;
      if (breaker.phase !== 'open' || was === 'closed') clearWindow(e.window);
      adopted++;
    }
    return adopted;
  }

  return {
    acquire: async (key, signal) => {
      await acquireMany(1, key, signal);
    },
    acquireMany,
    tryAcquireMany: (n, key) => {
      const { granted, lease } = grant(n, key);
      // not waiting here: the lease lands for the next call
      if (lease.length > 0) void leaseFleet(lease).catch(() => undefined);
      return granted;
    },
    report,
    reportAccepted,
    status: () => {
      const now = nowMs();
      for (const e of entries.all()) if (!isRateEntry(e)) checkBreaker(e, now);
      return describeStatus(entries.all(), now, o);
    },
    resume,
    snapshot: (sinceMs) => snapshotEntries(entries, nowMs(), sinceMs),
    restore: (rows) => restoreEntries(entries, rows, nowMs()),
    breakers,
    adoptBreakers,
  };
}
