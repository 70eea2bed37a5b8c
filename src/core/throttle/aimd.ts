/**
 * AIMD rate controller (pure): additive increase, multiplicative decrease, as in TCP congestion
 * control and deliverability.md §5. One controller runs per key (provider, or sending domain ×
 * receiving group); the governor turns its `rate` into a token bucket. State is an immutable value.
 *
 * - Decrease is immediate, on the event: a throttle deferral when the recent deferral ratio is above
 *   `decreaseAbove`, any "hard" signal (421 4.7.28, RP-00x, 4.7.650/651; also holds the key for
 *   `hardHoldMs`), or a latency above `latencyTargetMs`. A cool-down between decreases makes one
 *   burst of deferrals (many sends in flight when the receiver pushed back) count once.
 * - Increase is slow: once per `increaseIntervalMs`, by `increaseStep` (capped at
 *   `increaseMaxFraction` of the rate, so small rates probe gently), only when the recent
 *   deferral ratio is below `increaseBelow`, outside the cool-down, and only when the current rate
 *   was actually used (an idle key must not creep up to the ceiling and then burst).
 * - Between the two thresholds the rate holds (§5: 1 % – 5 %).
 * - The "recent deferral ratio" is an exponentially decayed ratio (half-life `ratioHalfLifeMs`):
 *   O(1) memory and no window edges.
 * Invariant: floor <= rate <= ceiling after every call (fast-check property).
 */

export interface AimdOptions {
  /** Lowest rate the controller will set (msgs/s); never 0 so a key can recover by itself. */
  floor: number;
  /** Highest rate (msgs/s): the provider's published limit or the warm-up cap. */
  ceiling: number;
  /** Rate a new key starts at. */
  initial: number;
  /** Added to the rate per clean interval (msgs/s). */
  increaseStep: number;
  /** At low rates the step is at most this fraction of the current rate (a fixed +10/s would be a
   *  200 % overshoot at 5/s); above increaseStep / fraction the increase is purely additive. */
  increaseMaxFraction: number;
  increaseIntervalMs: number;
  /** Multiplier on a throttle deferral (deliverability.md §5: 0.7). */
  decreaseFactor: number;
  /** Multiplier on a hard signal or when the recent deferral ratio exceeds `severeAbove` (§5: 0.5). */
  severeDecreaseFactor: number;
  /** Recent deferral ratio above which a deferral decreases the rate (§4: 5 %). */
  decreaseAbove: number;
  /** Recent deferral ratio above which the decrease uses `severeDecreaseFactor`. */
  severeAbove: number;
  /** Recent deferral ratio below which the rate may grow (§5: 1 %). */
  increaseBelow: number;
  /** Minimum time between two decreases, and after a decrease before any increase. */
  decreaseCooldownMs: number;
  /** How long a hard signal stops the key entirely (§3: Gmail 4.7.28 ≥ 10 min). */
  hardHoldMs: number;
  /** Latency above this (ms) is a slow-down signal; undefined disables it. */
  latencyTargetMs: number | undefined;
  /** Multiplier applied when latency is above target. */
  latencyDecreaseFactor: number;
  /** Half-life of the decayed deferral ratio. */
  ratioHalfLifeMs: number;
  /** Fraction of rate × interval that must have been attempted for the interval to count as used. */
  minUtilisation: number;
}

export interface AimdState {
  readonly rate: number;
  /** Epoch ms of the last decrease (-Infinity when none). */
  readonly lastDecreaseAt: number;
  /** Epoch ms until which the key must not send at all (hard signal); 0 when not held. */
  readonly heldUntil: number;
  /** Start of the current increase interval and the attempts seen in it. */
  readonly intervalStart: number;
  readonly intervalAttempts: number;
  /** Decayed attempt and deferral weights and when they were last decayed. */
  readonly decayedAttempts: number;
  readonly decayedDeferrals: number;
  readonly decayedAt: number;
}

export type AimdSignal = { kind: 'success'; latencyMs?: number } | { kind: 'deferral'; severity: 'throttle' | 'hard' };

export interface AimdStep {
  state: AimdState;
  /** What changed the rate, when it changed. */
  change: 'increased' | 'decreased' | 'held' | undefined;
}

