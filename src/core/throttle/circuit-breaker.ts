/**
 * Circuit breaker over hard-bounce and complaint rates (pure state machine). The caller keeps the
 * counts in a sliding window (sliding-window.ts) and passes the totals in; this file only decides.
 *
 *   closed ──rate over threshold──▶ open (paused, reason)
 *   open ──cool-down elapsed──▶ half_open (sends again at a reduced rate; window cleared)
 *   half_open ──halfOpenSamples clean sends──▶ closed      half_open ──over threshold──▶ open
 *   open | half_open ──operator resume──▶ closed
 * A trip marked `requiresOperator` (hard stops such as 5.7.515 / SC-00x, or complaints at the
 * operator-only rate, §4: 0.3 %) never half-opens by itself.
 *
 * Invariant (fast-check property): the breaker never reaches closed from open without either the
 * cool-down having elapsed since it opened or an operator resume.
 * Defaults come from deliverability.md §9: complaints pause at 0.2 % (our margin under Gmail's
 * 0.3 %), campaign hard bounces stop at > 2 %.
 */

export type BreakerPhase = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  /** Hard bounces / sent at or above which the breaker opens (§9: 2 %). */
  hardBounceRate: number;
  /** Complaints / sent at or above which the breaker opens (§9: 0.2 %). */
  complaintRate: number;
  /** Complaints / sent at or above which only an operator may resume (§4 hard stop: 0.3 %). */
  operatorComplaintRate: number;
  /** Sends in the window before a rate is judged; below it, the count that would trip at
   *  minSamples (threshold × minSamples events) still trips. */
  minSamples: number;
  /** Time open before half-opening. */
  cooldownMs: number;
  /** Clean sends needed in half-open before closing. */
  halfOpenSamples: number;
}

export interface BreakerState {
  readonly phase: BreakerPhase;
  readonly reason: string | undefined;
  /** When the current phase began (epoch ms). */
  readonly since: number;
  /** When the breaker last opened (epoch ms); -Infinity when never. */
  readonly openedAt: number;
  readonly requiresOperator: boolean;
}

export interface BreakerTotals {
  sent: number;
  hardBounces: number;
  complaints: number;
}

export interface BreakerStep {
  state: BreakerState;
  /** `escalated`: still open, but the rate reached operatorComplaintRate, so no cool-down any more. */
  transition: 'opened' | 'escalated' | 'half_opened' | 'closed' | undefined;
  /** True when the caller must clear its window (half-open judges fresh traffic only). */
  resetWindow: boolean;
}

