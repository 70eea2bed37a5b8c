/**
 * The governor's learning side: feeds send outcomes into its entries (statistics, AIMD, breaker
 * windows, warm-up day counters) and moves breakers on, emitting the alerts. governor.ts owns
 * admission and wires this in; nothing here waits or reads the clock except through `nowMs`.
 *
 * `reportAccepted(key, n)` is the counted form the send stage uses for a chunk: its effect —
 * entries, their order, every number, every alert — is identical to n `report` calls of the same
 * accepted outcome at the same clock time (a fast-check property in test/deliverability). It
 * looks the key up once; while the next sends would only bump counters (the same entries, no
 * sweep, AIMD inside its interval or cool-down, no breaker transition) it adds them in one step,
 * and otherwise it applies one send the long way and looks again.
 */
import { aimdCountSuccesses, aimdObserve, isHeld, isQuietSuccess, recentDeferralRatio } from '../core/throttle/aimd.ts';
import type { AimdSignal } from '../core/throttle/aimd.ts';
import { breakerCheck, breakerQuietChecks, breakerTrip } from '../core/throttle/circuit-breaker.ts';
import { classifyDeferral } from '../core/throttle/deferral-class.ts';
import { receivingGroup } from '../core/throttle/receiving-group.ts';
import { clearWindow, isCountedAt, recordInWindow, windowTotals } from '../core/throttle/sliding-window.ts';
import { createTokenBucket, setRate } from '../core/throttle/token-bucket.ts';
import type { Entries, PauseEntry, RateEntry, StatField } from './governor-entries.ts';
import { isReservedDomain } from './reserved-domains.ts';
import type { ResolvedGovernorOptions } from './governor-options.ts';
import type { AlertScope, GovernorAlert, SendKey, SendOutcome } from './governor-types.ts';

type Alert = (kind: GovernorAlert['kind'], scope: AlertScope, reason: string, at: number) => void;

export function scopeOf(e: PauseEntry): AlertScope {
  return e.kind === 'campaign' ? { campaignId: e.id } : { sendingDomain: e.id };
}

/** The entries one outcome touches, looked up (and swept) in report's order. */
interface Touched {
  provider: RateEntry;
  group: RateEntry;
  groupName: string;
  domain: PauseEntry;
  pauses: PauseEntry[];
}