export function createAimd(opts: AimdOptions, nowMs: number): AimdState {
  return {
    rate: clamp(opts.initial, opts),
    lastDecreaseAt: Number.NEGATIVE_INFINITY,
    heldUntil: 0,
    intervalStart: nowMs,
    intervalAttempts: 0,
    decayedAttempts: 0,
    decayedDeferrals: 0,
    decayedAt: nowMs,
  };
}

function clamp(rate: number, opts: AimdOptions): number {
  const floor = Math.min(opts.floor, opts.ceiling);
  return Math.min(opts.ceiling, Math.max(floor, rate));
}

/** The decayed deferral ratio at `nowMs` (0 when nothing was attempted recently). */
export function recentDeferralRatio(state: AimdState): number {
  return state.decayedAttempts > 0 ? state.decayedDeferrals / state.decayedAttempts : 0;
}

function decay(state: AimdState, opts: AimdOptions, nowMs: number, deferred: boolean): AimdState {
  const dt = Math.max(0, nowMs - state.decayedAt);
  const keep = 0.5 ** (dt / opts.ratioHalfLifeMs);
  return {
    ...state,
    decayedAttempts: state.decayedAttempts * keep + 1,
    decayedDeferrals: state.decayedDeferrals * keep + (deferred ? 1 : 0),
    decayedAt: Math.max(state.decayedAt, nowMs),
    intervalAttempts: state.intervalAttempts + 1,
  };
}

function decrease(state: AimdState, opts: AimdOptions, nowMs: number, factor: number): AimdStep {
  if (nowMs - state.lastDecreaseAt < opts.decreaseCooldownMs) return { state, change: undefined };
  const rate = clamp(state.rate * factor, opts);
  return {
    state: { ...state, rate, lastDecreaseAt: nowMs, intervalStart: nowMs, intervalAttempts: 0 },
    change: 'decreased',
  };
}

function maybeIncrease(state: AimdState, opts: AimdOptions, nowMs: number): AimdStep {
  const elapsed = nowMs - state.intervalStart;
  if (elapsed < opts.increaseIntervalMs) return { state, change: undefined };
  const used = state.intervalAttempts >= opts.minUtilisation * state.rate * (elapsed / 1000);
  const calm = recentDeferralRatio(state) < opts.increaseBelow;
  const cooled = nowMs - state.lastDecreaseAt >= opts.decreaseCooldownMs;
  const next = { ...state, intervalStart: nowMs, intervalAttempts: 0 };
  if (used && calm && cooled && state.rate < opts.ceiling) {
    const step = Math.min(opts.increaseStep, state.rate * opts.increaseMaxFraction);
    return { state: { ...next, rate: clamp(state.rate + step, opts) }, change: 'increased' };
  }
  return { state: next, change: undefined };
}

/** Feeds one outcome to the controller. */
export function aimdObserve(state: AimdState, opts: AimdOptions, nowMs: number, signal: AimdSignal): AimdStep {
  if (signal.kind === 'deferral') {
    const counted = decay(state, opts, nowMs, true);
    if (signal.severity === 'hard') {
      const step = decrease(counted, opts, nowMs, opts.severeDecreaseFactor);
      const heldUntil = Math.max(counted.heldUntil, nowMs + opts.hardHoldMs);
      return { state: { ...step.state, heldUntil }, change: step.change ?? 'held' };
    }
    const ratio = recentDeferralRatio(counted);
    if (ratio <= opts.decreaseAbove) return { state: counted, change: undefined };
    return decrease(counted, opts, nowMs, ratio > opts.severeAbove ? opts.severeDecreaseFactor : opts.decreaseFactor);
  }
  const counted = decay(state, opts, nowMs, false);
  if (opts.latencyTargetMs !== undefined && signal.latencyMs !== undefined && signal.latencyMs > opts.latencyTargetMs) {
    return decrease(counted, opts, nowMs, opts.latencyDecreaseFactor);
  }
  return maybeIncrease(counted, opts, nowMs);
}

/**
 * True when one more success at nowMs would only be counted: no decrease (inside the cool-down
 * when latency is over target) and no interval end (so no increase). Neither `lastDecreaseAt` nor
 * `intervalStart` moves on such a step, so every further success at nowMs is quiet too.
 */