export function createBreaker(nowMs: number): BreakerState {
  return {
    phase: 'closed',
    reason: undefined,
    since: nowMs,
    openedAt: Number.NEGATIVE_INFINITY,
    requiresOperator: false,
  };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

function judge(count: number, sent: number, threshold: number, minSamples: number, what: string): string | undefined {
  const rate = sent > 0 ? count / sent : count > 0 ? 1 : 0;
  const enough = sent >= minSamples || count >= Math.max(1, Math.ceil(threshold * minSamples));
  if (!enough || rate < threshold) return undefined;
  return `${what} rate ${pct(rate)} (${count} of ${sent} sent) reached the ${pct(threshold)} threshold`;
}

/** Why the totals breach a threshold, or undefined when they do not. */
export function breachReason(
  opts: BreakerOptions,
  totals: BreakerTotals,
  minSamples = opts.minSamples,
): string | undefined {
  return (
    judge(totals.complaints, totals.sent, opts.complaintRate, minSamples, 'complaint')
    ?? judge(totals.hardBounces, totals.sent, opts.hardBounceRate, minSamples, 'hard-bounce')
  );
}

function open(nowMs: number, reason: string, requiresOperator: boolean): BreakerState {
  return { phase: 'open', reason, since: nowMs, openedAt: nowMs, requiresOperator };
}

/** The reason when complaints reached the operator-only rate, else undefined. */
function operatorReason(opts: BreakerOptions, totals: BreakerTotals, minSamples: number): string | undefined {
  const only = { ...opts, complaintRate: opts.operatorComplaintRate, hardBounceRate: Number.POSITIVE_INFINITY };
  const reason = breachReason(only, { ...totals, hardBounces: 0 }, minSamples);
  return reason === undefined ? undefined : `${reason}; an operator must resume`;
}

function openOnBreach(
  nowMs: number,
  opts: BreakerOptions,
  totals: BreakerTotals,
  reason: string,
  minSamples: number,
): BreakerStep {
  const hard = operatorReason(opts, totals, minSamples);
  return { state: open(nowMs, hard ?? reason, hard !== undefined), transition: 'opened', resetWindow: false };
}

/** Moves the breaker on: checks thresholds and the cool-down. Call on every report and acquire. */
export function breakerCheck(
  state: BreakerState,
  opts: BreakerOptions,
  nowMs: number,
  totals: BreakerTotals,
): BreakerStep {
  switch (state.phase) {
    case 'closed': {
      const reason = breachReason(opts, totals);
      if (reason === undefined) return { state, transition: undefined, resetWindow: false };
      return openOnBreach(nowMs, opts, totals, reason, opts.minSamples);
    }
    case 'open': {
      // Late complaints keep arriving while paused; past the hard-stop rate a timer may not resume.
      const hard = state.requiresOperator ? undefined : operatorReason(opts, totals, opts.minSamples);
      if (hard !== undefined)
        return {
          state: { ...state, reason: hard, requiresOperator: true },
          transition: 'escalated',
          resetWindow: false,
        };
      if (state.requiresOperator || nowMs - state.openedAt < opts.cooldownMs) {
        return { state, transition: undefined, resetWindow: false };
      }
      return {
        state: {
          ...state,
          phase: 'half_open',
          since: nowMs,
          reason: `half-open after cool-down (was: ${state.reason ?? 'unknown'})`,
        },
        transition: 'half_opened',
        resetWindow: true,
      };
    }
    case 'half_open': {
      const reason = breachReason(opts, totals, opts.halfOpenSamples);
      if (reason !== undefined) return openOnBreach(nowMs, opts, totals, reason, opts.halfOpenSamples);
      if (totals.sent < opts.halfOpenSamples) return { state, transition: undefined, resetWindow: false };
      return {
        state: { ...state, phase: 'closed', since: nowMs, reason: undefined },
        transition: 'closed',
        resetWindow: false,
      };
    }
  }
}

/**
 * How many of the next `max` checks make no transition, when the k-th check sees `sentPerCheck`
 * × k more sends than `totals` (the other counts unchanged) at the same nowMs — e.g. a run of
 * accepted sends, each recorded and then checked. A check without a transition leaves the state
 * as it is, so the caller may skip that many checks. Exactly the brute-force answer, in O(1):
 * - a threshold whose count alone is enough (count >= threshold × minSamples) is breached by a
 *   prefix of the sends (count / sent only falls), so if at all then at the first check;
 * - otherwise it needs sent >= minSamples, and then is breached by an interval that starts there;
 * - half-open closes once sent >= halfOpenSamples; the cool-down does not depend on sent.
 * So the first transition, if any, is at the first check or where sent first reaches minSamples or
 * halfOpenSamples; breakerCheck is evaluated at those candidates only.
 */
export function breakerQuietChecks(
  state: BreakerState,
  opts: BreakerOptions,
  nowMs: number,
  totals: BreakerTotals,
  sentPerCheck: number,
  max: number,
): number {
  if (!Number.isInteger(sentPerCheck) || sentPerCheck < 0)
    throw new RangeError(`breakerQuietChecks needs a whole sentPerCheck >= 0 (got ${sentPerCheck})`);
  if (!(max >= 1)) return 0;
  // the candidates in ascending order, each checked once (0 = not reached within max)
  const a = firstReaching(totals.sent, sentPerCheck, opts.minSamples, max);
  const b = firstReaching(totals.sent, sentPerCheck, opts.halfOpenSamples, max);
  let last = 0;
  for (const k of [1, Math.min(a, b), Math.max(a, b)]) {
    if (k <= last) continue;
    last = k;
    if (
      breakerCheck(state, opts, nowMs, {
        sent: totals.sent + sentPerCheck * k,
        hardBounces: totals.hardBounces,
        complaints: totals.complaints,
      }).transition !== undefined
    )
      return k - 1;
  }
  return max;
}

/** First k in 1..max with sent + perCheck × k >= m (the comparison breakerCheck makes), else 0. */
function firstReaching(sent: number, perCheck: number, m: number, max: number): number {
  if (perCheck === 0) return 0;
  let k = Math.min(max, Math.max(1, Math.ceil((m - sent) / perCheck)));
  while (k > 1 && sent + perCheck * (k - 1) >= m) k--; // guard against rounding in the division above
  while (k <= max && sent + perCheck * k < m) k++;
  return k <= max ? k : 0;
}

/** Opens the breaker at once, e.g. on a hard block (5.7.515, SC-00x) that needs a human. */
export function breakerTrip(
  state: BreakerState,
  nowMs: number,
  reason: string,
  requiresOperator: boolean,
): BreakerState {
  if (state.phase === 'open' && state.requiresOperator && !requiresOperator) return state;
  return open(nowMs, reason, requiresOperator);
}

/** Operator override: closes the breaker whatever its phase. */
export function breakerResume(state: BreakerState, nowMs: number, _by: { operator: true }): BreakerState {
  if (state.phase === 'closed') return state;
  return { ...state, phase: 'closed', since: nowMs, reason: undefined, requiresOperator: false };
}
