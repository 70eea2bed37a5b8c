/**
 * Conversions joined to touches → credit by campaign, channel, link, journey or segment, for any
 * model. Pure: the attribution service reads the rows, this does the rest. Journey hygiene
 * (attribution.md §1): touches in the lookback window before the conversion only (opens with their
 * own, shorter window), repeated identical touches (same kind and campaign) within 30 minutes
 * collapsed, ordered by (ts, touch id). Values are whole minor units; every model's rows sum
 * exactly to the attributed totals (largest remainder per conversion, or over the groups for the
 * path models).
 */
import { type MarkovCounts, markovCountsOf, markovFromCounts } from './markov.ts';
import type { PathRow } from './paths.ts';
import { creditTouches, type RuleModel, roundToMinorUnits } from './rules.ts';
import { EXACT_SHAPLEY_MAX_CHANNELS, type SetJourneys, shapley, shapleyCumulative } from './shapley.ts';

export const REPORT_MODELS = [
  'first',
  'last',
  'linear',
  'time-decay',
  'u-shape',
  'w-shape',
  'full-path',
  'positions',
  'markov',
  'shapley',
] as const;
export type ReportModel = (typeof REPORT_MODELS)[number];
export const GROUP_BY = ['campaign', 'channel', 'link', 'journey', 'segment'] as const;
export type GroupBy = (typeof GROUP_BY)[number];
export type TouchKind = 'send' | 'open' | 'click' | 'reply';

export interface ConversionInput {
  id: string;
  contactId: string | null;
  ts: number;
  grossMinor: number;
  refundedMinor: number;
}

export interface TouchInput {
  contactId: string;
  ts: number;
  kind: TouchKind;
  campaignId: string | null;
  url: string | null;
  journey: string | null;
  segment: string | null;
  touchId: string;
}

export interface ReportOptions {
  model: ReportModel;
  groupBy: GroupBy;
  lookbackDays: number;
  openLookbackDays: number;
  halfLifeDays: number;
  positions?: { first: number; middle: number; last: number };
  /** Shapley above 12 groups: permutations sampled and the seed. */
  samples?: number;
  seed?: number;
}

export interface ReportRow {
  key: string;
  conversions: number;
  valueMinor: number;
}

export interface AttributionReport {
  model: ReportModel;
  groupBy: GroupBy;
  rows: ReportRow[];
  totals: {
    conversions: number;
    grossMinor: number;
    refundedMinor: number;
    netMinor: number;
    attributedConversions: number;
    attributedMinor: number;
    /** No resolved contact, or no touch in the window. */
    unattributedConversions: number;
  };
  /** Shapley only: how it was computed and each group's standard error when sampled. */
  shapley?: { method: 'exact' | 'sampled'; samples: number; standardError: Record<string, number> };
}

const DAY = 86_400_000;
const COLLAPSE_MS = 30 * 60_000;

export function groupKey(t: TouchInput, by: GroupBy): string {
  switch (by) {
    case 'campaign':
      return t.campaignId ?? '(none)';
    case 'channel':
      return `email:${t.kind}`;
    case 'link':
      return t.url ?? `(${t.kind})`;
    case 'journey':
      return t.journey ?? '(none)';
    case 'segment':
      return t.segment ?? '(none)';
  }
}

/** The journey of one conversion: window, opens' shorter window, 30-minute collapse. */
export function journeyOf(
  touches: readonly TouchInput[],
  conversionTs: number,
  o: Pick<ReportOptions, 'lookbackDays' | 'openLookbackDays'>,
): TouchInput[] {
  const out: TouchInput[] = [];
  const lastSeen = new Map<string, number>();
  for (const t of touches) {
    const window = (t.kind === 'open' ? o.openLookbackDays : o.lookbackDays) * DAY;
    if (t.ts > conversionTs || t.ts < conversionTs - window) continue;
    const k = `${t.kind}\u0000${t.campaignId ?? ''}`;
    const prev = lastSeen.get(k);
    lastSeen.set(k, t.ts);
    if (prev !== undefined && t.ts - prev <= COLLAPSE_MS) continue;
    out.push(t);
  }
  return out;
}

function ruleOf(o: ReportOptions): RuleModel {
  switch (o.model) {
    case 'time-decay':
      return { kind: 'time-decay', halfLifeDays: o.halfLifeDays };
    case 'positions':
      return { kind: 'positions', ...(o.positions ?? { first: 0.4, middle: 0.2, last: 0.4 }) };
    case 'first':
    case 'last':
    case 'linear':
    case 'u-shape':
    case 'w-shape':
    case 'full-path':
      return { kind: o.model };
    default:
      throw new RangeError(`${o.model} is not a rule model`);
  }
}

/** One attributed conversion's kept touches as group keys with their times, and its net value. */
export interface KeyedJourney {
  keys: readonly string[];
  /** Epoch ms, one per key. */
  ts: readonly number[];
  convTs: number;
  net: number;
}

type Totals = AttributionReport['totals'];

function report(options: ReportOptions, acc: Map<string, ReportRow>, totals: Totals): AttributionReport {
  const rows = [...acc.values()].sort((a, b) => b.valueMinor - a.valueMinor || a.key.localeCompare(b.key));
  return { model: options.model, groupBy: options.groupBy, rows, totals };
}

