/**
 * From stored counts to judged anomalies (docs/attribution.md, Anomalies): bucket arithmetic in UTC,
 * dense series from the sparse rows the store returns (a bucket with no row is a zero), which
 * buckets a run must judge, and which flags are worth an alert — campaigns that under-perform and
 * segments that over-perform (overall: both). "Under" depends on the metric: fewer opens, clicks,
 * sends or revenue, or more bounces, complaints or unsubscribes. Pure: the detector is core/anomaly.ts.
 */
import { createHash } from 'node:crypto';
import { type AnomalyOptions, detectAnomalies } from './anomaly.ts';

export const GRANULARITIES = ['day', 'hour'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const ANOMALY_SCOPES = ['campaign', 'segment', 'overall'] as const;
export type AnomalyScope = (typeof ANOMALY_SCOPES)[number];

export const ANOMALY_METRICS = [
  'sends',
  'human_opens',
  'clicks',
  'bounces',
  'complaints',
  'unsubscribes',
  'revenue',
] as const;
export type AnomalyMetric = (typeof ANOMALY_METRICS)[number];

/** Metrics where a rise is bad news. */
const HIGHER_IS_WORSE: ReadonlySet<AnomalyMetric> = new Set(['bounces', 'complaints', 'unsubscribes']);

export const STEP_MS: Record<Granularity, number> = { day: 86_400_000, hour: 3_600_000 };

/** One weekly season: 7 daily points, 168 hourly ones. */
export const SEASON: Record<Granularity, number> = { day: 7, hour: 168 };

/** The start of the bucket holding `t` (UTC). */
export function bucketStart(t: number, g: Granularity): number {
  return Math.floor(t / STEP_MS[g]) * STEP_MS[g];
}

/**
 * The newest bucket a run at `now` may judge: the last one that ended at least `settleMs` ago
 * (reactions and revenue arrive late; judging a bucket before they are in flags every bucket low).
 */
export function latestJudgeable(now: number, g: Granularity, settleMs: number): number {
  return bucketStart(now - settleMs, g) - STEP_MS[g];
}

/** One non-zero count as the store returns it. */
export interface SeriesPoint {
  scope: AnomalyScope;
  key: string;
  metric: AnomalyMetric;
  /** Bucket start, ms since the epoch. */
  bucket: number;
  value: number;
}

export interface SeriesId {
  scope: AnomalyScope;
  key: string;
  metric: AnomalyMetric;
}

/** Groups sparse points into dense series over buckets [from, to] (both starts, inclusive), zeros filled. */
export function denseSeries(
  points: readonly SeriesPoint[],
  g: Granularity,
  from: number,
  to: number,
): { id: SeriesId; values: number[] }[] {
  const step = STEP_MS[g];
  const n = Math.floor((to - from) / step) + 1;
  const byId = new Map<string, { id: SeriesId; values: number[] }>();
  for (const p of points) {
    if (p.bucket < from || p.bucket > to) continue;
    const k = `${p.scope}\u0000${p.key}\u0000${p.metric}`;
    let s = byId.get(k);
    if (s === undefined) {
      s = { id: { scope: p.scope, key: p.key, metric: p.metric }, values: new Array<number>(n).fill(0) };
      byId.set(k, s);
    }
    s.values[Math.floor((p.bucket - from) / step)] = (s.values[Math.floor((p.bucket - from) / step)] ?? 0) + p.value;
  }
  return [...byId.values()].sort((a, b) => seriesOrder(a.id, b.id));
}

function seriesOrder(a: SeriesId, b: SeriesId): number {
  return a.scope.localeCompare(b.scope) || a.key.localeCompare(b.key) || a.metric.localeCompare(b.metric);
}

export type Performance = 'under' | 'over';

/** Whether a move in `direction` on `metric` is under- or over-performance. */
export function performanceOf(metric: AnomalyMetric, direction: 'high' | 'low'): Performance {
  const worse = HIGHER_IS_WORSE.has(metric) ? direction === 'high' : direction === 'low';
  return worse ? 'under' : 'over';
}

/** Campaigns are alerted when they under-perform, segments when they over-perform, overall both ways. */
export function isAlerted(scope: AnomalyScope, performance: Performance): boolean {
  if (scope === 'campaign') return performance === 'under';
  if (scope === 'segment') return performance === 'over';
  return true;
}

export interface JudgedAnomaly extends SeriesId {
  id: string;
  granularity: Granularity;
  bucket: number;
  value: number;
  baseline: number;
  /** Robust z, clamped to ±1e6 (a flat history gives an infinite score, which JSON cannot carry). */
  score: number;
  direction: 'high' | 'low';
  performance: Performance;
}

/** Deterministic per (series, bucket): the same judgement made twice has the same id. */
export function anomalyId(g: Granularity, s: SeriesId, bucket: number): string {
  const h = createHash('sha256')
    .update(JSON.stringify([g, s.scope, s.key, s.metric, bucket]))
    .digest('hex');
  return `anm_${h.slice(0, 24)}`;
}

const MAX_SCORE = 1e6;

/**
 * Runs the detector over each series (history from `from`, or from its first non-zero bucket when
 * later) and returns the alerted anomalies whose bucket lies in [firstDue, lastDue]; earlier buckets
 * are history only, judged by an earlier run.
 */
export function judgeBuckets(
  points: readonly SeriesPoint[],
  g: Granularity,
  window: { from: number; firstDue: number; lastDue: number },
  options: Omit<AnomalyOptions, 'season'>,
): JudgedAnomaly[] {
  const step = STEP_MS[g];
  const out: JudgedAnomaly[] = [];
  for (const s of denseSeries(points, g, window.from, window.lastDue)) {
    // a series starts at its first activity: zeros before a campaign existed are not a baseline
    const born = s.values.findIndex((v) => v !== 0);
    if (born < 0) continue;
    for (const a of detectAnomalies(s.values.slice(born), { ...options, season: SEASON[g] })) {
      const bucket = window.from + (born + a.index) * step;
      if (bucket < window.firstDue) continue;
      const performance = performanceOf(s.id.metric, a.direction);
      if (!isAlerted(s.id.scope, performance)) continue;
      out.push({
        ...s.id,
        id: anomalyId(g, s.id, bucket),
        granularity: g,
        bucket,
        value: a.value,
        baseline: a.baseline,
        score: Math.max(-MAX_SCORE, Math.min(MAX_SCORE, a.score)),
        direction: a.direction,
        performance,
      });
    }
  }
  return out;
}
