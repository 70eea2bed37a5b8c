/**
 * The A/B decision rule (pure): a mixture sequential probability ratio test (mSPRT; Johari,
 * Pekelis & Walsh, "Always valid inference", 2017) on every pair of cells, so the results may be
 * looked at after every batch of reactions without inflating the error rate.
 *
 * For cells i and j with rates p̂ᵢ, p̂ⱼ over nᵢ, nⱼ recipients, the difference d = p̂ⱼ − p̂ᵢ has
 * variance v = p̄(1 − p̄)(1/nᵢ + 1/nⱼ) under "no difference" (p̄ pooled). With a normal mixture
 * N(0, τ²) over the true difference, the likelihood ratio against "no difference" is
 *   Λ = √(v / (v + τ²)) · exp(τ² d² / (2 v (v + τ²))).
 * Under "no difference", P(Λ ever reaches 1/a) ≤ a, however often it is checked. A winner is
 * declared when one cell beats every other cell with Λ ≥ m/α (m = number of pairs, Bonferroni),
 * so with all cells equal, P(any winner is ever declared) ≤ α. τ is the size of difference the
 * test is tuned to find: `expectedRate × minimumLift` (e.g. 2 % clicks × 20 % = 0.004).
 * Until every cell has `minSamplePerCell` recipients nothing is declared (the normal
 * approximation needs counts; early looks are noise).
 */

export interface CellCounts {
  /** Recipients the cell's message was sent to. */
  sends: number;
  /** Recipients who converted (human click, human open, reply, unsubscribe; at most one each). */
  conversions: number;
  /** A value metric (revenue): the sum over the cell's recipients and the sum of squares (zeros
   *  included by count). Present, the cell is compared on its mean value instead of its rate. */
  sum?: number;
  sumSquares?: number;
}

export interface DecisionOptions {
  /** Probability of declaring any winner when all cells are equal (default 0.05). */
  alpha: number;
  /** Mixture standard deviation over the true difference in rates. */
  tau: number;
  minSamplePerCell: number;
  /** True for metrics where fewer is better (unsubscribes). */
  lowerWins: boolean;
}

export interface PairResult {
  a: number;
  b: number;
  /** p̂_b − p̂_a. */
  difference: number;
  likelihoodRatio: number;
  /** Always-valid p-value at this look: min(1, 1/Λ) (before the Bonferroni factor). */
  pValue: number;
  /** Always-valid (1 − α/m) confidence interval for the difference. */
  interval: [number, number];
}

export interface CellResult extends CellCounts {
  /** The conversion rate, or for a value metric the mean value per recipient. */
  rate: number;
  /** 95 % Wilson score interval of the rate, or the normal interval of the mean (descriptive, one look). */
  interval: [number, number];
}

export interface Decision {
  /** Index of the winning cell, or null while no cell beats all others. */
  winner: number | null;
  /** Why there is (or is not yet) a winner, in words. */
  reason: string;
  cells: CellResult[];
  pairs: PairResult[];
  /** The threshold Λ must reach: m/α. */
  threshold: number;
}

export const DEFAULT_ALPHA = 0.05;
export const DEFAULT_MIN_LIFT = 0.2;

export function likelihoodRatio(variance: number, difference: number, tau: number): number {
  if (!(variance > 0)) return 1;
  const t2 = tau * tau;
  return (
    Math.sqrt(variance / (variance + t2)) * Math.exp((t2 * difference * difference) / (2 * variance * (variance + t2)))
  );
}

/**
 * The always-valid confidence interval for the difference: every δ for which the mixture ratio
 * of (d − δ) stays below 1/a. Solving Λ(d − δ) = 1/a for |d − δ| gives the half-width.
 */
export function alwaysValidHalfWidth(variance: number, tau: number, a: number): number {
  if (!(variance > 0)) return Number.POSITIVE_INFINITY;
  const t2 = tau * tau;
  const w = variance + t2;
  // ln Λ = ½ ln(v / w) + t² x² / (2 v w) = ln(1/a)  →  x² = (2 v w / t²)(ln(1/a) − ½ ln(v / w))
  const x2 = ((2 * variance * w) / t2) * (Math.log(1 / a) - 0.5 * Math.log(variance / w));
  return Math.sqrt(Math.max(0, x2));
}

