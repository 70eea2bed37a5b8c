/**
 * From stored counts to judged anomalies (src/core/anomaly-series.ts): buckets, dense series,
 * which direction is under-performance per metric, who is alerted, and that judging returns only
 * due buckets with ids that depend on (series, bucket) alone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  anomalyId,
  bucketStart,
  denseSeries,
  isAlerted,
  judgeBuckets,
  latestJudgeable,
  performanceOf,
  type SeriesPoint,
} from '../../src/core/anomaly-series.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

describe('anomaly series', () => {
  it('buckets are UTC days and hours; a bucket is judgeable once it ended settleMs ago', () => {
    const t = Date.parse('2026-05-31T13:20:00Z');
    assert.equal(bucketStart(t, 'day'), Date.parse('2026-05-31T00:00:00Z'));
    assert.equal(bucketStart(t, 'hour'), Date.parse('2026-05-31T13:00:00Z'));
    assert.equal(latestJudgeable(t, 'hour', 15 * 60_000), Date.parse('2026-05-31T12:00:00Z'));
    assert.equal(latestJudgeable(t, 'hour', 25 * 60_000), Date.parse('2026-05-31T11:00:00Z'));
    assert.equal(
      latestJudgeable(Date.parse('2026-06-01T00:10:00Z'), 'day', 15 * 60_000),
      Date.parse('2026-05-30T00:00:00Z'),
    );
  });

  it('fills missing buckets with zeros and sums repeated points', () => {
    const p = (bucket: number, value: number): SeriesPoint => ({
      scope: 'overall',
      key: 'all',
      metric: 'clicks',
      bucket,
      value,
    });
    const [s] = denseSeries([p(0, 2), p(2 * HOUR, 5), p(2 * HOUR, 1), p(9 * HOUR, 7)], 'hour', 0, 3 * HOUR);
    assert.deepEqual(s?.values, [2, 0, 6, 0]);
  });

  it('under means fewer engagements or more bounces, complaints and unsubscribes', () => {
    assert.equal(performanceOf('clicks', 'low'), 'under');
    assert.equal(performanceOf('revenue', 'high'), 'over');
    assert.equal(performanceOf('complaints', 'high'), 'under');
    assert.equal(performanceOf('unsubscribes', 'low'), 'over');
    assert.equal(isAlerted('campaign', 'under'), true);
    assert.equal(isAlerted('campaign', 'over'), false);
    assert.equal(isAlerted('segment', 'over'), true);
    assert.equal(isAlerted('segment', 'under'), false);
    assert.equal(isAlerted('overall', 'over') && isAlerted('overall', 'under'), true);
  });

  it('a campaign whose bounces jump is alerted; a series starts at its first activity', () => {
    const points: SeriesPoint[] = [];
    // 40 days of nothing (the campaign did not exist), then 8 weeks of ~50 bounces, then 300
    for (let d = 40; d < 96; d++)
      points.push({ scope: 'campaign', key: 'c1', metric: 'bounces', bucket: d * DAY, value: 50 + ((d * 7) % 5) });
    points.push({ scope: 'campaign', key: 'c1', metric: 'bounces', bucket: 96 * DAY, value: 300 });
    const out = judgeBuckets(points, 'day', { from: 0, firstDue: 96 * DAY, lastDue: 96 * DAY }, { minBaseline: 20 });
    assert.equal(out.length, 1);
    assert.equal(out[0]?.performance, 'under');
    assert.equal(out[0]?.bucket, 96 * DAY);
    assert.equal(out[0]?.id, anomalyId('day', { scope: 'campaign', key: 'c1', metric: 'bounces' }, 96 * DAY));
  });

  it('property: judged anomalies lie in the due range, are alerted, finite, and unique per (series, bucket)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: fc.constantFrom('a', 'b'), day: fc.integer({ min: 0, max: 60 }), v: fc.nat(500) }), {
          maxLength: 150,
        }),
        fc.integer({ min: 30, max: 60 }),
        fc.integer({ min: 0, max: 5 }),
        (raw, lastDue, span) => {
          const points: SeriesPoint[] = raw.map((r) => ({
            scope: r.key === 'a' ? 'campaign' : 'segment',
            key: r.key,
            metric: 'clicks',
            bucket: r.day * DAY,
            value: r.v,
          }));
          const firstDue = (lastDue - span) * DAY;
          const out = judgeBuckets(points, 'day', { from: 0, firstDue, lastDue: lastDue * DAY }, { minBaseline: 0 });
          for (const a of out) {
            assert.ok(a.bucket >= firstDue && a.bucket <= lastDue * DAY);
            assert.ok(isAlerted(a.scope, a.performance));
            assert.ok(Number.isFinite(a.score));
          }
          assert.equal(new Set(out.map((a) => a.id)).size, out.length);
        },
      ),
      { seed: 19, numRuns: 200 },
    );
  });
});