export function isQuietSuccess(state: AimdState, opts: AimdOptions, nowMs: number, latencyMs?: number): boolean {
  // the same comparisons as aimdObserve → decrease / maybeIncrease, so the answer is exact
  if (opts.latencyTargetMs !== undefined && latencyMs !== undefined && latencyMs > opts.latencyTargetMs) {
    return nowMs - state.lastDecreaseAt < opts.decreaseCooldownMs;
  }
  return nowMs - state.intervalStart < opts.increaseIntervalMs;
}

/**
 * n successes at nowMs in one call: the state is bit-for-bit what n aimdObserve calls would give.
 * Only allowed while isQuietSuccess holds (RangeError otherwise). The decayed attempt weight
 * must round as n separate additions would (x + 1 + 1 ≠ x + 2 in floating point): addOnes.
 */
export function aimdCountSuccesses(
  state: AimdState,
  opts: AimdOptions,
  nowMs: number,
  n: number,
  latencyMs?: number,
): AimdState {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`aimdCountSuccesses needs a whole count >= 0 (got ${n})`);
  if (n === 0) return state;
  if (!isQuietSuccess(state, opts, nowMs, latencyMs)) {
    throw new RangeError(
      `aimdCountSuccesses: a success at ${nowMs} would change the rate (interval from `
        + `${state.intervalStart}, last decrease ${state.lastDecreaseAt}); observe it with aimdObserve`,
    );
  }
  // decay(), unrolled: the first step decays by the time since decayedAt; from then on
  // decayedAt >= nowMs, so every later step decays by the same factor (dt = 0)
  const first = 0.5 ** (Math.max(0, nowMs - state.decayedAt) / opts.ratioHalfLifeMs);
  let attempts = state.decayedAttempts * first + 1;
  let deferrals = state.decayedDeferrals * first + 0;
  const at = Math.max(state.decayedAt, nowMs);
  const keep = 0.5 ** (Math.max(0, nowMs - at) / opts.ratioHalfLifeMs);
  if (keep === 1) {
    // x * 1 is x, and deferrals (never -0 after "+ 0") stay as they are
    attempts = addOnes(attempts, n - 1);
  } else {
    for (let i = 1; i < n; i++) {
      attempts = attempts * keep + 1;
      deferrals = deferrals * keep + 0;
    }
  }
  return {
    ...state,
    decayedAttempts: attempts,
    decayedDeferrals: deferrals,
    decayedAt: at,
    intervalAttempts: state.intervalAttempts + n,
  };
}

/**
 * x + 1 + 1 + … (k ones, rounding after each addition) without k additions. Within a binade
 * [B/2, B) whose spacing is at most 1, adding 1 is exact while the sum stays below B, so x + j is
 * the same number; only a step across B rounds, and that one is done as a real addition. So the
 * cost is one step per power of two crossed. B - x is exact (Sterbenz: B/2 <= x <= B).
 */
export function addOnes(x: number, k: number): number {
  while (k > 0) {
    if (!(x > 0 && x < 2 ** 53)) {
      x += 1;
      k--;
      continue;
    } // 0, NaN, ±Infinity, huge or negative: the plain way
    let top = 2 ** Math.ceil(Math.log2(x));
    while (top <= x) top *= 2; // log2 may round; make x < top <= 2x hold exactly
    while (top / 2 > x) top /= 2;
    const exactSteps = Math.ceil(top - x) - 1; // largest j with x + j < top
    if (exactSteps >= 1) {
      const j = Math.min(k, exactSteps);
      x += j;
      k -= j;
    } else {
      x += 1;
      k--;
    }
  }
  return x;
}

/** Applies a new ceiling (e.g. the warm-up cap moved); the rate is clamped into range at once. */
export function aimdSetCeiling(
  state: AimdState,
  opts: AimdOptions,
  ceiling: number,
): { state: AimdState; opts: AimdOptions } {
  const next = { ...opts, ceiling };
  return { state: { ...state, rate: clamp(state.rate, next) }, opts: next };
}

/** True while a hard signal holds the key. */
export function isHeld(state: AimdState, nowMs: number): boolean {
  return nowMs < state.heldUntil;
}
