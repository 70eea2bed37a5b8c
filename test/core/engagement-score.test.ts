import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  accumulateEngagement,
  decayFactor,
  DEFAULT_ENGAGEMENT_OPTIONS,
  engagementScore,
  mergeEngagement,
  scoreAt,
  type EngagementSignal,
} from '../../src/core/engagement-score.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const DAY = 86_400_000;

const anEvent = fc.record({
  type: fc.constantFrom('opened', 'clicked', 'replied', 'delivered', 'bounced_soft', 'auto_replied'),
  occurredAt: fc.integer({ min: 0, max: 400 * DAY }).map((ms) => new Date(T0 + ms)),
  isMachine: fc.boolean(),
});
const events = fc.array(anEvent, { maxLength: 40 });
const close = (a: number, b: number, eps = 1e-9): boolean =>
  Math.abs(a - b) <= eps * Math.max(1, Math.abs(a), Math.abs(b));
const latest = (es: readonly EngagementSignal[]): Date =>
  new Date(es.reduce((m, e) => Math.max(m, e.occurredAt.getTime()), T0));

describe('engagement score', () => {
  it('documented examples: one human click ≈ 25.9, one reply ≈ 63.2, halves its raw weight after 30 days', () => {
    const at = new Date(T0);
    assert.equal(engagementScore([{ type: 'clicked', occurredAt: at, isMachine: false }], at), 25.9);
    assert.equal(engagementScore([{ type: 'replied', occurredAt: at, isMachine: false }], at), 63.2);
    assert.equal(engagementScore([{ type: 'opened', occurredAt: at, isMachine: false }], at), 9.5);
    const state = accumulateEngagement([{ type: 'replied', occurredAt: at, isMachine: false }])!;
    // after one half-life raw is 5: 100·(1 − e^−0.5)
    assert.equal(scoreAt(state, new Date(T0 + 30 * DAY)), 39.3);
    assert.equal(decayFactor(30 * DAY, 30), 0.5);
  });

  it('machine opens, scanner clicks and non-engagement events score 0', () => {
    const at = new Date(T0);
    assert.equal(
      engagementScore(
        [
          { type: 'opened', occurredAt: at, isMachine: true },
          { type: 'clicked', occurredAt: at, isMachine: true },
          { type: 'delivered', occurredAt: at, isMachine: false },
          { type: 'auto_replied', occurredAt: at, isMachine: false },
        ],
        at,
      ),
      0,
    );
  });

  it('property: the score is always within 0…100', () => {
    fc.assert(
      fc.property(events, fc.integer({ min: -10 * DAY, max: 2000 * DAY }), (es, offset) => {
        const s = engagementScore(es, new Date(T0 + offset));
        return s >= 0 && s <= 100;
      }),
    );
  });

  it('property: order of events does not matter', () => {
    fc.assert(
      fc.property(events, fc.integer(), (es, seed) => {
        const shuffled = [...es].sort(
          (a, b) => ((a.occurredAt.getTime() * 31 + seed) % 97) - ((b.occurredAt.getTime() * 31 + seed) % 97),
        );
        const now = latest(es);
        return (
          engagementScore(es, now) === engagementScore(shuffled, now)
          || close(accumulateEngagement(es)!.raw, accumulateEngagement(shuffled)!.raw)
        );
      }),
    );
  });

  it('property: applying in batches (any split, any batch order) equals applying all at once', () => {
    fc.assert(
      fc.property(events, fc.array(fc.nat({ max: 40 }), { maxLength: 5 }), fc.boolean(), (es, cuts, reverse) => {
        const points = [0, ...new Set(cuts.map((c) => Math.min(c, es.length)))].sort((a, b) => a - b);
        const batches = points.map((start, i) => es.slice(start, points[i + 1] ?? es.length));
        const states = (reverse ? batches.reverse() : batches)
          .map((b) => accumulateEngagement(b))
          .filter((s) => s !== null);
        const whole = accumulateEngagement(es);
        if (whole === null) return states.length === 0;
        const merged = states.reduce((a, b) => mergeEngagement(a, b));
        return (
          close(merged.raw, whole.raw)
          && merged.at.getTime() === whole.at.getTime()
          && merged.lastEngagedAt.getTime() === whole.lastEngagedAt.getTime()
        );
      }),
    );
  });

  it('property: machine events never change the score', () => {
    fc.assert(
      fc.property(events, events, (es, extra) => {
        const machine = extra.map((e) => ({ ...e, isMachine: true }));
        const now = latest([...es, ...machine]);
        return engagementScore(es, now) === engagementScore([...es, ...machine], now);
      }),
    );
  });

  it('property: a new human engagement never lowers the score; without engagement it only decays', () => {
    fc.assert(
      fc.property(events, anEvent, fc.nat({ max: 1000 * DAY }), (es, e, later) => {
        const human = { ...e, isMachine: false };
        const now = latest([...es, human]);
        const before = engagementScore(es, now);
        const after = engagementScore([...es, human], now);
        const decayed = engagementScore(es, new Date(now.getTime() + later));
        return after >= before && decayed <= before;
      }),
    );
  });

  it('the defaults are what docs/reactions.md states', () => {
    assert.deepEqual(DEFAULT_ENGAGEMENT_OPTIONS, {
      halfLifeDays: 30,
      weights: { opened: 1, clicked: 3, replied: 10 },
      saturation: 10,
    });
  });
});
