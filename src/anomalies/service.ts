/**
 * The anomaly detector on a schedule (docs/attribution.md, Anomalies): each run judges, per
 * granularity, every bucket that ended since the last judged one (the durable `anomaly_runs` row,
 * locked for the run, so a restart neither skips nor repeats a bucket and two processes never judge
 * one twice), from daily and hourly series computed set-wise in the store. An alerted anomaly is
 * stored once per (series, bucket), announced on `anomaly.detected` through the outbox in the same
 * transaction, and mailed to the configured recipients on the transactional lane: one email per
 * judged bucket, idempotency key per (bucket, recipient), so a crash between queueing and marking
 * repeats nothing. Time comes from the injected clock only.
 */
import type { Logger } from 'pino';
import { addToOutbox, publishOutboxed } from '../bus/outbox.ts';
import type { Bus } from '../bus/port.ts';
import { pollUntilAborted } from '../bus/relay.ts';
import { type AnomalyDetectedPayload, TOPICS } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import {
  ANOMALY_METRICS,
  type AnomalyMetric,
  type Granularity,
  judgeBuckets,
  latestJudgeable,
  SEASON,
  type SeriesPoint,
  STEP_MS,
} from '../core/anomaly-series.ts';
import type { MessageService } from '../messages/service.ts';
import type { Db } from '../store/port.ts';
import * as q from './queries.ts';

export interface AnomalySettings {
  /** Which series to judge (default both). */
  granularities: readonly Granularity[];
  /** How long after a bucket ends before it is judged (late reactions and revenue). */
  settleMs: number;
  /** Robust z at which a point is flagged (core/anomaly.ts). */
  threshold: number;
  /** Series points whose baseline is below this are not judged (too little volume). */
  minBaseline: number;
  /** Who gets the alert email; empty: stored and published only. */
  recipients: readonly string[];
  from: string;
  /** How often the loop looks for judgeable buckets. */
  intervalMs: number;
  /** The revenue series sums conversions in this currency only (lower case ISO 4217; default usd). */
  currency?: string;
}

/** What `anomaly.detected` announces, with when it was judged and mailed. */
export interface StoredAnomaly extends AnomalyDetectedPayload {
  granularity: Granularity;
  detectedAt: string;
  notifiedAt: string | null;
}

export interface AnomalyFilter {
  from?: Date;
  to?: Date;
  scope?: 'campaign' | 'segment' | 'overall';
  metric?: string;
  granularity?: Granularity;
  limit?: number;
}

export interface AnomalyService {
  /** Judges what is due, then queues owed alert emails. Safe to call any time, from any process. */
  runOnce(): Promise<{ judgedBuckets: number; stored: number; emailed: number }>;
  /** The loop of the `anomalies` stage: runOnce every intervalMs of the clock until aborted. */
  run(signal: AbortSignal): Promise<void>;
  list(filter?: AnomalyFilter): Promise<StoredAnomaly[]>;
}

/**
 * Detector windows per granularity. Daily: the core's defaults (8 seasons of baseline, 8 of residual
 * scale), 16 weeks of history. Hourly: 4 seasons of baseline and 2 of scale, 6 weeks of history, so
 * a run reads ~1000 hourly buckets instead of ~2700 (the scale still holds 336 residuals).
 */
const WINDOWS: Record<Granularity, { seasonsBack: number; scaleSeasons: number; historySeasons: number }> = {
  day: { seasonsBack: 8, scaleSeasons: 8, historySeasons: 16 },
  hour: { seasonsBack: 4, scaleSeasons: 2, historySeasons: 6 },
};

/** Most buckets one run judges per granularity; a longer outage is caught up over several runs. */
const MAX_BUCKETS_PER_RUN = 24 * 7;

const toStored = (r: q.AnomalyRow): StoredAnomaly => ({
  id: r.id,
  granularity: r.granularity,
  scope: r.scope,
  key: r.scope_key,
  metric: r.metric,
  bucket: r.bucket.toISOString(),
  value: Number(r.value),
  baseline: Number(r.baseline),
  score: Number(r.score),
  direction: r.direction,
  performance: r.performance,
  detectedAt: r.detected_at.toISOString(),
  notifiedAt: r.notified_at === null ? null : r.notified_at.toISOString(),
});

