/**
 * Token buckets by key (a source address, a hashed API key) with a hard cap on how many keys are
 * remembered. Owns only counting: no HTTP, no clock (time comes in as epoch ms). The maths is
 * core/throttle/token-bucket.ts, so the bucket invariant holds per key: over any window of t ms a
 * key is admitted at most burst + rate × t / 60 000 times, as long as its bucket is not evicted.
 *
 * Eviction drops the least recently seen key once more than `maxKeys` are tracked. A forgotten key
 * starts again with a full bucket, so eviction can only make the limiter more lenient for that
 * key, never refuse anyone early; and memory stays bounded however many addresses or fake keys
 * an attacker rotates through.
 */
import { createTokenBucket, tryTake, type TokenBucket } from '../../core/throttle/token-bucket.ts';

export interface KeyedLimiterOptions {
  /** Admissions per minute per key; 0 means no limit (every take succeeds, nothing is stored). */
  perMinute: number;
  /** Admissions allowed at once after a pause (≥ 1). */
  burst: number;
  /** Most keys remembered; the least recently seen is forgotten beyond this. */
  maxKeys: number;
}

export interface KeyedLimiter {
  /** Would one more admission for `key` at `nowMs` fit? Does not take it (see commit); a refusal
   *  marks the key as recently seen. */
  check(key: string, nowMs: number): { ok: boolean; waitMs: number };
  /** Takes one admission for `key` (call after every limiter consulted for a request said ok). */
  commit(key: string, nowMs: number): void;
  /** Keys currently remembered. */
  size(): number;
}

export function createKeyedLimiter(options: KeyedLimiterOptions): KeyedLimiter {
  if (!(options.perMinute >= 0) || !(options.burst >= 1) || !(options.maxKeys >= 1)) {
    throw new RangeError(
      `keyed limiter needs perMinute >= 0, burst >= 1, maxKeys >= 1 (got ${options.perMinute}, `
        + `${options.burst}, ${options.maxKeys})`,
    );
  }
  const disabled = options.perMinute === 0;
  const rate = options.perMinute / 60;
  // A Map iterates in insertion order; re-inserting on every touch keeps the oldest key first.
  const buckets = new Map<string, TokenBucket>();

  function current(key: string, nowMs: number): TokenBucket {
    return buckets.get(key) ?? createTokenBucket(rate, options.burst, nowMs);
  }

  function store(key: string, bucket: TokenBucket): void {
    buckets.delete(key);
    buckets.set(key, bucket);
    while (buckets.size > options.maxKeys) {
      const oldest = buckets.keys().next().value as string;
      buckets.delete(oldest);
    }
  }

  return {
    check(key, nowMs) {
      if (disabled) return { ok: true, waitMs: 0 };
      const r = tryTake(current(key, nowMs), nowMs);
      // A refused key is touched too (r.state is only refilled), so a key that keeps knocking is
      // never the one forgotten, and never gets a fresh bucket from other keys' churn.
      if (!r.ok) store(key, r.state);
      return { ok: r.ok, waitMs: r.waitMs };
    },
    commit(key, nowMs) {
      if (disabled) return;
      const r = tryTake(current(key, nowMs), nowMs);
      store(key, r.state);
    },
    size: () => buckets.size,
  };
}