export function createReporter(entries: Entries, o: ResolvedGovernorOptions, nowMs: () => number, alert: Alert) {
  /** Moves a breaker on (cool-down, thresholds) and emits the alert for any transition. */
  function checkBreaker(e: PauseEntry, now: number): void {
    const step = breakerCheck(e.breaker, o.breaker, now, windowTotals(e.window, now));
    e.breaker = step.state;
    if (step.resetWindow) clearWindow(e.window);
    switch (step.transition) {
      case undefined:
        return;
      case 'opened':
        e.halfOpenBucket = undefined;
        alert('paused', scopeOf(e), e.breaker.reason ?? 'paused', now);
        return;
      case 'escalated':
        alert('paused', scopeOf(e), e.breaker.reason ?? 'paused', now);
        return;
      case 'half_opened':
        e.halfOpenBucket = createTokenBucket(o.halfOpenRatePerSec, 1, now);
        alert('resumed', scopeOf(e), `half-open at ${o.halfOpenRatePerSec}/s after cool-down`, now);
        return;
      case 'closed':
        e.halfOpenBucket = undefined;
        alert('resumed', scopeOf(e), `closed after ${o.breaker.halfOpenSamples} clean sends`, now);
        return;
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
      alert(
        'rate_reduced',
        scope,
        `${why}: ${before.toFixed(1)} → ${e.aimd.rate.toFixed(1)} msgs/s (recent deferrals `
          + `${(recentDeferralRatio(e.aimd) * 100).toFixed(1)}%)${held}`,
        now,
      );
    }
  }

  function touch(key: SendKey, now: number): Touched {
    const provider = entries.provider(key.provider, now);
    const groupName = receivingGroup(key.recipientDomain);
    const group = entries.group(key.provider, key.sendingDomain, groupName, now);
    const domain = entries.sendingDomain(key.sendingDomain, now);
    const campaign = key.campaignId === undefined ? undefined : entries.campaign(key.campaignId, now);
    const pauses = campaign === undefined ? [domain] : [campaign, domain];
    entries.sweep(now);
    return { provider, group, groupName, domain, pauses };
  }

  /** Whether outcomes to this recipient only count in statistics (reserved test domains). */
  const isExempt = (recipientDomain: string): boolean => o.exemptReservedDomains && isReservedDomain(recipientDomain);

  /** An exempt outcome: the status percentages see it, nothing reacts to it. */
  function applyExempt(t: Touched, out: SendOutcome, now: number, n: number): void {
    const fields: StatField[] =
      out.kind === 'accepted'
        ? ['attempts', 'accepted']
        : out.kind === 'deferred'
          ? ['attempts', 'deferred']
          : out.kind === 'failed'
            ? ['attempts', 'failed']
            : [out.kind];
    for (const e of [t.provider, t.group, ...t.pauses]) for (const f of fields) recordInWindow(e.stats, now, f, n);
    // the provider's own Retry-After is an instruction about the account, not an alarm: still obeyed
    if (out.httpStatus === 429 && out.retryAfterMs !== undefined)
      t.provider.retryAfterUntil = Math.max(t.provider.retryAfterUntil, now + out.retryAfterMs);
  }

  function apply(t: Touched, out: SendOutcome, now: number): void {
    if (isExempt(out.recipientDomain)) {
      applyExempt(t, out, now, 1);
      return;
    }
    const { provider, group, groupName, domain, pauses } = t;
    const stats = (field: StatField): void => {
      for (const e of [provider, group, ...pauses]) recordInWindow(e.stats, now, field);
    };
    const groupScope: AlertScope = {
      provider: out.provider,
      sendingDomain: out.sendingDomain,
      receivingGroup: groupName,
    };
    const day = domain.warmup?.today;
    switch (out.kind) {
      case 'accepted': {
        stats('attempts');
        stats('accepted');
        if (day !== undefined) {
          day.attempts++;
          day.accepted++;
        }
        for (const p of pauses) recordInWindow(p.window, now, 'sent');
        const success: AimdSignal =
          out.latencyMs === undefined ? { kind: 'success' } : { kind: 'success', latencyMs: out.latencyMs };
        applyAimd(group, now, success, `latency ${out.latencyMs ?? 0} ms above target`, groupScope);
        applyAimd(provider, now, { kind: 'success' }, 'provider', { provider: out.provider });
        break;
      }
      case 'deferred': {
        stats('attempts');
        if (day !== undefined) day.attempts++;
        if (out.httpStatus === 429) {
          stats('deferred');
          if (out.retryAfterMs !== undefined)
            provider.retryAfterUntil = Math.max(provider.retryAfterUntil, now + out.retryAfterMs);
          applyAimd(provider, now, { kind: 'deferral', severity: 'throttle' }, 'provider returned 429', {
            provider: out.provider,
          });
          break;
        }
        const cls = classifyDeferral(out);
        if (cls === 'recipient') break;
        stats('deferred');
        // Ref §6: a 4.7.28 / RP-00x day holds the ramp; only a provider block halves it.
        if (day !== undefined) {
          day.deferred++;
          if (cls === 'hard') day.throttleSignal = true;
        }
        applyAimd(
          group,
          now,
          { kind: 'deferral', severity: cls },
          `${cls} deferral ${out.enhancedStatus ?? out.smtpCode ?? ''}`.trim(),
          groupScope,
        );
        break;
      }
      case 'bounced_hard': {
        stats('bounced_hard');
        for (const p of pauses) recordInWindow(p.window, now, 'hardBounces');
        if (/5\.7\.515|SC-00\d/.test(`${out.enhancedStatus ?? ''} ${out.diagnostic ?? ''}`)) {
          // deliverability.md §4 hard stop: a provider block needs a human, never a timer.
          domain.breaker = breakerTrip(
            domain.breaker,
            now,
            `provider block ${out.enhancedStatus ?? ''} ${out.diagnostic ?? ''}`.trim(),
            true,
          );
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
      case 'bounced_soft':
        stats('bounced_soft');
        break;
      case 'delivered':
        stats('delivered');
        break;
      case 'failed':
        stats('attempts');
        stats('failed');
        break;
    }
    for (const p of pauses) checkBreaker(p, now);
  }

  function report(out: SendOutcome): void {
    const now = nowMs();
    apply(touch(out, now), out, now);
  }

  /** How many of the next `max` identical accepted sends would only bump counters (see top); t is
   *  the first one's look-up, and the later look-ups must change nothing (no sweep, same entries). */
  function quietAccepts(t: Touched, latencyMs: number | undefined, now: number, max: number): number {
    if (entries.isSweepDue(now)) return 0;
    if (!entries.isCurrent(t.provider) || !entries.isCurrent(t.group) || !t.pauses.every(entries.isCurrent)) return 0;
    if (
      !isQuietSuccess(t.group.aimd, t.group.aimdOpts, now, latencyMs)
      || !isQuietSuccess(t.provider.aimd, t.provider.aimdOpts, now)
    )
      return 0;
    let quiet = max;
    for (const p of t.pauses) {
      const sentPerCheck = isCountedAt(p.window, now) ? 1 : 0;
      quiet = breakerQuietChecks(p.breaker, o.breaker, now, windowTotals(p.window, now), sentPerCheck, quiet);
    }
    return quiet;
  }

  /** `apply` of n accepted sends, when quietAccepts said they only bump counters. */
  function countAccepts(t: Touched, latencyMs: number | undefined, now: number, n: number): void {
    for (const e of [t.provider, t.group, ...t.pauses]) {
      recordInWindow(e.stats, now, 'attempts', n);
      recordInWindow(e.stats, now, 'accepted', n);
    }
    const day = t.domain.warmup?.today;
    if (day !== undefined) {
      day.attempts += n;
      day.accepted += n;
    }
    for (const p of t.pauses) recordInWindow(p.window, now, 'sent', n);
    t.group.aimd = aimdCountSuccesses(t.group.aimd, t.group.aimdOpts, now, n, latencyMs);
    t.provider.aimd = aimdCountSuccesses(t.provider.aimd, t.provider.aimdOpts, now, n);
  }

  function reportAccepted(key: SendKey, n: number, latencyMs?: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`reportAccepted needs a whole count >= 0 (got ${n})`);
    if (n === 0) return;
    const out: SendOutcome =
      latencyMs === undefined ? { ...key, kind: 'accepted' } : { ...key, kind: 'accepted', latencyMs };
    const now = nowMs();
    // Loop invariant: t is the look-up of the next send, already done; its apply is not.
    let t = touch(out, now);
    // n exempt sends: n look-ups at one time change nothing after the first (no second sweep)
    if (isExempt(key.recipientDomain)) {
      applyExempt(t, out, now, n);
      return;
    }
    for (let left = n; left > 0; ) {
      const quiet = quietAccepts(t, latencyMs, now, left);
      if (quiet > 0) {
        countAccepts(t, latencyMs, now, quiet);
        left -= quiet;
        if (left === 0) break;
        // the next send's look-up would change nothing (quietAccepts checked), so t stands
      }
      apply(t, out, now);
      if (--left > 0) t = touch(out, now);
    }
  }

  return { checkBreaker, report, reportAccepted };
}
