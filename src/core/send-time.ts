/**
 * Send-time optimisation (pure): learns when a contact opens mail, as a 24-bucket histogram of
 * local hours with exponentially decayed counts, and picks the best send time within a window.
 * Time-zone conversion uses Intl only (no tz database of our own); nothing here reads the clock.
 *
 * Invariants (fast-check properties in test/core/send-time.test.ts): the chosen time is within
 * [earliest, earliest + withinHours] and its local hour is outside the quiet hours and inside the
 * send window. When no instant satisfies them, bestSendTime throws VALIDATION_FAILED.
 * Machine opens (privacy proxies, scanners) never count: they say nothing about the person.
 */
import type { EngagementEvent } from './events.ts';
import { SwitchyardError } from './errors.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface OpenHistogram {
  /** 24 decayed counts, index = local hour; weights are as of `updatedAt`. */
  readonly counts: readonly number[];
  /** Raw number of events learned (for the fallback threshold), not decayed. */
  readonly events: number;
  /** Epoch ms of the newest event (-Infinity when empty). */
  readonly updatedAt: number;
}

/** A range of local hours [start, end); wraps midnight when start > end (22 → 7). */
export interface HourRange {
  start: number;
  end: number;
}

export interface SendTimeOptions {
  /** IANA time zone of the contact, e.g. "Europe/Berlin". */
  tz: string;
  earliest: Date;
  /** Length of the search window (default 24). */
  withinHours?: number;
  /** Local hours never to send in. */
  quietHours?: HourRange;
  /** If set, local hours to send in only. */
  sendWindow?: HourRange;
  /** Fewer events than this and the next histogram down is used (default 5). */
  minEvents?: number;
  /** Spreads sends inside the chosen hour by a hash of this key (e.g. the contact id), so a
   *  campaign is not released at hh:00 (deliverability.md §4). Unset: the hour's first instant. */
  spreadKey?: string;
}

export interface SendTimeHistograms {
  contact?: OpenHistogram;
  segment?: OpenHistogram;
  global?: OpenHistogram;
}

export interface SendTimePlan {
  at: Date;
  source: 'contact' | 'segment' | 'global' | 'none';
  localHour: number;
}

export const DEFAULT_HALF_LIFE_DAYS = 30;

export function emptyHistogram(): OpenHistogram {
  return { counts: Array.from({ length: 24 }, () => 0), events: 0, updatedAt: Number.NEGATIVE_INFINITY };
}

/** Reads local hour/minute/second; throws VALIDATION_FAILED naming an unknown time zone. */
export function createLocalTime(tz: string): (at: Date) => { hour: number; minute: number; second: number } {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch (cause) {
    throw new SwitchyardError('VALIDATION_FAILED', `unknown time zone "${tz}"`, { cause, details: { tz } });
  }
  return (at) => {
    const parts = fmt.formatToParts(at);
    const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
    return { hour: get('hour') % 24, minute: get('minute'), second: get('second') };
  };
}

export function localHour(at: Date, tz: string): number {
  return createLocalTime(tz)(at).hour;
}

function decayTo(h: OpenHistogram, toMs: number, halfLifeDays: number): number[] {
  if (!(toMs > h.updatedAt) || h.updatedAt === Number.NEGATIVE_INFINITY) return [...h.counts];
  const keep = 0.5 ** ((toMs - h.updatedAt) / (halfLifeDays * DAY_MS));
  return h.counts.map((c) => c * keep);
}

/** Adds one open or click at `at` (any order of arrival; older events weigh less). */
export function addEngagement(
  h: OpenHistogram,
  at: Date,
  tz: string,
  halfLifeDays = DEFAULT_HALF_LIFE_DAYS,
): OpenHistogram {
  const t = at.getTime();
  const hour = localHour(at, tz);
  if (t >= h.updatedAt) {
    const counts = decayTo(h, t, halfLifeDays);
    counts[hour] = counts[hour]! + 1;
    return { counts, events: h.events + 1, updatedAt: t };
  }
  const counts = [...h.counts];
  counts[hour] = counts[hour]! + 0.5 ** ((h.updatedAt - t) / (halfLifeDays * DAY_MS));
  return { counts, events: h.events + 1, updatedAt: h.updatedAt };
}

/** Learns a contact's histogram from normalised events: human opens and clicks only. */
export function learnHistogram(
  events: readonly EngagementEvent[],
  tz: string,
  halfLifeDays = DEFAULT_HALF_LIFE_DAYS,
): OpenHistogram {
  let h = emptyHistogram();
  for (const e of events) {
    if ((e.type === 'opened' || e.type === 'clicked') && e.isMachine !== true)
      h = addEngagement(h, e.occurredAt, tz, halfLifeDays);
  }
  return h;
}

