/**
 * Shapley-value attribution over journeys' channel sets (attribution.md §5). Exact over all
 * coalitions up to EXACT_SHAPLEY_MAX_CHANNELS channels; above that, permutation sampling with a
 * caller-supplied seed (core is pure: the randomness is a seeded generator), reporting each
 * channel's standard error. Two characteristic functions:
 * - `cumulative` (Zhao et al. simplified): v(S) = conversions (or value) of journeys whose channel
 *   set is a subset of S; its Shapley value is also available in closed form (`shapleyCumulative`).
 * - `set-rate`: v(S) = Σ over non-empty T ⊆ S of conversions/journeys of journeys whose set is
 *   exactly T, normalising for traffic.
 */

export const EXACT_SHAPLEY_MAX_CHANNELS = 12;

export interface SetJourneys {
  /** Distinct channels of the journeys. */
  readonly channels: readonly string[];
  readonly conversions: number;
  readonly value: number;
  /** Journeys with this set that did not convert. */
  readonly nulls: number;
}

export type Characteristic = 'cumulative' | 'set-rate';

export interface ShapleyResult {
  /** Credit per channel; sums to v(all channels). */
  values: Map<string, number>;
  method: 'exact' | 'sampled';
  /** Per-channel standard error of the sampled estimate (0 when exact). */
  standardError: Map<string, number>;
  samples: number;
  /** v(N): what the credits sum to. */
  total: number;
}

/** Closed form for the cumulative characteristic: each set's amount split evenly over its channels. */
export function shapleyCumulative(sets: readonly SetJourneys[], measure: 'conversions' | 'value'): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of sets) {
    const distinct = [...new Set(s.channels)];
    for (const c of distinct) out.set(c, (out.get(c) ?? 0) + s[measure] / distinct.length);
  }
  return out;
}

interface Indexed {
  players: string[];
  /** channel-set masks as arrays of player indexes with their amount */
  sets: Array<{ members: number[]; amount: number }>;
}

function index(sets: readonly SetJourneys[], ch: Characteristic, measure: 'conversions' | 'value'): Indexed {
  const players = [...new Set(sets.flatMap((s) => [...s.channels]))].sort();
  const pos = new Map(players.map((p, i) => [p, i] as const));
  // merge journeys with the same set
  const merged = new Map<string, { members: number[]; conv: number; value: number; journeys: number }>();
  for (const s of sets) {
    const members = [...new Set(s.channels.map((c) => pos.get(c) as number))].sort((a, b) => a - b);
    const key = members.join(',');
    const e = merged.get(key) ?? { members, conv: 0, value: 0, journeys: 0 };
    e.conv += s.conversions;
    e.value += s.value;
    e.journeys += s.conversions + s.nulls;
    merged.set(key, e);
  }
  const out: Indexed['sets'] = [];
  for (const e of merged.values()) {
    const amount =
      ch === 'cumulative'
        ? e[measure === 'conversions' ? 'conv' : 'value']
        : e.journeys > 0
          ? (measure === 'conversions' ? e.conv : e.value) / e.journeys
          : 0;
    if (amount !== 0 && e.members.length > 0) out.push({ members: e.members, amount });
  }
  return { players, sets: out };
}

/** v(S) for a membership array: Σ amounts of sets contained in S. */
function worth(ix: Indexed, inS: Uint8Array): number {
  let v = 0;
  for (const s of ix.sets) if (s.members.every((m) => inS[m] === 1)) v += s.amount;
  return v;
}

/** Small deterministic PRNG (mulberry32) so sampling is reproducible from a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shapley(
  sets: readonly SetJourneys[],
  options: { characteristic?: Characteristic; measure?: 'conversions' | 'value'; samples?: number; seed?: number } = {},
): ShapleyResult {
  const ix = index(sets, options.characteristic ?? 'cumulative', options.measure ?? 'conversions');
  const n = ix.players.length;
  const all = new Uint8Array(n).fill(1);
  const total = worth(ix, all);
  const values = new Map<string, number>();
  const standardError = new Map<string, number>();
  if (n <= EXACT_SHAPLEY_MAX_CHANNELS) {
    const size = 1 << n;
    const v = new Float64Array(size);
    // v(mask) as the sum of each set's amount over supersets: one pass per set
    const setMasks = ix.sets.map((s) => [s.members.reduce((m, i) => m | (1 << i), 0), s.amount] as const);
    for (let mask = 0; mask < size; mask++) {
      let x = 0;
      for (const [sm, amount] of setMasks) if ((mask & sm) === sm) x += amount;
      v[mask] = x;
    }
    const fact = [1];
    for (let i = 1; i <= n; i++) fact.push((fact[i - 1] as number) * i);
    ix.players.forEach((p, i) => {
      let phi = 0;
      const bit = 1 << i;
      for (let mask = 0; mask < size; mask++) {
        if (mask & bit) continue;
        let s = 0;
        for (let m = mask; m; m &= m - 1) s++;
        phi +=
          (((fact[s] as number) * (fact[n - s - 1] as number)) / (fact[n] as number))
          * ((v[mask | bit] as number) - (v[mask] as number));
      }
      values.set(p, phi);
      standardError.set(p, 0);
    });
    return { values, method: 'exact', standardError, samples: 0, total };
  }
  const samples = options.samples ?? 2000;
  const rand = seededRandom(options.seed ?? 1);
  const sum = new Float64Array(n);
  const sumSq = new Float64Array(n);
  const order = Array.from({ length: n }, (_, i) => i);
  const inS = new Uint8Array(n);
  for (let k = 0; k < samples; k++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    inS.fill(0);
    let prev = 0;
    for (const p of order) {
      inS[p] = 1;
      const cur = worth(ix, inS);
      const d = cur - prev;
      sum[p] = (sum[p] as number) + d;
      sumSq[p] = (sumSq[p] as number) + d * d;
      prev = cur;
    }
  }
  ix.players.forEach((p, i) => {
    const mean = (sum[i] as number) / samples;
    const variance = Math.max(0, (sumSq[i] as number) / samples - mean * mean);
    values.set(p, mean);
    standardError.set(p, Math.sqrt(variance / Math.max(1, samples - 1)));
  });
  return { values, method: 'sampled', standardError, samples, total };
}