/** A rule model over journeys: each conversion's net spread over its touches in whole minor units. */
export function creditJourneys(
  journeys: Iterable<KeyedJourney>,
  options: ReportOptions,
  totals: Totals,
): AttributionReport {
  const rule = ruleOf(options);
  const acc = new Map<string, ReportRow>();
  for (const j of journeys) {
    const shares = creditTouches(
      j.keys.map((k, i) => ({ channel: k, ts: j.ts[i] as number })),
      j.convTs,
      1,
      rule,
    );
    // refunds reverse what they undo: the net value is spread in the original proportions
    const minor = roundToMinorUnits(shares, j.net);
    j.keys.forEach((k, i) => {
      let r = acc.get(k);
      if (!r) {
        r = { key: k, conversions: 0, valueMinor: 0 };
        acc.set(k, r);
      }
      r.conversions += shares[i] as number;
      r.valueMinor += minor[i] as number;
    });
  }
  return report(options, acc, totals);
}

/** Path-model credit per group: conversions as given, value rounded over the groups to the attributed net. */
function pathRows(convByKey: Map<string, number>, valueByKey: Map<string, number>, totals: Totals) {
  const acc = new Map<string, ReportRow>();
  if (totals.attributedConversions === 0) return acc;
  const keys = [...convByKey.keys()];
  const minor = roundToMinorUnits(
    keys.map((k) => Math.max(0, valueByKey.get(k) ?? 0)),
    totals.attributedMinor,
  );
  keys.forEach((k, i) => {
    acc.set(k, { key: k, conversions: convByKey.get(k) ?? 0, valueMinor: minor[i] as number });
  });
  return acc;
}

/** Shapley over the converting journeys' key sets (aggregated or not). */
export function shapleyOverSets(
  sets: readonly SetJourneys[],
  options: ReportOptions,
  totals: Totals,
): AttributionReport {
  let convByKey = new Map<string, number>();
  let valueByKey = new Map<string, number>();
  if (sets.length > 0) {
    // the cumulative characteristic has an exact closed form for any number of groups (its
    // Harsanyi dividends are the sets' amounts); the coalition sum is used up to 12 groups
    const exact = new Set(sets.flatMap((x) => x.channels)).size <= EXACT_SHAPLEY_MAX_CHANNELS;
    if (exact) {
      convByKey = shapley(sets, { measure: 'conversions' }).values;
      valueByKey = shapley(sets, { measure: 'value' }).values;
    } else {
      convByKey = shapleyCumulative(sets, 'conversions');
      valueByKey = shapleyCumulative(sets, 'value');
    }
  }
  return {
    ...report(options, pathRows(convByKey, valueByKey, totals), totals),
    shapley: { method: 'exact', samples: 0, standardError: {} },
  };
}

/** Markov removal effects over chain counts (from paths here, or counted in SQL by the service). */
export function markovOverCounts(m: MarkovCounts, options: ReportOptions, totals: Totals): AttributionReport {
  const r = markovFromCounts(m, { conversions: totals.attributedConversions, value: totals.attributedMinor });
  const convByKey = new Map([...r.channels].map(([k, e]) => [k, e.conversions] as const));
  const valueByKey = new Map([...r.channels].map(([k, e]) => [k, e.value] as const));
  return report(options, pathRows(convByKey, valueByKey, totals), totals);
}

/**
 * `touchesByContact` holds each contact's touches sorted by (ts, touchId); `nonConverting` the
 * journeys of contacts who did not convert in the period (Markov nulls).
 */
export function attributeConversions(
  conversions: readonly ConversionInput[],
  touchesByContact: ReadonlyMap<string, readonly TouchInput[]>,
  options: ReportOptions,
  nonConverting: ReadonlyArray<readonly TouchInput[]> = [],
): AttributionReport {
  const totals: Totals = {
    conversions: 0,
    grossMinor: 0,
    refundedMinor: 0,
    netMinor: 0,
    attributedConversions: 0,
    attributedMinor: 0,
    unattributedConversions: 0,
  };
  const journeys: KeyedJourney[] = [];
  for (const c of conversions) {
    const net = c.grossMinor - c.refundedMinor;
    totals.conversions++;
    totals.grossMinor += c.grossMinor;
    totals.refundedMinor += c.refundedMinor;
    totals.netMinor += net;
    const journey = c.contactId === null ? [] : journeyOf(touchesByContact.get(c.contactId) ?? [], c.ts, options);
    if (journey.length === 0) {
      totals.unattributedConversions++;
      continue;
    }
    totals.attributedConversions++;
    totals.attributedMinor += net;
    journeys.push({
      keys: journey.map((t) => groupKey(t, options.groupBy)),
      ts: journey.map((t) => t.ts),
      convTs: c.ts,
      net,
    });
  }
  if (options.model === 'shapley') {
    return shapleyOverSets(
      journeys.map((j) => ({ channels: j.keys, conversions: 1, value: j.net, nulls: 0 })),
      options,
      totals,
    );
  }
  if (options.model === 'markov') {
    const nullPaths = nonConverting
      .map((ts) => ts.map((t) => groupKey(t, options.groupBy)))
      .filter((k) => k.length > 0);
    const rows: PathRow[] = [
      ...journeys.map((j) => ({ channels: j.keys, conversions: 1, value: j.net, nulls: 0 })),
      ...nullPaths.map((p) => ({ channels: p, conversions: 0, value: 0, nulls: 1 })),
    ];
    return markovOverCounts(markovCountsOf(rows), options, totals);
  }
  return creditJourneys(journeys, options, totals);
}