export function createAnomalyService(
  deps: { db: Db; bus: Bus; clock: Clock; log: Logger; messages: Pick<MessageService, 'send'> },
  settings: AnomalySettings,
): AnomalyService {
  const { db, bus, clock, log } = deps;

  /** Judges the due buckets of one granularity; returns how many buckets and stored anomalies. */
  async function judge(g: Granularity): Promise<{ buckets: number; stored: number }> {
    const step = STEP_MS[g];
    const now = clock.now();
    const latest = latestJudgeable(now.getTime(), g, settings.settleMs);
    const result = await db.transaction(async (tx) => {
      // a first run judges only the newest finished bucket: older ones were never promised
      const last = (await q.lockRun(tx, g, new Date(latest - step), now)).getTime();
      if (last >= latest) return { buckets: 0, stored: 0, written: null };
      const firstDue = last + step;
      const lastDue = Math.min(latest, firstDue + (MAX_BUCKETS_PER_RUN - 1) * step);
      const w = WINDOWS[g];
      const from = firstDue - w.historySeasons * SEASON[g] * step;
      const { rows } = await tx.query<q.SeriesRow>(q.SERIES, [
        g,
        new Date(from),
        new Date(lastDue + step),
        (settings.currency ?? 'usd').toLowerCase(),
      ]);
      const points: SeriesPoint[] = rows
        .filter((r) => (ANOMALY_METRICS as readonly string[]).includes(r.metric))
        .map((r) => ({
          scope: r.scope,
          key: r.key,
          metric: r.metric as AnomalyMetric,
          bucket: r.bucket.getTime(),
          value: Number(r.value),
        }));
      const judged = judgeBuckets(
        points,
        g,
        { from, firstDue, lastDue },
        {
          seasonsBack: w.seasonsBack,
          scaleWindow: w.scaleSeasons * SEASON[g],
          threshold: settings.threshold,
          minBaseline: settings.minBaseline,
        },
      );
      const fresh = new Set(
        await q.insertAnomalies(
          tx,
          judged.map((a) => ({ ...a, bucket: new Date(a.bucket) })),
          now,
        ),
      );
      const events = judged
        .filter((a) => fresh.has(a.id))
        .map((a) => ({
          id: a.id,
          key: `${a.scope}:${a.key}`,
          payload: {
            id: a.id,
            granularity: g,
            scope: a.scope,
            key: a.key,
            metric: a.metric,
            bucket: new Date(a.bucket).toISOString(),
            value: a.value,
            baseline: a.baseline,
            score: a.score,
            direction: a.direction,
            performance: a.performance,
          } satisfies AnomalyDetectedPayload,
        }));
      const written = await addToOutbox(tx, TOPICS.anomalyDetected, events, now);
      await q.advanceRun(tx, g, new Date(lastDue), now);
      return { buckets: Math.round((lastDue - firstDue) / step) + 1, stored: fresh.size, written };
    });
    if (result.written !== null) await publishOutboxed({ db, bus }, [result.written]);
    return { buckets: result.buckets, stored: result.stored };
  }

  /** Queues one email per owed (granularity, bucket) to each recipient, then marks the bucket notified. */
  async function notify(): Promise<number> {
    let emailed = 0;
    for (const group of await q.unnotifiedGroups(db, 50)) {
      const items = (await q.anomaliesOfGroup(db, group.granularity, group.bucket)).map(toStored);
      for (const to of settings.recipients) {
        await deps.messages.send({
          idempotencyKey: `anomalies:${group.granularity}:${group.bucket.toISOString()}:${to}`,
          category: 'alert',
          to: { email: to },
          from: { address: settings.from, name: 'Switchyard' },
          subject: '{{ contact.subject }}',
          template: { text: '{{ contact.body }}' },
          data: alertText(group.granularity as Granularity, group.bucket, items),
        });
        emailed++;
      }
      await q.markNotified(db, group.granularity, group.bucket, clock.now());
    }
    return emailed;
  }

  const service: AnomalyService = {
    async runOnce() {
      let judgedBuckets = 0;
      let stored = 0;
      for (const g of settings.granularities) {
        const r = await judge(g);
        judgedBuckets += r.buckets;
        stored += r.stored;
      }
      const emailed = await notify();
      if (stored > 0) log.info({ stored, judgedBuckets, emailed }, 'anomalies detected');
      return { judgedBuckets, stored, emailed };
    },
    run(signal) {
      // a step that judged something runs again at once: an outage is caught up run by run
      return pollUntilAborted({ clock, log }, signal, settings.intervalMs, 'anomaly detector', async () => {
        const r = await service.runOnce();
        return r.judgedBuckets > 1 ? r.judgedBuckets : 0;
      });
    },
    async list(f = {}) {
      const rows = await q.listAnomalies(
        db,
        {
          from: f.from ?? null,
          to: f.to ?? null,
          scope: f.scope ?? null,
          metric: f.metric ?? null,
          granularity: f.granularity ?? null,
        },
        f.limit ?? 100,
      );
      return rows.map(toStored);
    },
  };
  return service;
}

/** The alert's subject and plain-text body (passed as template data: never parsed as a template). */
export function alertText(
  g: Granularity,
  bucket: Date,
  items: readonly StoredAnomaly[],
): { subject: string; body: string } {
  const when = g === 'day' ? bucket.toISOString().slice(0, 10) : `${bucket.toISOString().slice(0, 13)}:00Z`;
  const lines = items.map(
    (a) =>
      `- ${a.scope} ${a.key}: ${a.metric} ${a.performance}-performing: ${round(a.value)} against a baseline of `
      + `${round(a.baseline)} (robust z ${round(a.score)})`,
  );
  return {
    subject: `Switchyard: ${items.length} ${items.length === 1 ? 'anomaly' : 'anomalies'} in the ${g} of ${when}`,
    body: [
      `Anomalies in the ${g} starting ${bucket.toISOString()}:`,
      '',
      ...lines,
      '',
      'GET /v1/anomalies lists them.',
    ].join('\n'),
  };
}

const round = (x: number): string =>
  Math.abs(x) >= 1e6 ? (x > 0 ? '>1e6' : '<-1e6') : String(Math.round(x * 100) / 100);
