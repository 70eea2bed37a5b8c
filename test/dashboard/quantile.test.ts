/** Histogram quantiles as PromQL computes them: examples, and properties over random histograms. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bucketDelta, histogramQuantile, type CumulativeBucket } from '../../src/api/dashboard/quantile.ts';

const BOUNDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, Number.POSITIVE_INFINITY];
const cumulative = (counts: number[]): CumulativeBucket[] => {
  let n = 0;
  return BOUNDS.map((le, i) => {
    n += counts[i] ?? 0;
    return { le, count: n };
  });
};

describe('histogramQuantile', () => {
  it('interpolates inside the bucket the rank falls in', () => {
    // 10 observations in (0.01, 0.05]: the median is half way through that bucket
    assert.equal(histogramQuantile(0.5, cumulative([0, 0, 0, 10])), 0.03);
    assert.equal(histogramQuantile(0.5, cumulative([])), null);
    // everything above the largest finite bound: the histogram can say only that bound
    assert.equal(histogramQuantile(0.99, cumulative([0, 0, 0, 0, 0, 0, 0, 0, 0, 5])), 30);
  });

  it('lies within the bucket holding the rank and never decreases with q', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(1000), { minLength: BOUNDS.length, maxLength: BOUNDS.length }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (counts, q1, q2) => {
          const b = cumulative(counts);
          const total = b.at(-1)!.count;
          const [lo, hi] = q1 <= q2 ? [q1, q2] : [q2, q1];
          const a = histogramQuantile(lo, b);
          const c = histogramQuantile(hi, b);
          if (total === 0) return a === null && c === null;
          return a !== null && c !== null && a <= c + 1e-12 && a >= 0 && c <= 30;
        },
      ),
    );
  });

  it('bucketDelta is the later minus the earlier, or the later alone after a counter reset', () => {
    const earlier = cumulative([1, 2, 3]);
    const later = cumulative([2, 4, 6]);
    assert.deepEqual(
      bucketDelta(later, earlier).map((x) => x.count),
      cumulative([1, 2, 3]).map((x) => x.count),
    );
    assert.deepEqual(bucketDelta(earlier, later), earlier);
  });
});