export function wilson(conversions: number, sends: number, z = 1.959963984540054): [number, number] {
  if (sends <= 0) return [0, 1];
  const p = conversions / sends;
  const z2 = z * z;
  const centre = (p + z2 / (2 * sends)) / (1 + z2 / sends);
  const half = (z / (1 + z2 / sends)) * Math.sqrt((p * (1 - p)) / sends + z2 / (4 * sends * sends));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

export function decide(cells: readonly CellCounts[], opts: DecisionOptions): Decision {
  const k = cells.length;
  const m = (k * (k - 1)) / 2;
  const threshold = m / opts.alpha;
  // a value metric compares means with each cell's own variance (Welch), a rate metric proportions
  const valued = cells.some((c) => c.sum !== undefined);
  const varianceOf = (c: CellCounts): number => {
    if (c.sends < 2) return 0;
    const mean = (c.sum ?? 0) / c.sends;
    return Math.max(0, ((c.sumSquares ?? 0) - c.sends * mean * mean) / (c.sends - 1));
  };
  const results: CellResult[] = cells.map((c) => {
    if (!valued)
      return { ...c, rate: c.sends > 0 ? c.conversions / c.sends : 0, interval: wilson(c.conversions, c.sends) };
    const mean = c.sends > 0 ? (c.sum ?? 0) / c.sends : 0;
    const half = c.sends > 0 ? 1.959963984540054 * Math.sqrt(varianceOf(c) / c.sends) : Number.POSITIVE_INFINITY;
    return { ...c, rate: mean, interval: [mean - half, mean + half] };
  });
  const pairs: PairResult[] = [];
  for (let a = 0; a < k; a++) {
    for (let b = a + 1; b < k; b++) {
      const ca = cells[a]!;
      const cb = cells[b]!;
      const pooled = ca.sends + cb.sends > 0 ? (ca.conversions + cb.conversions) / (ca.sends + cb.sends) : 0;
      const variance =
        ca.sends <= 0 || cb.sends <= 0
          ? 0
          : valued
            ? varianceOf(ca) / ca.sends + varianceOf(cb) / cb.sends
            : pooled * (1 - pooled) * (1 / ca.sends + 1 / cb.sends);
      const difference = results[b]!.rate - results[a]!.rate;
      const lr = likelihoodRatio(variance, difference, opts.tau);
      const half = alwaysValidHalfWidth(variance, opts.tau, opts.alpha / m);
      pairs.push({
        a,
        b,
        difference,
        likelihoodRatio: lr,
        pValue: Math.min(1, 1 / lr),
        interval: [difference - half, difference + half],
      });
    }
  }
  if (k < 2) return { winner: null, reason: 'a test needs at least two variants', cells: results, pairs, threshold };
  const smallest = Math.min(...cells.map((c) => c.sends));
  if (smallest < opts.minSamplePerCell) {
    return {
      winner: null,
      reason: `waiting for ${opts.minSamplePerCell} recipients per variant (smallest has ${smallest})`,
      cells: results,
      pairs,
      threshold,
    };
  }
  const better = (x: number, y: number): boolean => (opts.lowerWins ? x < y : x > y);
  for (let w = 0; w < k; w++) {
    const beatsAll = pairs
      .filter((p) => p.a === w || p.b === w)
      .every((p) => {
        const other = p.a === w ? p.b : p.a;
        return p.likelihoodRatio >= threshold && better(results[w]!.rate, results[other]!.rate);
      });
    if (beatsAll) {
      return {
        winner: w,
        reason: `variant ${w} beats every other variant (mSPRT, α = ${opts.alpha}, ${m} comparison(s))`,
        cells: results,
        pairs,
        threshold,
      };
    }
  }
  return { winner: null, reason: 'no variant beats all others yet', cells: results, pairs, threshold };
}
