/**
 * The deliverability governor: decides when the send stage may hand the next message to an ESP.
 * It owns rate limits (token buckets whose rates AIMD controllers steer from deferrals), warm-up
 * daily caps, and circuit breakers that pause a campaign or sending domain when hard bounces or
 * complaints cross deliverability.md §9 thresholds. It sends nothing and stores nothing.
 *
 * State is in memory for one process. Several send workers would each hold their own buckets and
 * together exceed the limits; multi-process coordination would keep buckets and breaker state in
 * the store (or divide each rate by the worker count) — not done yet. Memory is bounded: idle keys
 * are evicted (governor-entries.ts). Time comes only from deps.clock.
 */
import type { Clock } from '../clock/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import { aimdObserve, isHeld, recentDeferralRatio } from '../core/throttle/aimd.ts';
import type { AimdSignal } from '../core/throttle/aimd.ts';
import { breakerCheck, breakerResume, breakerTrip } from '../core/throttle/circuit-breaker.ts';
import { classifyDeferral } from '../core/throttle/deferral-class.ts';
import { receivingGroup } from '../core/throttle/receiving-group.ts';
import { clearWindow, recordInWindow, windowTotals } from '../core/throttle/sliding-window.ts';
import { available, createTokenBucket, setRate, takeUpTo, tryTake } from '../core/throttle/token-bucket.ts';
import type { TokenBucket } from '../core/throttle/token-bucket.ts';
import { msUntilNextDay, warmupCap, warmupRollover } from '../core/throttle/warmup.ts';
import { createEntries, emptyWarmupDay, isRateEntry } from './governor-entries.ts';
import type { PauseEntry, RateEntry, StatField } from './governor-entries.ts';
import { resolveGovernorOptions } from './governor-options.ts';
import { isReservedDomain } from './reserved-domains.ts';
import type { GovernorOptions } from './governor-options.ts';
import { describeStatus } from './governor-status.ts';
import type { GovernorStatus } from './governor-status.ts';

export type { GovernorOptions } from './governor-options.ts';
export type { GovernorStatus, ScopeStatus } from './governor-status.ts';

export interface AlertScope { campaignId?: string; sendingDomain?: string; provider?: string; receivingGroup?: string }
export interface GovernorAlert { kind: 'paused' | 'resumed' | 'rate_reduced'; scope: AlertScope; reason: string; at: Date }

export interface GovernorDeps {
  clock: Clock;
  /** Called synchronously on every pause, resume and rate reduction; must not throw. */
  onAlert(alert: GovernorAlert): void;
}

/** Which budgets one send draws on. `recipientDomain` may be a full address. */
export interface SendKey { provider: string; sendingDomain: string; recipientDomain: string; campaignId?: string }

export type OutcomeKind = 'accepted' | 'deferred' | 'bounced_hard' | 'bounced_soft' | 'complained' | 'delivered' | 'failed';

export interface SendOutcome extends SendKey {
  kind: OutcomeKind;
  /** Time the ESP / MX took to answer; above the AIMD latency target it slows the key down. */
  latencyMs?: number;
  smtpCode?: number;
  enhancedStatus?: string;
  httpStatus?: number;
  diagnostic?: string;
  /** Provider's Retry-After on a 429: the provider key sends nothing until then. */
  retryAfterMs?: number;
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
  status(): GovernorStatus;
  /** Operator override: closes the breakers (and clears holds) in scope. */
  resume(scope: AlertScope, by: { operator: true }): void;
}

