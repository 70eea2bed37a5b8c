/**
 * The A/B decision rule, simulated on known true rates with seeded randomness: looked at after
 * every 500 recipients per variant, the way the campaign's decider looks while reactions arrive.
 * The sample sizes here are the ones docs/ab-tests.md states.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  alwaysValidHalfWidth,
  type CellCounts,
  decide,
  likelihoodRatio,
  wilson,
} from '../../../src/core/ab-test/sequential.ts';

function mulberry(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Binomial(n, p) by inversion (n·p is small here). */
function binomial(n: number, p: number, random: () => number): number {
  let x = 0;
  let pr = (1 - p) ** n;
  let cdf = pr;
  const u = random();
  while (u > cdf && x < n) {
    pr *= ((n - x) / (x + 1)) * (p / (1 - p));
    x++;
    cdf += pr;
  }
  return x;
}

/** Runs the test to a winner or to maxPerCell recipients per variant; returns the winner or null. */
function simulate(rates: readonly number[], maxPerCell: number, seed: number, lowerWins = false): number | null {
  const random = mulberry(seed);
  const cells: CellCounts[] = rates.map(() => ({ sends: 0, conversions: 0 }));
  const step = 500;
  for (let n = step; n <= maxPerCell; n += step) {
    rates.forEach((p, i) => {
      cells[i]!.sends += step;
      cells[i]!.conversions += binomial(step, p, random);
    });
    const d = decide(cells, { alpha: 0.05, tau: 0.02 * 0.2, minSamplePerCell: 1000, lowerWins });
    if (d.winner !== null) return d.winner;
  }
  return null;
}

describe('A/B decision rule (mSPRT)', () => {
  it('equal variants: a winner is declared in at most α = 5 % of 1 000 seeded runs, however long they run', () => {
    let declared = 0;
    for (let run = 0; run < 1_000; run++) if (simulate([0.02, 0.02], 100_000, run + 1) !== null) declared++;
    assert.ok(declared <= 50, `${declared} of 1000 equal-variant runs declared a winner`);
  });

  it('three equal variants: at most α of 1 000 runs declare a winner', () => {
    let declared = 0;
    for (let run = 0; run < 1_000; run++) if (simulate([0.02, 0.02, 0.02], 60_000, 10_000 + run) !== null) declared++;
    assert.ok(declared <= 50, `${declared} of 1000 runs declared a winner`);
  });

  it('a 20 % lift (2 % → 2.4 % clicks) is found in ≥ 90 % of 1 000 runs within 50 000 recipients per variant', () => {
    let right = 0;
    let wrong = 0;
    for (let run = 0; run < 1_000; run++) {
      const w = simulate([0.02, 0.024], 50_000, 50_000 + run);
      if (w === 1) right++;
      else if (w === 0) wrong++;
    }
    assert.ok(right >= 900, `right winner in ${right} of 1000 runs`);
    assert.ok(wrong <= 5, `wrong winner in ${wrong} of 1000 runs`);
  });

  it('three variants, one 20 % better: found in ≥ 90 % of 1 000 runs within 80 000 per variant', () => {
    let right = 0;
    for (let run = 0; run < 1_000; run++) if (simulate([0.02, 0.024, 0.02], 80_000, 90_000 + run) === 1) right++;
    assert.ok(right >= 900, `right winner in ${right} of 1000 runs`);
  });

  it('revenue (a value per recipient): equal spend declares a winner in ≤ α of 400 runs, double spend is found', () => {
    const run = (rates: readonly number[], seed: number): number | null => {
      const random = mulberry(seed);
      const cells: CellCounts[] = rates.map(() => ({ sends: 0, conversions: 0, sum: 0, sumSquares: 0 }));
      for (let n = 500; n <= 40_000; n += 500) {
        rates.forEach((p, i) => {
          const c = cells[i]!;
          const buyers = binomial(500, p, random);
          // each buyer spends 20.00 to 80.00
          for (let b = 0; b < buyers; b++) {
            const v = 2_000 + Math.floor(random() * 6_000);
            c.sum! += v;
            c.sumSquares! += v * v;
          }
          c.sends += 500;
          c.conversions += buyers;
        });
        const d = decide(cells, { alpha: 0.05, tau: 100 * 0.5, minSamplePerCell: 1000, lowerWins: false });
        if (d.winner !== null) return d.winner;
      }
      return null;
    };
    let declared = 0;
    for (let i = 0; i < 400; i++) if (run([0.02, 0.02], 700 + i) !== null) declared++;
    assert.ok(declared <= 20, `${declared} of 400 equal-spend runs declared a winner`);
    let right = 0;
    for (let i = 0; i < 100; i++) if (run([0.02, 0.04], 2_000 + i) === 1) right++;
    assert.ok(right >= 90, `double spend found in ${right} of 100 runs`);
  });

  it('lower wins for unsubscribes: the variant with fewer is the winner', () => {
    const w = simulate([0.004, 0.002], 100_000, 3, true);
    assert.equal(w, 1);
  });

  it('declares nothing before the minimum sample, however clear the difference', () => {
    const d = decide(
      [
        { sends: 900, conversions: 0 },
        { sends: 900, conversions: 300 },
      ],
      { alpha: 0.05, tau: 0.004, minSamplePerCell: 1000, lowerWins: false },
    );
    assert.equal(d.winner, null);
    assert.match(d.reason, /waiting for 1000/);
  });

  it('the always-valid interval is where the ratio crosses the threshold', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-7, max: 1e-3, noNaN: true }),
        fc.double({ min: 1e-4, max: 0.05, noNaN: true }),
        fc.double({ min: 0.001, max: 0.2, noNaN: true }),
        (v, tau, a) => {
          const half = alwaysValidHalfWidth(v, tau, a);
          const at = likelihoodRatio(v, half, tau);
          assert.ok(Math.abs(Math.log(at) - Math.log(1 / a)) < 1e-6, `Λ(half) = ${at}, 1/a = ${1 / a}`);
        },
      ),
    );
  });

  it('wilson intervals hold the rate and stay in [0, 1]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, share) => {
        const x = Math.round(n * share);
        const [lo, hi] = wilson(x, n);
        assert.ok(lo >= 0 && hi <= 1 && lo <= x / n + 1e-12 && x / n <= hi + 1e-12);
      }),
    );
  });
});
