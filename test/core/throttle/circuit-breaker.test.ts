import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { breachReason, breakerCheck, breakerResume, breakerTrip, createBreaker } from '../../../src/core/throttle/circuit-breaker.ts';
import type { BreakerOptions, BreakerState } from '../../../src/core/throttle/circuit-breaker.ts';

const opts: BreakerOptions = { hardBounceRate: 0.02, complaintRate: 0.002, operatorComplaintRate: 0.003, minSamples: 1_000, cooldownMs: 1_800_000, halfOpenSamples: 500 };
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
    fc.assert(fc.property(fc.array(step, { maxLength: 100 }), (steps) => {
      let b: BreakerState = createBreaker(0);
      let t = 0;
      for (const s of steps) {
        t += s.dt;
        const before = b;
        if (s.action === 'operator') { b = breakerResume(b, t, { operator: true }); continue; }
        if (s.action === 'trip' || s.action === 'trip-operator') { b = breakerTrip(b, t, 'hard stop', s.action === 'trip-operator'); continue; }
        b = breakerCheck(b, opts, t, { sent: s.sent, complaints: s.complaints, hardBounces: s.hardBounces }).state;
        if (before.phase !== 'closed' && b.phase === 'closed') {
          assert.ok(t - before.openedAt >= opts.cooldownMs, `closed ${t - before.openedAt} ms after opening`);
          assert.equal(before.requiresOperator, false);
        }
        if (before.phase === 'open' && b.phase !== 'open') assert.ok(t - before.openedAt >= opts.cooldownMs);
      }
    }), { numRuns: 500 });
  });
});
