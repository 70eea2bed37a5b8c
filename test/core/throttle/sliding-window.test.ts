import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  clearWindow,
  createSlidingWindow,
  isCountedAt,
  recordInWindow,
  windowTotals,
} from '../../../src/core/throttle/sliding-window.ts';

describe('sliding window counters', () => {
  it('counts per field and forgets buckets older than the window', () => {
    const w = createSlidingWindow(['sent', 'complaints'] as const, { windowMs: 60_000, buckets: 6 });
    recordInWindow(w, 0, 'sent', 100);
    recordInWindow(w, 15_000, 'complaints');
    assert.deepEqual(windowTotals(w, 20_000), { sent: 100, complaints: 1 });
    assert.deepEqual(windowTotals(w, 60_000), { sent: 0, complaints: 1 });
    assert.deepEqual(windowTotals(w, 200_000), { sent: 0, complaints: 0 });
    clearWindow(w);
    assert.deepEqual(windowTotals(w, 15_000), { sent: 0, complaints: 0 });
  });

  it('keeps memory fixed: as many slots as buckets, whatever the traffic', () => {
    const w = createSlidingWindow(['a'] as const, { windowMs: 1000, buckets: 4 });
    for (let t = 0; t < 100_000; t += 7) recordInWindow(w, t, 'a');
    assert.equal(w.starts.length, 4);
    assert.equal(w.counts.length, 4);
  });

  it('ignores a late event whose bucket was already reused', () => {
    const w = createSlidingWindow(['a'] as const, { windowMs: 1000, buckets: 4 });
    recordInWindow(w, 5_000, 'a');
    recordInWindow(w, 4_000, 'a'); // same slot, older period
    assert.deepEqual(windowTotals(w, 5_000), { a: 1 });
  });

  it('property: totals equal a naive count over the covered buckets', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 10, max: 1000 }),
        fc.array(
          fc.record({
            dt: fc.integer({ min: 0, max: 500 }),
            field: fc.constantFrom('x' as const, 'y' as const),
            n: fc.integer({ min: 1, max: 5 }),
          }),
          { maxLength: 200 },
        ),
        (buckets, bucketMs, events) => {
          const w = createSlidingWindow(['x', 'y'] as const, { windowMs: buckets * bucketMs, buckets });
          let t = 0;
          const log: { t: number; field: 'x' | 'y'; n: number }[] = [];
          for (const e of events) {
            t += e.dt;
            recordInWindow(w, t, e.field, e.n);
            log.push({ t, field: e.field, n: e.n });
          }
          const oldestPeriod = Math.floor(t / bucketMs) - (buckets - 1);
          const naive = { x: 0, y: 0 };
          for (const e of log) if (Math.floor(e.t / bucketMs) >= oldestPeriod) naive[e.field] += e.n;
          assert.deepEqual(windowTotals(w, t), naive);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('isCountedAt says whether a record at that time would count', () => {
    const w = createSlidingWindow(['a'] as const, { windowMs: 1000, buckets: 4 });
    assert.equal(isCountedAt(w, 0), true); // empty slot
    recordInWindow(w, 5_000, 'a');
    assert.equal(isCountedAt(w, 5_100), true);
    assert.equal(isCountedAt(w, 4_000), false); // same slot, already holding a later period
    recordInWindow(w, 4_000, 'a', 3);
    assert.deepEqual(windowTotals(w, 5_100), { a: 1 });
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 20_000 }), { maxLength: 50 }),
        fc.integer({ min: 0, max: 20_000 }),
        (times, t) => {
          const v = createSlidingWindow(['a'] as const, { windowMs: 1000, buckets: 4 });
          for (const x of times) recordInWindow(v, x, 'a');
          const before = windowTotals(v, t).a;
          const counted = isCountedAt(v, t);
          recordInWindow(v, t, 'a');
          assert.equal(windowTotals(v, t).a - before, counted ? 1 : 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
