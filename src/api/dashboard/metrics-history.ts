/**
 * The System page's last hour: every `intervalMs` of clock time it reads the bus's depth per
 * (topic, group), the handler histogram and outcome counters of this process's metrics registry,
 * the dead-letter count and the store/bus health, and keeps the samples in a ring of `windowMs`.
 * Requests are answered from that memory only, so a dashboard polling during a blast costs the
 * store nothing beyond the sampler's one depth query and two pings per interval.
 * Rates and latency quantiles are differences between consecutive samples. Handler figures are
 * this process's (a split deployment shows the dashboard process's own stages; depth, lag and
 * dead letters are the bus's, fleet-wide).
 */
import type { Registry } from 'prom-client';
import type { Bus } from '../../bus/port.ts';
import type { Clock } from '../../clock/port.ts';
import { isSwitchyardError } from '../../core/errors.ts';
import type { Db } from '../../store/port.ts';
import { bucketDelta, histogramQuantile, type CumulativeBucket } from './quantile.ts';

export interface Health {
  status: 'ok' | 'unavailable';
  /** Error code when not ok (never a driver message: it can name hosts and users). */
  code?: string;
  latencyMs: number;
}

interface GroupCounters {
  topic: string;
  group: string;
  pending: number;
  inFlight: number;
  retrying: number;
  lagMs: number;
  handled: number;
  failed: number;
  dead: number;
  buckets: CumulativeBucket[];
}

interface Sample {
  at: number;
  groups: Map<string, GroupCounters>;
  deadLetters: number;
  health: { store: Health; bus: Health };
}

/** One (topic, group) over the window: arrays aligned with `SystemHistory.at`. */
export interface GroupSeries {
  topic: string;
  group: string;
  current: { pending: number; inFlight: number; retrying: number; lagSeconds: number };
  depth: number[];
  lagSeconds: number[];
  /** Messages handled per second (every outcome). */
  throughput: number[];
  /** Handler latency quantiles per interval, milliseconds; null when nothing was handled. */
  p50Ms: (number | null)[];
  p99Ms: (number | null)[];
  /** Failed attempts (retried or dead-lettered) per second. */
  errorsPerSec: number[];
  /** Messages dead-lettered per second. */
  deadPerSec: number[];
}

export interface SystemHistory {
  /** Epoch milliseconds of each point (the later sample of each interval). */
  at: number[];
  intervalMs: number;
  groups: GroupSeries[];
  deadLetters: { current: number; series: number[] };
  health: { store: Health; bus: Health } | null;
}

export interface MetricsHistory {
  /** Takes one sample now (the loop calls it; tests call it directly). */
  sampleOnce(): Promise<void>;
  /** Samples every intervalMs until the signal aborts. */
  run(signal: AbortSignal): Promise<void>;
  history(): SystemHistory;
}

export interface MetricsHistoryDeps {
  db: Pick<Db, 'ping'>;
  bus: Pick<Bus, 'depth' | 'ping' | 'deadLetters'>;
  registry: Registry;
  clock: Clock;
}

const keyOf = (topic: string, group: string): string => `${topic}\u0000${group}`;
/** Intervals returned one by one (5 minutes at 2 s); older ones are merged OLDER_STEP at a time. */
const FULL_RESOLUTION = 150;
const OLDER_STEP = 15;

async function check(clock: Clock, ping: () => Promise<unknown>): Promise<Health> {
  const started = clock.now().getTime();
  try {
    await ping();
    return { status: 'ok', latencyMs: clock.now().getTime() - started };
  } catch (err) {
    return {
      status: 'unavailable',
      code: isSwitchyardError(err) ? err.code : 'UNAVAILABLE',
      latencyMs: clock.now().getTime() - started,
    };
  }
}

type MetricValue = { labels: Record<string, string | number>; value: number; metricName?: string };

async function valuesOf(registry: Registry, name: string): Promise<MetricValue[]> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return [];
  return ((await metric.get()) as { values: MetricValue[] }).values;
}

