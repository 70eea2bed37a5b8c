import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_SOFT_BOUNCE_POLICY, evaluateSoftBounces } from '../../../src/core/bounce/soft-policy.ts';

const DAY = 24 * 3600 * 1000;
const now = new Date('2026-11-26T12:00:00Z');
const daysAgo = (d: number): Date => new Date(now.getTime() - d * DAY);

describe('evaluateSoftBounces', () => {
  it('suppresses at the 7th counted bounce by default, not the 6th', () => {
    assert.equal(DEFAULT_SOFT_BOUNCE_POLICY.limit, 7);
    const six = [1, 2, 3, 4, 5, 6].map(daysAgo);
    assert.deepEqual(evaluateSoftBounces(six, now), { shouldSuppress: false, counted: 6, limit: 7 });
    assert.equal(evaluateSoftBounces([...six, daysAgo(7)], now).shouldSuppress, true);
  });

  it('ignores bounces outside the window, in the future, or before the last delivery', () => {
    const times = [daysAgo(40), daysAgo(1), daysAgo(2), new Date(now.getTime() + DAY)];
    assert.equal(evaluateSoftBounces(times, now, { limit: 2 }).counted, 2);
    assert.equal(evaluateSoftBounces(times, now, { limit: 2, lastDeliveredAt: daysAgo(1.5) }).counted, 1);
    assert.equal(evaluateSoftBounces(times, now, { limit: 2, windowMs: 1.5 * DAY }).counted, 1);
  });

  it('property: adding a bounce never un-suppresses; counted never exceeds input length', () => {
    const t = fc.integer({ min: -60, max: 5 }).map((d) => daysAgo(-d));
    fc.assert(
      fc.property(fc.array(t, { maxLength: 20 }), t, fc.integer({ min: 1, max: 10 }), (times, extra, limit) => {
        const before = evaluateSoftBounces(times, now, { limit });
        const after = evaluateSoftBounces([...times, extra], now, { limit });
        assert.ok(before.counted <= times.length);
        assert.ok(after.counted >= before.counted);
        if (before.shouldSuppress) assert.equal(after.shouldSuppress, true);
        assert.equal(after.shouldSuppress, after.counted >= limit);
      }),
    );
  });
});
