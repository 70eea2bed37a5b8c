/**
 * Sliding-window counters with bounded memory (pure, no clock). The window is a ring of fixed
 * time buckets; each bucket holds one count per named field. Memory is `buckets × fields` numbers
 * whatever the traffic. A total covers the current bucket and the `buckets - 1` before it, so the
 * window is between (buckets - 1) × bucketMs and buckets × bucketMs long: exact enough for rates.
 *
 * This is a small *mutable* object (unlike the token bucket): `record` updates it in place,
 * because the governor records one event per send and copying arrays each time would dominate.
 */

export interface SlidingWindow<F extends string> {
  readonly fields: readonly F[];
  readonly bucketMs: number;
  /** Start (epoch ms) of the period each slot currently holds; -1 when empty. */
  readonly starts: number[];
  /** counts[slot][fieldIndex]. */
  readonly counts: number[][];
}

export function createSlidingWindow<F extends string>(
  fields: readonly F[],
  opts: { windowMs: number; buckets: number },
): SlidingWindow<F> {
  if (!(opts.buckets >= 1) || !(opts.windowMs > 0))
    throw new RangeError(`sliding window needs windowMs > 0 and buckets >= 1`);
  const bucketMs = Math.max(1, Math.ceil(opts.windowMs / opts.buckets));
  return {
    fields,
    bucketMs,
    starts: Array.from({ length: opts.buckets }, () => -1),
    counts: Array.from({ length: opts.buckets }, () => fields.map(() => 0)),
  };
}

/** Adds n to field at time nowMs. Events older than the slot's current period are ignored. */
export function recordInWindow<F extends string>(w: SlidingWindow<F>, nowMs: number, field: F, n = 1): void {
  const index = w.fields.indexOf(field);
  if (index < 0) throw new RangeError(`unknown sliding-window field ${field}`);
  const period = Math.floor(nowMs / w.bucketMs);
  const start = period * w.bucketMs;
  const slot = period % w.starts.length;
  const row = w.counts[slot]!;
  if (w.starts[slot]! > start) return;
  if (w.starts[slot] !== start) {
    w.starts[slot] = start;
    for (let i = 0; i < row.length; i++) row[i] = 0;
  }
  row[index]! += n;
}

/** Whether an event recorded at nowMs would count (false when its slot already holds a later period). */
export function isCountedAt<F extends string>(w: SlidingWindow<F>, nowMs: number): boolean {
  const period = Math.floor(nowMs / w.bucketMs);
  return w.starts[period % w.starts.length]! <= period * w.bucketMs;
}

/** Totals per field over the window ending at nowMs. */
export function windowTotals<F extends string>(w: SlidingWindow<F>, nowMs: number): Record<F, number> {
  const current = Math.floor(nowMs / w.bucketMs) * w.bucketMs;
  const oldest = current - (w.starts.length - 1) * w.bucketMs;
  // plain loops: the governor sums two windows per report and per admission
  const sums = new Array<number>(w.fields.length).fill(0);
  for (let s = 0; s < w.starts.length; s++) {
    const start = w.starts[s]!;
    if (start < oldest || start > current) continue;
    const row = w.counts[s]!;
    for (let i = 0; i < sums.length; i++) sums[i]! += row[i]!;
  }
  const totals = {} as Record<F, number>;
  for (let i = 0; i < sums.length; i++) totals[w.fields[i]!] = sums[i]!;
  return totals;
}

/** Empties every bucket (used when a breaker starts judging fresh traffic). */
export function clearWindow<F extends string>(w: SlidingWindow<F>): void {
  for (let s = 0; s < w.starts.length; s++) {
    w.starts[s] = -1;
    const row = w.counts[s]!;
    for (let i = 0; i < row.length; i++) row[i] = 0;
  }
}