/** Sums histograms (e.g. a segment's contacts, or everyone for the global one). */
export function mergeHistograms(hs: readonly OpenHistogram[], halfLifeDays = DEFAULT_HALF_LIFE_DAYS): OpenHistogram {
  const newest = Math.max(Number.NEGATIVE_INFINITY, ...hs.map((h) => h.updatedAt));
  const counts = Array.from({ length: 24 }, () => 0);
  let events = 0;
  for (const h of hs) {
    decayTo(h, newest, halfLifeDays).forEach((c, i) => {
      counts[i] = counts[i]! + c;
    });
    events += h.events;
  }
  return { counts, events, updatedAt: newest };
}

export function inHourRange(r: HourRange, hour: number): boolean {
  if (r.start === r.end) return false;
  return r.start < r.end ? hour >= r.start && hour < r.end : hour >= r.start || hour < r.end;
}

function checkRange(name: string, r: HourRange | undefined): void {
  if (r === undefined) return;
  for (const v of [r.start, r.end]) {
    if (!Number.isInteger(v) || v < 0 || v > 23) {
      throw new SwitchyardError(
        'VALIDATION_FAILED',
        `${name} hours must be integers 0..23 (got ${r.start}..${r.end})`,
        { details: { [name]: r } },
      );
    }
  }
}

/** Contact if it has enough events, else segment, else global, else none. */
export function pickHistogram(
  hs: SendTimeHistograms,
  minEvents: number,
): { histogram: OpenHistogram | undefined; source: SendTimePlan['source'] } {
  for (const source of ['contact', 'segment', 'global'] as const) {
    const h = hs[source];
    if (h !== undefined && h.events >= minEvents) return { histogram: h, source };
  }
  return { histogram: undefined, source: 'none' };
}

/** A cheap deterministic hash in [0, 1) (FNV-1a), for spreading within an hour. */
function unitHash(key: string): number {
  let x = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) x = Math.imul(x ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return x / 0x1_0000_0000;
}

/** The best send time and why; see bestSendTime. */
export function planSendTime(hs: SendTimeHistograms, opts: SendTimeOptions): SendTimePlan {
  checkRange('quietHours', opts.quietHours);
  checkRange('sendWindow', opts.sendWindow);
  const withinHours = opts.withinHours ?? 24;
  if (!(withinHours >= 0))
    throw new SwitchyardError('VALIDATION_FAILED', `withinHours must be >= 0 (got ${withinHours})`);
  const local = createLocalTime(opts.tz);
  const { histogram, source } = pickHistogram(hs, opts.minEvents ?? 5);
  const start = opts.earliest.getTime();
  const limit = start + withinHours * HOUR_MS;
  const first = local(opts.earliest);
  // Candidates: earliest itself, then every local hour boundary up to the limit.
  const nextBoundary = start - ((first.minute * 60 + first.second) * 1000 + (start % 1000)) + HOUR_MS;
  let best: { at: number; end: number; hour: number; score: number } | undefined;
  for (let at = start, end = nextBoundary; at <= limit; at = end, end += HOUR_MS) {
    const hour = at === start ? first.hour : local(new Date(at)).hour;
    if (opts.quietHours !== undefined && inHourRange(opts.quietHours, hour)) continue;
    if (opts.sendWindow !== undefined && !inHourRange(opts.sendWindow, hour)) continue;
    const score = histogram?.counts[hour] ?? 0;
    if (best === undefined || score > best.score) best = { at, end, hour, score };
  }
  if (best === undefined) {
    throw new SwitchyardError(
      'VALIDATION_FAILED',
      `no send time within ${withinHours} h of ${opts.earliest.toISOString()} in ${opts.tz} is outside `
        + `quiet hours and inside the send window`,
      {
        details: { quietHours: opts.quietHours, sendWindow: opts.sendWindow },
      },
    );
  }
  const room = Math.min(best.end, limit + 1) - best.at;
  const spread = opts.spreadKey === undefined ? best.at : best.at + Math.floor(unitHash(opts.spreadKey) * room);
  // A half-hour DST shift (Lord Howe) can end a local hour early: never spread out of it.
  const at = spread !== best.at && local(new Date(spread)).hour !== best.hour ? best.at : spread;
  return { at: new Date(at), source, localHour: best.hour };
}

/** The instant in [earliest, earliest + withinHours] whose local hour the chosen histogram rates
 *  highest, outside quiet hours and inside the send window; ties go to the earliest. */
export function bestSendTime(hs: SendTimeHistograms, opts: SendTimeOptions): Date {
  return planSendTime(hs, opts).at;
}
