/**
 * First-order Markov removal-effect attribution over aggregated paths, solved exactly.
 *
 * Semantics follow ChannelAttribution's `markov_model` (order 1): consecutive repeats in a path
 * are collapsed; each path adds `conversions + nulls` to every transition start→c1→…→ck, then
 * `conversions` to ck→conv and `nulls` to ck→null (with `useNulls: false` the null column is
 * ignored, so a path that never converted adds nothing). Conversion value is attributed through
 * the last channel: a conversion ending in channel l is worth meanValue(l), the mean value per
 * conversion of the paths ending in l.
 *
 * Where ChannelAttribution simulates walks (and stops them after the longest collapsed path + 1
 * steps), this solves the absorbing chain exactly and does NOT truncate walks. With N = (I − Q)⁻¹
 * the fundamental matrix over the transient states (start and the channels):
 *   P(conv)                 = x[start],   (I − Q) x = R[:, conv]
 *   P(conv ∧ visits k)      = h_k · x[k], h_k = N[start,k] / N[k,k] (probability of ever reaching k)
 * and removing k (every transition into k redirected to null) leaves exactly the converting
 * walks that never visit k, so RE_k = 1 − P(conv | k removed)/P(conv) = h_k·x[k] / P(conv).
 * The value weight of k is Σ_l meanValue(l)·[P(conv, last=l) − P(conv, last=l | k removed)]
 * = h_k · xv[k] with (I − Q) xv = R[:, conv] ∘ meanValue. One LU factorisation serves all of it.
 */
import { luFactor, luSolve, luSolveTransposed } from './linear-solve.ts';
import { type ChannelCredit, channelsOf, type PathRow, type Totals, totalsOf } from './paths.ts';

export interface MarkovCredit extends ChannelCredit {
  /** 1 − P(conv | channel removed) / P(conv); 0 when nothing converts. */
  removalEffect: number;
}

export interface MarkovResult {
  channels: Map<string, MarkovCredit>;
  totals: Totals;
  /** P(conv) of the fitted chain from start. */
  conversionProbability: number;
}

export interface MarkovOptions {
  /** Count the null column (non-converting journeys). Default true. */
  useNulls?: boolean;
}

/** Collapses consecutive repeats: a > a > b > a → a > b > a. */
export function collapseRepeats<T>(xs: readonly T[]): T[] {
  const out: T[] = [];
  for (const x of xs) if (out.length === 0 || out[out.length - 1] !== x) out.push(x);
  return out;
}

/**
 * The counts a first-order chain is fitted from. State 0 is start, state i the channel
 * names[i − 1]; `counts` is n×n row-major (n = names.length + 1); per state the journeys that
 * ended there converting (`toConv`, their value in `valueSum`) or not (`toNull`).
 */
export interface MarkovCounts {
  readonly names: readonly string[];
  readonly counts: Float64Array;
  readonly toConv: Float64Array;
  readonly toNull: Float64Array;
  readonly valueSum: Float64Array;
}

export function emptyMarkovCounts(names: readonly string[]): MarkovCounts {
  const n = names.length + 1;
  return {
    names,
    counts: new Float64Array(n * n),
    toConv: new Float64Array(n),
    toNull: new Float64Array(n),
    valueSum: new Float64Array(n),
  };
}

export function markovAttribution(rows: readonly PathRow[], options: MarkovOptions = {}): MarkovResult {
  return markovFromCounts(markovCountsOf(rows, options), totalsOf(rows));
}

/** The chain counts of aggregated paths (channels in order of first appearance). */
export function markovCountsOf(rows: readonly PathRow[], options: MarkovOptions = {}): MarkovCounts {
  const useNulls = options.useNulls ?? true;
  const names = channelsOf(rows);
  const id = new Map(names.map((c, i) => [c, i + 1] as const));
  const m = emptyMarkovCounts(names);
  const n = names.length + 1;
  const { counts, toConv, toNull, valueSum } = m;
  for (const r of rows) {
    const nulls = useNulls ? r.nulls : 0;
    const w = r.conversions + nulls;
    if (w <= 0) continue;
    const path = collapseRepeats(r.channels.map((c) => id.get(c) as number));
    let from = 0;
    for (const s of path) {
      counts[from * n + s] = (counts[from * n + s] as number) + w;
      from = s;
    }
    toConv[from] = (toConv[from] as number) + r.conversions;
    toNull[from] = (toNull[from] as number) + nulls;
    if (r.conversions > 0) valueSum[from] = (valueSum[from] as number) + r.value;
  }
  return m;
}

/**
 * The exact solve over counts (aggregated paths or transitions counted elsewhere, e.g. in SQL);
 * `totals` are what the credits are scaled to.
 */
export function markovFromCounts(m: MarkovCounts, totals: Totals): MarkovResult {
  const { names, counts, toConv, toNull, valueSum } = m;
  const n = names.length + 1;
  // A = I − Q, b = P(→conv), bv = P(→conv)·meanValue
  const a = new Float64Array(n * n);
  const b = new Float64Array(n);
  const bv = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let out = (toConv[i] as number) + (toNull[i] as number);
    for (let j = 0; j < n; j++) out += counts[i * n + j] as number;
    a[i * n + i] = 1;
    if (out === 0) continue; // never left (unreached): an isolated transient state
    for (let j = 0; j < n; j++) a[i * n + j] = (a[i * n + j] as number) - (counts[i * n + j] as number) / out;
    b[i] = (toConv[i] as number) / out;
    const meanValue = (toConv[i] as number) > 0 ? (valueSum[i] as number) / (toConv[i] as number) : 0;
    bv[i] = (b[i] as number) * meanValue;
  }
  const channels = new Map<string, MarkovCredit>(
    names.map((c) => [c, { conversions: 0, value: 0, removalEffect: 0 }] as const),
  );
  const lu = luFactor(a, n);
  const x = luSolve(lu, b);
  const xv = luSolve(lu, bv);
  const pConv = x[0] as number;
  if (!(pConv > 0)) return { channels, totals, conversionProbability: 0 };
  const e0 = new Float64Array(n);
  e0[0] = 1;
  const visitsFromStart = luSolveTransposed(lu, e0);
  const removal = new Float64Array(n);
  const weight = new Float64Array(n);
  let sumRemoval = 0;
  let sumWeight = 0;
  const ek = new Float64Array(n);
  for (let k = 1; k < n; k++) {
    if ((visitsFromStart[k] as number) <= 0) continue;
    ek.fill(0);
    ek[k] = 1;
    const nkk = luSolve(lu, ek)[k] as number;
    const reach = Math.min(1, (visitsFromStart[k] as number) / nkk);
    removal[k] = Math.min(1, Math.max(0, (reach * (x[k] as number)) / pConv));
    weight[k] = Math.max(0, reach * (xv[k] as number));
    sumRemoval += removal[k] as number;
    sumWeight += weight[k] as number;
  }
  for (let k = 1; k < n; k++) {
    const e = channels.get(names[k - 1] as string) as MarkovCredit;
    e.removalEffect = removal[k] as number;
    e.conversions = sumRemoval > 0 ? ((removal[k] as number) / sumRemoval) * totals.conversions : 0;
    e.value = sumWeight > 0 ? ((weight[k] as number) / sumWeight) * totals.value : 0;
  }
  return { channels, totals, conversionProbability: pConv };
}
