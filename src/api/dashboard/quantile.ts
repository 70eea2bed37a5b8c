/**
 * Quantiles from a Prometheus-style cumulative histogram, the way PromQL's histogram_quantile does
 * it: find the bucket the rank falls in and interpolate linearly inside it. Pure; used on the
 * difference of two scrapes, so the answer covers only what was observed between them.
 */

/** One bucket: upper bound (seconds, Infinity for +Inf) and the cumulative count at or below it. */
export interface CumulativeBucket {
  le: number;
  count: number;
}

/**
 * The q-quantile (0..1) of the observations in `buckets` (ascending `le`, cumulative counts, the
 * last bucket +Inf), or null when there are none. A rank in the +Inf bucket answers the largest
 * finite bound: the histogram cannot say more.
 */
export function histogramQuantile(q: number, buckets: readonly CumulativeBucket[]): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0 || !(q >= 0 && q <= 1)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank && b.count > prevCount) {
      if (!Number.isFinite(b.le)) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / (b.count - prevCount);
    }
    if (Number.isFinite(b.le)) prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** Bucket-wise difference of two cumulative histograms with the same bounds (later − earlier);
 *  a counter reset (the process restarted) yields the later one as is. */
export function bucketDelta(later: readonly CumulativeBucket[], earlier: readonly CumulativeBucket[] | undefined) {
  if (earlier === undefined || earlier.length !== later.length) return [...later];
  const reset = later.some((b, i) => b.count < earlier[i]!.count);
  return reset ? [...later] : later.map((b, i) => ({ le: b.le, count: b.count - earlier[i]!.count }));
}