export function createGovernor(deps: GovernorDeps, options: GovernorOptions): Governor {
  const o = resolveGovernorOptions(options);
  const entries = createEntries(o);
  const nowMs = (): number => deps.clock.now().getTime();
  const alert = (kind: GovernorAlert['kind'], scope: AlertScope, reason: string, at: number): void =>
    deps.onAlert({ kind, scope, reason, at: new Date(at) });

  function scopeOf(e: PauseEntry): AlertScope {
    return e.kind === 'campaign' ? { campaignId: e.id } : { sendingDomain: e.id };
  }

  /** Moves a breaker on (cool-down, thresholds) and emits the alert for any transition. */
  function checkBreaker(e: PauseEntry, now: number): void {
    const step = breakerCheck(e.breaker, o.breaker, now, windowTotals(e.window, now));
    e.breaker = step.state;
    if (step.resetWindow) clearWindow(e.window);
    switch (step.transition) {
      case undefined: return;
      case 'opened':
        e.halfOpenBucket = undefined;
        return alert('paused', scopeOf(e), e.breaker.reason ?? 'paused', now);
      case 'escalated':
        return alert('paused', scopeOf(e), e.breaker.reason ?? 'paused', now);
      case 'half_opened':
        e.halfOpenBucket = createTokenBucket(o.halfOpenRatePerSec, 1, now);
        return alert('resumed', scopeOf(e), `half-open at ${o.halfOpenRatePerSec}/s after cool-down`, now);
      case 'closed':
        e.halfOpenBucket = undefined;
        return alert('resumed', scopeOf(e), `closed after ${o.breaker.halfOpenSamples} clean sends`, now);
    }
  }

  function throwIfPaused(e: PauseEntry, now: number): void {
    checkBreaker(e, now);
    if (e.breaker.phase !== 'open') return;
    const waitMs = e.breaker.requiresOperator ? undefined : Math.max(0, e.breaker.openedAt + o.breaker.cooldownMs - now);
    throw new SwitchyardError('DELIVERABILITY_PAUSED', `${e.kind === 'campaign' ? 'campaign' : 'sending domain'} ${e.id} is paused: ${e.breaker.reason ?? 'no reason recorded'}`, {
      retryable: waitMs !== undefined,
      ...(waitMs === undefined ? {} : { retryAfterMs: waitMs }),
      details: { scope: scopeOf(e), reason: e.breaker.reason, requiresOperator: e.breaker.requiresOperator },
    });
  }

  interface Limit { avail: number; waitMs: number; take(k: number): void }

  function bucketLimit(get: () => TokenBucket, set: (b: TokenBucket) => void, now: number, heldUntil = 0): Limit {
    if (now < heldUntil) return { avail: 0, waitMs: heldUntil - now, take: () => undefined };
    const b = get();
    return { avail: available(b, now), waitMs: tryTake(b, now, 1).waitMs, take: (k) => set(takeUpTo(get(), now, k).state) };
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
    if (state !== w.state) { w.state = state; w.today = emptyWarmupDay(); }
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
    const rated = isReservedDomain(key.recipientDomain) ? [provider] : [provider, group];
    const limits = rated.map((e) =>
      bucketLimit(() => e.bucket, (b) => { e.bucket = b; }, now, Math.max(e.aimd.heldUntil, e.retryAfterUntil)));
    for (const p of campaign === undefined ? [domain] : [domain, campaign]) {
      if (p.halfOpenBucket !== undefined) limits.push(bucketLimit(() => p.halfOpenBucket!, (b) => { p.halfOpenBucket = b; }, now));
    }
    if (domain.domainBucket !== undefined) limits.push(bucketLimit(() => domain.domainBucket!, (b) => { domain.domainBucket = b; }, now));
    rollWarmup(domain, now);
    const w = domain.warmup;
    if (w !== undefined) {
      const left = warmupCap(w.ramp, w.state) - w.state.used;
      limits.push({ avail: left, waitMs: left >= 1 ? 0 : msUntilNextDay(now), take: (k) => { w.state = { ...w.state, used: w.state.used + k }; } });
    }
    return limits;
  }

  /** Takes as many of n as every budget admits now; otherwise says how long to wait for one. */
  function grant(n: number, key: SendKey): { granted: number; waitMs: number } {
    const limits = limitsFor(key, nowMs());
    const granted = Math.max(0, Math.floor(Math.min(n, ...limits.map((l) => l.avail))));
    if (granted > 0) for (const l of limits) l.take(granted);
    return { granted, waitMs: Math.max(o.minWaitMs, ...limits.filter((l) => l.avail < 1).map((l) => l.waitMs)) };
  }

  async function acquireMany(n: number, key: SendKey, signal?: AbortSignal): Promise<number> {
    if (n <= 0) return 0;
    for (;;) {
      signal?.throwIfAborted();
      const { granted, waitMs } = grant(n, key);
      if (granted > 0) return granted;
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

  function applyAimd(e: RateEntry, now: number, signal: AimdSignal, why: string, scope: AlertScope): void {
    const before = e.aimd.rate;
    const step = aimdObserve(e.aimd, e.aimdOpts, now, signal);
    e.aimd = step.state;
    if (step.change === undefined) return;
    e.bucket = setRate(e.bucket, now, e.aimd.rate, entries.burst(e.aimd.rate));
    if (step.change === 'decreased' || step.change === 'held') {
      const held = isHeld(e.aimd, now) ? `; held until ${new Date(e.aimd.heldUntil).toISOString()}` : '';
      alert('rate_reduced', scope, `${why}: ${before.toFixed(1)} → ${e.aimd.rate.toFixed(1)} msgs/s (recent deferrals ${(recentDeferralRatio(e.aimd) * 100).toFixed(1)}%)${held}`, now);
    }
  }

  function report(out: SendOutcome): void {
    const now = nowMs();
    const provider = entries.provider(out.provider, now);
    const groupName = receivingGroup(out.recipientDomain);
    const group = entries.group(out.provider, out.sendingDomain, groupName, now);
    const domain = entries.sendingDomain(out.sendingDomain, now);
    const campaign = out.campaignId === undefined ? undefined : entries.campaign(out.campaignId, now);
    const pauses = campaign === undefined ? [domain] : [campaign, domain];
    entries.sweep(now);
    const stats = (field: StatField): void => {
      for (const e of [provider, group, ...pauses]) recordInWindow(e.stats, now, field);
    };
    const groupScope: AlertScope = { provider: out.provider, sendingDomain: out.sendingDomain, receivingGroup: groupName };
    const day = domain.warmup?.today;
    switch (out.kind) {
      case 'accepted': {
        stats('attempts'); stats('accepted');
        if (day !== undefined) { day.attempts++; day.accepted++; }
        for (const p of pauses) recordInWindow(p.window, now, 'sent');
        const success: AimdSignal = out.latencyMs === undefined ? { kind: 'success' } : { kind: 'success', latencyMs: out.latencyMs };
        applyAimd(group, now, success, `latency ${out.latencyMs ?? 0} ms above target`, groupScope);
        applyAimd(provider, now, { kind: 'success' }, 'provider', { provider: out.provider });
        break;
      }
      case 'deferred': {
        stats('attempts');
        if (day !== undefined) day.attempts++;
        if (out.httpStatus === 429) {
          stats('deferred');
          if (out.retryAfterMs !== undefined) provider.retryAfterUntil = Math.max(provider.retryAfterUntil, now + out.retryAfterMs);
          applyAimd(provider, now, { kind: 'deferral', severity: 'throttle' }, 'provider returned 429', { provider: out.provider });
          break;
        }
        const cls = classifyDeferral(out);
        if (cls === 'recipient') break;
        stats('deferred');
        // Ref §6: a 4.7.28 / RP-00x day holds the ramp; only a provider block halves it.
        if (day !== undefined) { day.deferred++; if (cls === 'hard') day.throttleSignal = true; }
        applyAimd(group, now, { kind: 'deferral', severity: cls }, `${cls} deferral ${out.enhancedStatus ?? out.smtpCode ?? ''}`.trim(), groupScope);
        break;
      }
      case 'bounced_hard': {
        stats('bounced_hard');
        for (const p of pauses) recordInWindow(p.window, now, 'hardBounces');
        if (/5\.7\.515|SC-00\d/.test(`${out.enhancedStatus ?? ''} ${out.diagnostic ?? ''}`)) {
          // deliverability.md §4 hard stop: a provider block needs a human, never a timer.
          domain.breaker = breakerTrip(domain.breaker, now, `provider block ${out.enhancedStatus ?? ''} ${out.diagnostic ?? ''}`.trim(), true);
          if (day !== undefined) day.hardSignal = true;
          alert('paused', { sendingDomain: domain.id }, domain.breaker.reason ?? 'provider block', now);
        }
        break;
      }
      case 'complained':
        stats('complained');
        if (day !== undefined) day.complaints++;
        for (const p of pauses) recordInWindow(p.window, now, 'complaints');
        break;
      case 'bounced_soft': stats('bounced_soft'); break;
      case 'delivered': stats('delivered'); break;
      case 'failed': stats('attempts'); stats('failed'); break;
    }
    for (const p of pauses) checkBreaker(p, now);
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
      for (const e of entries.all()) {
        if (isRateEntry(e) && e.provider === scope.provider
          && (scope.sendingDomain === undefined || e.sendingDomain === undefined || e.sendingDomain === scope.sendingDomain)) {
          e.aimd = { ...e.aimd, heldUntil: 0 };
          e.retryAfterUntil = 0;
        }
      }
      alert('resumed', scope, 'holds cleared by operator', now);
    }
  }

  return {
    acquire: async (key, signal) => { await acquireMany(1, key, signal); },
    acquireMany,
    tryAcquireMany: (n, key) => grant(n, key).granted,
    report,
    status: () => {
      const now = nowMs();
      for (const e of entries.all()) if (!isRateEntry(e)) checkBreaker(e, now);
      return describeStatus(entries.all(), now, o);
    },
    resume,
  };
}
