import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  breachReason,
  breakerCheck,
  breakerQuietChecks,
  breakerResume,
  breakerTrip,
  createBreaker,
} from '../../../src/core/throttle/circuit-breaker.ts';
import type { BreakerOptions, BreakerState, BreakerTotals } from '../../../src/core/throttle/circuit-breaker.ts';

const opts: BreakerOptions = {
  hardBounceRate: 0.02,
  complaintRate: 0.002,
  operatorComplaintRate: 0.003,
  minSamples: 1_000,
  cooldownMs: 1_800_000,
  halfOpenSamples: 500,
};
const clean = { sent: 0, hardBounces: 0, complaints: 0 };

describe('circuit breaker', () => {
  it('opens at 0.2% complaints once the sample is big enough, naming the rate', () => {
    const b = createBreaker(0);
    assert.equal(breakerCheck(b, opts, 1, { sent: 999, hardBounces: 0, complaints: 1 }).transition, undefined);
    assert.equal(breakerCheck(b, opts, 1, { sent: 1_000, hardBounces: 0, complaints: 1 }).transition, undefined);
    const step = breakerCheck(b, opts, 1, { sent: 1_000, hardBounces: 0, complaints: 2 });
    assert.equal(step.transition, 'opened');
    assert.match(step.state.reason ?? '', /complaint rate 0\.20% \(2 of 1000 sent\) reached the 0\.20% threshold/);
  });

  it('opens below the minimum sample when the count alone would trip it, and on > 2% hard bounces', () => {
    assert.match(breachReason(opts, { sent: 50, hardBounces: 0, complaints: 2 }) ?? '', /complaint/);
    assert.equal(breachReason(opts, { sent: 500, hardBounces: 5, complaints: 0 }), undefined);
    assert.match(breachReason(opts, { sent: 1_000, hardBounces: 20, complaints: 0 }) ?? '', /hard-bounce rate 2\.00%/);
  });

  it('half-opens after the cool-down with a fresh window, closes after clean sends, re-opens on a breach', () => {
    let b = breakerCheck(createBreaker(0), opts, 0, { sent: 1_000, hardBounces: 0, complaints: 2 }).state;
    assert.equal(breakerCheck(b, opts, 1_799_999, clean).transition, undefined);
    const half = breakerCheck(b, opts, 1_800_000, clean);
    assert.deepEqual([half.transition, half.resetWindow, half.state.phase], ['half_opened', true, 'half_open']);
    b = half.state;
    assert.equal(breakerCheck(b, opts, 1_800_001, { sent: 499, hardBounces: 0, complaints: 0 }).transition, undefined);
    assert.equal(breakerCheck(b, opts, 1_800_001, { sent: 500, hardBounces: 0, complaints: 0 }).state.phase, 'closed');
    assert.equal(breakerCheck(b, opts, 1_800_001, { sent: 100, hardBounces: 0, complaints: 1 }).state.phase, 'open');
  });

  it('at 0.3% complaints only an operator may resume, also when late complaints push an open breaker there', () => {
    const direct = breakerCheck(createBreaker(0), opts, 0, { sent: 1_000, hardBounces: 0, complaints: 3 });
    assert.deepEqual([direct.state.phase, direct.state.requiresOperator], ['open', true]);
    assert.match(direct.state.reason ?? '', /an operator must resume/);
    const soft = breakerCheck(createBreaker(0), opts, 0, { sent: 1_000, hardBounces: 0, complaints: 2 }).state;
    assert.equal(soft.requiresOperator, false);
    const later = breakerCheck(soft, opts, 5_000, { sent: 1_000, hardBounces: 0, complaints: 4 });
    assert.deepEqual([later.transition, later.state.requiresOperator, later.state.openedAt], ['escalated', true, 0]);
    assert.equal(breakerCheck(later.state, opts, 10 * opts.cooldownMs, clean).state.phase, 'open');
  });

  it('a trip that requires an operator never half-opens; the operator closes it', () => {
    const b = breakerTrip(createBreaker(0), 0, 'provider block 5.7.515', true);
    assert.equal(breakerCheck(b, opts, 10 * opts.cooldownMs, clean).state.phase, 'open');
    assert.equal(breakerResume(b, 1, { operator: true }).phase, 'closed');
  });

  it('property: never closes from open without the cool-down or an operator', () => {
    const step = fc.record({
      dt: fc.integer({ min: 0, max: 1_000_000 }),
      sent: fc.integer({ min: 0, max: 3_000 }),
      complaints: fc.integer({ min: 0, max: 20 }),
      hardBounces: fc.integer({ min: 0, max: 100 }),
      action: fc.constantFrom('check', 'check', 'check', 'operator', 'trip', 'trip-operator'),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 100 }), (steps) => {
        let b: BreakerState = createBreaker(0);
        let t = 0;
        for (const s of steps) {
          t += s.dt;
          const before = b;
          if (s.action === 'operator') {
            b = breakerResume(b, t, { operator: true });
            continue;
          }
          if (s.action === 'trip' || s.action === 'trip-operator') {
            b = breakerTrip(b, t, 'hard stop', s.action === 'trip-operator');
            continue;
          }
          b = breakerCheck(b, opts, t, { sent: s.sent, complaints: s.complaints, hardBounces: s.hardBounces }).state;
          if (before.phase !== 'closed' && b.phase === 'closed') {
            assert.ok(t - before.openedAt >= opts.cooldownMs, `closed ${t - before.openedAt} ms after opening`);
            assert.equal(before.requiresOperator, false);
          }
          if (before.phase === 'open' && b.phase !== 'open') assert.ok(t - before.openedAt >= opts.cooldownMs);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('says how many checks of a run of sends make no transition', () => {
    const closed = createBreaker(0);
    // 1 complaint trips at 1 000 sent only if 1/1000 >= 0.2 %: it does not, so all checks are quiet
    assert.equal(breakerQuietChecks(closed, opts, 1, { sent: 0, hardBounces: 0, complaints: 1 }, 1, 5_000), 5_000);
    // 2 complaints: the count alone is enough, so the first check opens it
    assert.equal(breakerQuietChecks(closed, opts, 1, { sent: 10, hardBounces: 0, complaints: 2 }, 1, 5_000), 0);
    // 19 hard bounces are not enough alone (20 needed); at 1 000 sent they are 1.9 %: quiet
    assert.equal(breakerQuietChecks(closed, opts, 1, { sent: 0, hardBounces: 19, complaints: 0 }, 1, 5_000), 5_000);
    const half = breakerCheck(breakerTrip(closed, 0, 'x', false), opts, opts.cooldownMs, clean).state;
    assert.equal(half.phase, 'half_open');
    assert.equal(
      breakerQuietChecks(half, opts, opts.cooldownMs, { sent: 100, hardBounces: 0, complaints: 0 }, 1, 1_000),
      399,
    ); // closes at 500
    assert.equal(
      breakerQuietChecks(half, opts, opts.cooldownMs, { sent: 100, hardBounces: 0, complaints: 0 }, 0, 1_000),
      1_000,
    ); // sends not counted
    assert.throws(() => breakerQuietChecks(half, opts, 0, clean, 0.5, 10), /whole sentPerCheck/);
  });

  it('property: breakerQuietChecks is the brute-force count of checks before the first transition', () => {
    const optsArb = fc.record({
      hardBounceRate: fc.double({ min: 0.001, max: 0.5, noNaN: true }),
      complaintRate: fc.double({ min: 0.001, max: 0.5, noNaN: true }),
      operatorComplaintRate: fc.double({ min: 0.001, max: 0.9, noNaN: true }),
      minSamples: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.double({ min: 0.5, max: 300, noNaN: true })),
      cooldownMs: fc.integer({ min: 0, max: 1_000 }),
      halfOpenSamples: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.double({ min: 0.5, max: 300, noNaN: true })),
    });
    const stateArb = fc
      .record({
        phase: fc.constantFrom<BreakerState['phase']>('closed', 'open', 'half_open'),
        openedAt: fc.integer({ min: 0, max: 2_000 }),
        requiresOperator: fc.boolean(),
      })
      .map(
        ({ phase, openedAt, requiresOperator }): BreakerState => ({
          phase,
          reason: phase === 'closed' ? undefined : 'r',
          since: openedAt,
          openedAt,
          requiresOperator: phase === 'open' && requiresOperator,
        }),
      );
    const totalsArb = fc.record({
      sent: fc.integer({ min: 0, max: 400 }),
      hardBounces: fc.integer({ min: 0, max: 15 }),
      complaints: fc.integer({ min: 0, max: 5 }),
    });
    fc.assert(
      fc.property(
        optsArb,
        stateArb,
        totalsArb,
        fc.integer({ min: 0, max: 2_000 }),
        fc.constantFrom(0, 1, 3),
        fc.integer({ min: 0, max: 600 }),
        (o, state, totals: BreakerTotals, now, perCheck, max) => {
          let expected = max;
          for (let k = 1; k <= max; k++) {
            if (breakerCheck(state, o, now, { ...totals, sent: totals.sent + perCheck * k }).transition !== undefined) {
              expected = k - 1;
              break;
            }
          }
          assert.equal(breakerQuietChecks(state, o, now, totals, perCheck, max), expected);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
