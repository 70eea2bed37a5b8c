import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  addOnes,
  aimdCountSuccesses,
  aimdObserve,
  aimdSetCeiling,
  createAimd,
  isHeld,
  isQuietSuccess,
} from '../../../src/core/throttle/aimd.ts';
import type { AimdOptions, AimdSignal, AimdState } from '../../../src/core/throttle/aimd.ts';

const opts: AimdOptions = {
  floor: 1,
  ceiling: 1000,
  initial: 100,
  increaseStep: 10,
  increaseMaxFraction: 0.1,
  increaseIntervalMs: 2_000,
  decreaseFactor: 0.7,
  severeDecreaseFactor: 0.5,
  decreaseAbove: 0.05,
  severeAbove: 0.3,
  increaseBelow: 0.01,
  decreaseCooldownMs: 2_000,
  hardHoldMs: 600_000,
  latencyTargetMs: 5_000,
  latencyDecreaseFactor: 0.9,
  ratioHalfLifeMs: 1_000,
  minUtilisation: 0.5,
};

function feed(state: AimdState, at: number, signals: AimdSignal[], o = opts): { state: AimdState; changes: string[] } {
  const changes: string[] = [];
  for (const s of signals) {
    const step = aimdObserve(state, o, at, s);
    state = step.state;
    if (step.change !== undefined) changes.push(step.change);
  }
  return { state, changes };
}

const successes = (n: number): AimdSignal[] => Array.from({ length: n }, () => ({ kind: 'success' }));
const deferrals = (n: number): AimdSignal[] =>
  Array.from({ length: n }, () => ({ kind: 'deferral', severity: 'throttle' }));