export function createMetricsHistory(
  deps: MetricsHistoryDeps,
  options: { intervalMs?: number; windowMs?: number } = {},
): MetricsHistory {
  const intervalMs = options.intervalMs ?? 2_000;
  const capacity = Math.max(2, Math.ceil((options.windowMs ?? 3_600_000) / intervalMs) + 1);
  const samples: Sample[] = [];

  async function sampleOnce(): Promise<void> {
    const at = deps.clock.now().getTime();
    const [depth, deadLetters, store, bus, hist, handled] = await Promise.all([
      deps.bus.depth().catch(() => []),
      deps.bus.deadLetters.count().catch(() => samples.at(-1)?.deadLetters ?? 0),
      check(deps.clock, () => deps.db.ping()),
      check(deps.clock, () => deps.bus.ping()),
      valuesOf(deps.registry, 'switchyard_handler_duration_seconds'),
      valuesOf(deps.registry, 'switchyard_messages_handled_total'),
    ]);
    const groups = new Map<string, GroupCounters>();
    const entry = (topic: string, group: string): GroupCounters => {
      const k = keyOf(topic, group);
      let g = groups.get(k);
      if (g === undefined) {
        g = {
          topic,
          group,
          pending: 0,
          inFlight: 0,
          retrying: 0,
          lagMs: 0,
          handled: 0,
          failed: 0,
          dead: 0,
          buckets: [],
        };
        groups.set(k, g);
      }
      return g;
    };
    for (const d of depth) {
      const g = entry(d.topic, d.group);
      g.pending = d.pending;
      g.inFlight = d.inFlight;
      g.retrying = d.retrying;
      g.lagMs = d.oldestPendingMs;
    }
    for (const v of hist) {
      if (!v.metricName?.endsWith('_bucket')) continue;
      const le = v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le);
      entry(String(v.labels.topic), String(v.labels.group)).buckets.push({ le, count: v.value });
    }
    for (const v of handled) {
      const g = entry(String(v.labels.topic), String(v.labels.group));
      g.handled += v.value;
      if (v.labels.outcome === 'retry' || v.labels.outcome === 'dead') g.failed += v.value;
      if (v.labels.outcome === 'dead') g.dead += v.value;
    }
    for (const g of groups.values()) g.buckets.sort((a, b) => a.le - b.le);
    samples.push({ at, groups, deadLetters, health: { store, bus } });
    if (samples.length > capacity) samples.splice(0, samples.length - capacity);
  }

  /** Sample index pairs [from, to] of the points to return: the newest FULL_RESOLUTION
   *  intervals one by one, older ones merged OLDER_STEP at a time, so an hour is ~260 points. */
  function ranges(intervals: number): [number, number][] {
    const out: [number, number][] = [];
    let to = intervals;
    for (let n = 0; to > 0; n++) {
      const step = n < FULL_RESOLUTION ? 1 : OLDER_STEP;
      out.push([Math.max(0, to - step), to]);
      to -= step;
    }
    return out.reverse();
  }

  function build(): SystemHistory {
    const names = new Map<string, { topic: string; group: string }>();
    for (const s of samples) for (const [k, g] of s.groups) names.set(k, { topic: g.topic, group: g.group });
    const last = samples.at(-1);
    // interval i runs from samples[i] to samples[i + 1]
    const spans = ranges(Math.max(0, samples.length - 1));
    const groups: GroupSeries[] = [...names].map(([k, { topic, group }]) => {
      const cur = last?.groups.get(k);
      const series: GroupSeries = {
        topic,
        group,
        current: {
          pending: cur?.pending ?? 0,
          inFlight: cur?.inFlight ?? 0,
          retrying: cur?.retrying ?? 0,
          lagSeconds: (cur?.lagMs ?? 0) / 1000,
        },
        depth: [],
        lagSeconds: [],
        throughput: [],
        p50Ms: [],
        p99Ms: [],
        errorsPerSec: [],
        deadPerSec: [],
      };
      for (const [from, to] of spans) {
        const prev = samples[from]!.groups.get(k);
        const now = samples[to]!.groups.get(k);
        const seconds = Math.max(0.001, (samples[to]!.at - samples[from]!.at) / 1000);
        // a counter that went down means the process restarted: count from zero
        const rate = (a: number | undefined, b: number | undefined): number =>
          Math.max(0, (a ?? 0) - ((b ?? 0) > (a ?? 0) ? 0 : (b ?? 0))) / seconds;
        series.depth.push((now?.pending ?? 0) + (now?.inFlight ?? 0) + (now?.retrying ?? 0));
        series.lagSeconds.push((now?.lagMs ?? 0) / 1000);
        series.throughput.push(rate(now?.handled, prev?.handled));
        series.errorsPerSec.push(rate(now?.failed, prev?.failed));
        series.deadPerSec.push(rate(now?.dead, prev?.dead));
        // cumulative counters: the difference over a merged span is the span's own histogram
        const delta = bucketDelta(now?.buckets ?? [], prev?.buckets);
        const ms = (q: number): number | null => {
          const v = histogramQuantile(q, delta);
          return v === null ? null : Math.round(v * 1_000_000) / 1000;
        };
        series.p50Ms.push(ms(0.5));
        series.p99Ms.push(ms(0.99));
      }
      return series;
    });
    groups.sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic));
    return {
      at: spans.map(([, to]) => samples[to]!.at),
      intervalMs,
      groups,
      deadLetters: { current: last?.deadLetters ?? 0, series: spans.map(([, to]) => samples[to]!.deadLetters) },
      health: last?.health ?? null,
    };
  }

  // answered from this until the next sample: a dashboard polling between samples costs nothing
  let built: { last: Sample | undefined; history: SystemHistory } | undefined;
  function history(): SystemHistory {
    if (built === undefined || built.last !== samples.at(-1)) built = { last: samples.at(-1), history: build() };
    return built.history;
  }

  return {
    sampleOnce,
    history,
    async run(signal) {
      while (!signal.aborted) {
        await sampleOnce();
        await deps.clock.sleep(intervalMs, signal).catch(() => undefined);
      }
    },
  };
}
