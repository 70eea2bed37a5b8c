import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  available,
  createTokenBucket,
  refill,
  setRate,
  takeUpTo,
  tryTake,
} from '../../../src/core/throttle/token-bucket.ts';

describe('token bucket', () => {
  it('starts full, admits the burst at once, then one unit per 1/rate seconds', () => {
    let b = createTokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) {
      const r = tryTake(b, 0);
      assert.equal(r.ok, true);
      b = r.state;
    }
    const refused = tryTake(b, 0);
    assert.deepEqual([refused.ok, refused.waitMs], [false, 100]);
    assert.equal(tryTake(b, 100).ok, true);
    assert.equal(available(b, 250), 2);
  });

  it('never mutates its argument', () => {
    const b = createTokenBucket(10, 5, 0);
    const copy = { ...b };
    tryTake(b, 1000, 3);
    takeUpTo(b, 1000, 9);
    setRate(b, 1000, 1, 1);
    assert.deepEqual(b, copy);
  });

  it('says Infinity when n can never fit, and treats rate Infinity as unlimited', () => {
    assert.equal(tryTake(createTokenBucket(10, 5, 0), 0, 6).waitMs, Number.POSITIVE_INFINITY);
    const open = createTokenBucket(Number.POSITIVE_INFINITY, 1, 0);
    assert.equal(tryTake(open, 0, 1e6).ok, true);
    assert.equal(takeUpTo(open, 0, 42).taken, 42);
  });

  it('takeUpTo takes what is there; setRate refills at the old rate first and clips to the new burst', () => {
    const b = createTokenBucket(100, 100, 0);
    const { taken, state } = takeUpTo(b, 0, 70);
    assert.equal(taken, 70);
    assert.equal(takeUpTo(state, 0, 70).taken, 30);
    const slowed = setRate(state, 100, 10, 10); // 30 + 10 refilled at 100/s, clipped to 10
    assert.equal(slowed.tokens, 10);
    assert.equal(refill(slowed, 1100).tokens, 10);
  });

  it('property: never admits more than rate * t + burst in any window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(
          fc.record({ dt: fc.integer({ min: 0, max: 300 }), n: fc.integer({ min: 1, max: 60 }), many: fc.boolean() }),
          { maxLength: 120 },
        ),
        (rate, burst, ops) => {
          let b = createTokenBucket(rate, burst, 0);
          let t = 0;
          const admitted: { t: number; n: number }[] = [];
          for (const op of ops) {
            t += op.dt;
            if (op.many) {
              const r = takeUpTo(b, t, op.n);
              b = r.state;
              if (r.taken > 0) admitted.push({ t, n: r.taken });
            } else {
              const r = tryTake(b, t, op.n);
              b = r.state;
              if (r.ok) admitted.push({ t, n: op.n });
            }
          }
          for (let i = 0; i < admitted.length; i++) {
            let sum = 0;
            for (let j = i; j < admitted.length; j++) {
              sum += admitted[j]!.n;
              const window = admitted[j]!.t - admitted[i]!.t;
              assert.ok(
                sum <= (rate * window) / 1000 + burst + 1e-6,
                `${sum} admitted in ${window} ms at ${rate}/s burst ${burst}`,
              );
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