describe('AIMD controller', () => {
  it('adds one step per clean, used interval', () => {
    let s = createAimd(opts, 0);
    for (let t = 100; t <= 4_100; t += 100) s = feed(s, t, successes(10)).state; // 100/s offered at rate 100
    assert.equal(s.rate, 120);
  });

  it('grows by at most increaseMaxFraction of a small rate', () => {
    let s = createAimd({ ...opts, initial: 5 }, 0);
    for (let t = 100; t <= 2_100; t += 100) s = feed(s, t, successes(1), { ...opts, initial: 5 }).state;
    assert.equal(s.rate, 5.5);
  });

  it('does not grow while the rate is unused', () => {
    let s = createAimd(opts, 0);
    for (let t = 1_000; t <= 20_000; t += 1_000) s = feed(s, t, successes(1)).state;
    assert.equal(s.rate, 100);
  });

  it('one burst of deferrals decreases once (cool-down), a later burst again', () => {
    let s = createAimd(opts, 0);
    s = feed(s, 0, successes(50)).state;
    const burst = feed(s, 100, deferrals(20));
    assert.deepEqual(burst.changes, ['decreased']);
    assert.equal(burst.state.rate, 70); // decided at the 3rd deferral (3 of 53 > 5%), the rest fall in the cool-down
    const later = feed(burst.state, 2_200, deferrals(5));
    assert.deepEqual(later.changes, ['decreased']);
  });

  it('ignores a deferral ratio below 5% and uses 0.7 between 5% and 30%', () => {
    let s = createAimd(opts, 0);
    s = feed(s, 0, successes(100)).state;
    assert.deepEqual(feed(s, 0, deferrals(3)).changes, []);
    const mild = feed(s, 0, deferrals(10));
    assert.equal(mild.state.rate, 70);
  });

  it('a hard signal halves and holds the key for hardHoldMs', () => {
    const s = feed(createAimd(opts, 0), 1_000, [{ kind: 'deferral', severity: 'hard' }]).state;
    assert.equal(s.rate, 50);
    assert.ok(isHeld(s, 600_999));
    assert.ok(!isHeld(s, 601_000));
  });

  it('latency above target slows down', () => {
    const s = feed(createAimd(opts, 0), 1_000, [{ kind: 'success', latencyMs: 9_000 }]).state;
    assert.equal(s.rate, 90);
  });

  it('a lower ceiling clamps at once', () => {
    const { state } = aimdSetCeiling(createAimd(opts, 0), opts, 40);
    assert.equal(state.rate, 40);
  });

  it('property: the rate stays within [floor, ceiling]', () => {
    const signal = fc.oneof(
      fc.constant<AimdSignal>({ kind: 'success' }),
      fc.integer({ min: 0, max: 20_000 }).map((latencyMs): AimdSignal => ({ kind: 'success', latencyMs })),
      fc.constantFrom<AimdSignal>({ kind: 'deferral', severity: 'throttle' }, { kind: 'deferral', severity: 'hard' }),
    );
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 5_000, noNaN: true }),
        fc.double({ min: 0, max: 10_000, noNaN: true }),
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 5_000 }), signal }), { maxLength: 300 }),
        (floor, span, initial, factor, events) => {
          const o: AimdOptions = {
            ...opts,
            floor,
            ceiling: floor + span,
            initial,
            decreaseFactor: factor,
            increaseStep: span / 3 + 0.1,
          };
          let s = createAimd(o, 0);
          let t = 0;
          assert.ok(s.rate >= floor && s.rate <= floor + span);
          for (const e of events) {
            t += e.dt;
            s = aimdObserve(s, o, t, e.signal).state;
            assert.ok(s.rate >= floor && s.rate <= floor + span, `rate ${s.rate} outside [${floor}, ${floor + span}]`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('counts a run of successes at once only while they change nothing but counters', () => {
    let s = feed(createAimd(opts, 0), 2_500, successes(10)).state; // the first ended the interval
    assert.equal(isQuietSuccess(s, opts, 2_500), true);
    assert.deepEqual(aimdCountSuccesses(s, opts, 2_500, 990), feed(s, 2_500, successes(990)).state);
    // why the decayed weight is summed one by one: 1 000 × (x + 1) is not x + 1 000 in floating point
    const odd = { ...s, decayedAttempts: 27.32401259670736 };
    assert.equal(
      aimdCountSuccesses(odd, opts, 2_500, 1_000).decayedAttempts,
      feed(odd, 2_500, successes(1_000)).state.decayedAttempts,
    );
    assert.notEqual(aimdCountSuccesses(odd, opts, 2_500, 1_000).decayedAttempts, 27.32401259670736 + 1_000);
    assert.equal(isQuietSuccess(s, opts, 4_500), false); // the next interval ends at 4 500
    assert.throws(() => aimdCountSuccesses(s, opts, 4_500, 5), /would change the rate/);
    assert.throws(() => aimdCountSuccesses(s, opts, 2_500, 1.5), /whole count/);
    s = feed(s, 3_000, [{ kind: 'success', latencyMs: 9_000 }]).state; // decreased: cool-down until 5 000
    assert.equal(isQuietSuccess(s, opts, 4_999, 9_000), true);
    assert.equal(isQuietSuccess(s, opts, 5_000, 9_000), false);
  });

  it('property: counted successes are bit-for-bit n observed ones, each without a change', () => {
    const signal = fc.oneof(
      fc.constant<AimdSignal>({ kind: 'success' }),
      fc.integer({ min: 0, max: 20_000 }).map((latencyMs): AimdSignal => ({ kind: 'success', latencyMs })),
      fc.constantFrom<AimdSignal>({ kind: 'deferral', severity: 'throttle' }, { kind: 'deferral', severity: 'hard' }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3_000 }), signal }), { maxLength: 100 }),
        fc.integer({ min: 0, max: 3_000 }),
        fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
        fc.integer({ min: 0, max: 2_000 }),
        fc.constantFrom(1, 250, 1_000, 7_919),
        fc.constantFrom(0, 500, 2_000),
        (history, dt, latencyMs, n, halfLife, cooldown) => {
          const o: AimdOptions = { ...opts, ratioHalfLifeMs: halfLife, decreaseCooldownMs: cooldown };
          let s = createAimd(o, 0);
          let t = 0;
          for (const e of history) {
            t += e.dt;
            s = aimdObserve(s, o, t, e.signal).state;
          }
          t += dt;
          if (!isQuietSuccess(s, o, t, latencyMs)) {
            assert.throws(() => aimdCountSuccesses(s, o, t, Math.max(1, n), latencyMs), RangeError);
            return;
          }
          let one = s;
          for (let i = 0; i < n; i++) {
            const step = aimdObserve(
              one,
              o,
              t,
              latencyMs === undefined ? { kind: 'success' } : { kind: 'success', latencyMs },
            );
            assert.equal(step.change, undefined, `success ${i + 1} of a quiet run changed the rate`);
            one = step.state;
          }
          assert.deepEqual(aimdCountSuccesses(s, o, t, n, latencyMs), one);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: addOnes(x, k) is k separate additions of 1, rounding and all', () => {
    const nearPowerOfTwo = fc
      .tuple(fc.integer({ min: -40, max: 60 }), fc.integer({ min: -3, max: 3 }))
      .map(([e, ulps]) => 2 ** e + ulps * 2 ** (e - 52));
    const x = fc.oneof(
      fc.double({ min: 0, max: 10_000, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      nearPowerOfTwo,
      fc.constantFrom(0, -0, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, Number.MIN_VALUE, Infinity, NaN, -2.5),
    );
    fc.assert(
      fc.property(x, fc.integer({ min: 0, max: 5_000 }), (x0, k) => {
        let one = x0;
        for (let i = 0; i < k; i++) one += 1;
        assert.ok(Object.is(addOnes(x0, k), one), `addOnes(${x0}, ${k}) = ${addOnes(x0, k)}, one by one ${one}`);
      }),
      { numRuns: 2_000 },
    );
  });
});
