/**
 * Token bucket maths (pure). A bucket is a small immutable value: every operation returns a new
 * bucket and never mutates its argument, so callers may keep old values for comparison and tests
 * can replay sequences. Time is passed in as milliseconds since the epoch.
 *
 * Invariant: over any window of length t ms a bucket with rate r (per second) and burst b never
 * admits more than r * t / 1000 + b units, whatever the order of calls (a fast-check property in
 * test/core/throttle/token-bucket.test.ts). Refill is continuous; tokens never exceed `burst`.
 * A rate of Infinity means "unlimited": every take succeeds.
 */

export interface TokenBucket {
  /** Units per second. */
  readonly rate: number;
  /** Largest number of units that may be taken at once after a pause. */
  readonly burst: number;
  /** Tokens available at `at` (fractional). */
  readonly tokens: number;
  /** Epoch ms of the last refill. */
  readonly at: number;
}

export interface TakeResult {
  ok: boolean;
  /** The bucket after the call (refilled; reduced by n when ok). */
  state: TokenBucket;
  /** 0 when ok; otherwise ms until n units will be available (Infinity when n > burst). */
  waitMs: number;
}

/** A bucket that starts full. */
export function createTokenBucket(rate: number, burst: number, nowMs: number): TokenBucket {
  if (!(rate >= 0) || !(burst >= 0))
    throw new RangeError(`token bucket needs rate >= 0 and burst >= 0 (got ${rate}, ${burst})`);
  return { rate, burst, tokens: burst, at: nowMs };
}

/** The bucket with tokens refilled up to `nowMs` (time never runs backwards here). */
export function refill(bucket: TokenBucket, nowMs: number): TokenBucket {
  if (nowMs <= bucket.at) return bucket;
  if (bucket.rate === Infinity) return { ...bucket, tokens: bucket.burst, at: nowMs };
  const tokens = Math.min(bucket.burst, bucket.tokens + ((nowMs - bucket.at) * bucket.rate) / 1000);
  return { ...bucket, tokens, at: nowMs };
}

/** Whole units that could be taken right now. */
export function available(bucket: TokenBucket, nowMs: number): number {
  if (bucket.rate === Infinity) return Number.POSITIVE_INFINITY;
  return Math.floor(refill(bucket, nowMs).tokens + 1e-9);
}

/** Takes n units if they are all available now; otherwise says how long to wait. */
export function tryTake(bucket: TokenBucket, nowMs: number, n = 1): TakeResult {
  const state = refill(bucket, nowMs);
  if (state.rate === Infinity || n <= 0) return { ok: true, state, waitMs: 0 };
  if (state.tokens + 1e-9 >= n) {
    return { ok: true, state: { ...state, tokens: Math.max(0, state.tokens - n) }, waitMs: 0 };
  }
  if (n > state.burst || state.rate === 0) return { ok: false, state, waitMs: Number.POSITIVE_INFINITY };
  return { ok: false, state, waitMs: Math.ceil(((n - state.tokens) * 1000) / state.rate) };
}

/** Takes as many whole units as are available, up to max. */
export function takeUpTo(bucket: TokenBucket, nowMs: number, max: number): { taken: number; state: TokenBucket } {
  const state = refill(bucket, nowMs);
  if (state.rate === Infinity) return { taken: Math.max(0, max), state };
  const taken = Math.max(0, Math.min(max, Math.floor(state.tokens + 1e-9)));
  return { taken, state: { ...state, tokens: Math.max(0, state.tokens - taken) } };
}

/**
 * Changes rate and burst, first refilling at the old rate up to now so the change is not applied
 * retroactively. Tokens above the new burst are dropped (a lower rate takes effect at once).
 */
export function setRate(bucket: TokenBucket, nowMs: number, rate: number, burst: number): TokenBucket {
  if (!(rate >= 0) || !(burst >= 0))
    throw new RangeError(`token bucket needs rate >= 0 and burst >= 0 (got ${rate}, ${burst})`);
  const state = refill(bucket, nowMs);
  const tokens = state.rate === Infinity ? burst : Math.min(burst, state.tokens);
  return { rate, burst, tokens, at: state.at };
}
