import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createWarmup,
  defaultWarmupRamp,
  msUntilNextDay,
  warmupCap,
  warmupPriority,
  warmupRollover,
  warmupTake,
} from '../../../src/core/throttle/warmup.ts';

const DAY = 86_400_000;
const clean = { deferralRate: 0, complaintRate: 0, hadThrottleSignal: false, hadHardSignal: false };

describe('warm-up schedule', () => {
  it('default ramp: 480/day (24 × SendGrid day 0), ×1.4 per day, ends past 20M/day', () => {
    const { dailyCaps } = defaultWarmupRamp();
    assert.equal(dailyCaps[0], 480);
    assert.equal(dailyCaps[1], 672);
    for (let i = 1; i < dailyCaps.length; i++) assert.ok(Math.abs(dailyCaps[i]! / dailyCaps[i - 1]! - 1.4) < 0.01);
    assert.ok(dailyCaps.at(-1)! < 20_000_000 && dailyCaps.at(-1)! * 1.4 >= 20_000_000);
  });

  it('caps a day, refills the next day and grows only after a clean day', () => {
    const ramp = defaultWarmupRamp();
    let s = createWarmup(0);
    const first = warmupTake(ramp, s, 1_000);
    assert.equal(first.granted, 480);
    s = first.state;
    assert.equal(warmupTake(ramp, s, 1).granted, 0);
    assert.equal(msUntilNextDay(DAY - 1), 1);
    s = warmupRollover(ramp, s, DAY + 5, clean);
    assert.deepEqual([s.step, s.used, warmupCap(ramp, s)], [1, 0, 672]);
    s = warmupRollover(ramp, warmupTake(ramp, s, 10).state, 2 * DAY, { ...clean, hadThrottleSignal: true });
    assert.equal(s.step, 1); // hold
    s = warmupRollover(ramp, warmupTake(ramp, s, 10).state, 3 * DAY, { ...clean, deferralRate: 0.02 });
    assert.equal(s.step, 1); // hold on >= 1% deferrals
  });

  it('halves after a hard signal and is uncapped once past the ramp', () => {
    const ramp = { dailyCaps: [100, 200, 400, 800] };
    const s = warmupRollover(ramp, { step: 3, day: 0, used: 5 }, DAY, { ...clean, hadHardSignal: true });
    assert.equal(warmupCap(ramp, s), 400);
    assert.equal(warmupCap(ramp, { step: 4, day: 0, used: 0 }), Number.POSITIVE_INFINITY);
  });

  it('ranks the most engaged first (clicks, then opens in 30 days), machine opens do not count', () => {
    const now = new Date('2026-06-01T00:00:00Z');
    const daysAgo = (d: number): Date => new Date(now.getTime() - d * DAY);
    assert.equal(warmupPriority({ lastClickedAt: daysAgo(3) }, now), 0);
    assert.equal(warmupPriority({ lastOpenedAt: daysAgo(29) }, now), 1);
    assert.equal(warmupPriority({ lastOpenedAt: daysAgo(29), onlyMachineOpens: true }, now), 4);
    assert.equal(warmupPriority({ lastOpenedAt: daysAgo(60) }, now), 2);
    assert.equal(warmupPriority({ lastClickedAt: daysAgo(150) }, now), 3);
    assert.equal(warmupPriority({}, now), 4);
  });
});
