/**
 * The seasonal robust detector: worked example F of attribution.md (MAD z), a weekly cycle that is
 * not flagged, and the backtest on synthetic daily and hourly series with injected spikes and drops
 * (precision and recall ≥ 0.9; the figures are in bench/README.md).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detectAnomalies, median, precisionRecall } from '../../src/core/anomaly.ts';
import { seededRandom } from '../../src/core/attribution/shapley.ts';

/** A weekly-seasonal count series with trend and noise; anomalies multiply chosen points. */
export function syntheticSeries(
  seed: number,
  length: number,
  season: number,
  anomalies: number,
): { series: number[]; injected: number[] } {
  const rand = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const shape = Array.from({ length: season }, (_, i) => 0.6 + 0.8 * Math.abs(Math.sin((Math.PI * i) / season)));
  const series = Array.from({ length }, (_, t) => {
    const mean = 1000 * (shape[t % season] as number) * (1 + t / (length * 4));
    return Math.max(0, mean + gauss() * Math.sqrt(mean) * 1.5);
  });
  const injected = new Set<number>();
  while (injected.size < anomalies) injected.add(8 * season + Math.floor(rand() * (length - 8 * season)));
  for (const i of injected) series[i] = (series[i] as number) * (rand() < 0.5 ? 1.6 : 0.45);
  return { series, injected: [...injected].sort((a, b) => a - b) };
}

describe('anomaly detection', () => {
  it('worked example F: robust z of 150 against [100, 102, 98, 101, 99, 100] is 33.725', () => {
    const h = [100, 102, 98, 101, 99, 100];
    const m = median(h);
    const mad = median(h.map((x) => Math.abs(x - m)));
    assert.equal(m, 100);
    assert.equal(mad, 1);
    assert.ok(Math.abs((150 - m) / (1.4826 * mad) - 33.725) < 1e-3);
  });
  it('a clean weekly cycle raises nothing; a drop on one weekday is flagged low', () => {
    const series = Array.from({ length: 70 }, (_, t) => (t % 7 === 5 ? 200 : 1000) + (t % 3));
    assert.deepEqual(detectAnomalies(series, { season: 7 }), []);
    series[67] = 400;
    const a = detectAnomalies(series, { season: 7 });
    assert.deepEqual(
      a.map((x) => [x.index, x.direction]),
      [[67, 'low']],
    );
  });
  it('backtest: precision and recall ≥ 0.9 on daily and hourly synthetic series', () => {
    for (const [season, length] of [
      [7, 730],
      [168, 168 * 20],
    ] as const) {
      let flagged: number[] = [];
      let truth: number[] = [];
      for (let seed = 1; seed <= 5; seed++) {
        const { series, injected } = syntheticSeries(seed * 97 + season, length, season, 15);
        const offset = seed * length;
        flagged = flagged.concat(detectAnomalies(series, { season }).map((x) => x.index + offset));
        truth = truth.concat(injected.map((i) => i + offset));
      }
      const pr = precisionRecall(flagged, truth);
      process.stdout.write(
        `# backtest season=${season}: precision ${pr.precision.toFixed(3)} recall ${pr.recall.toFixed(3)}\n`,
      );
      assert.ok(pr.precision >= 0.9, `season ${season}: precision ${pr.precision}`);
      assert.ok(pr.recall >= 0.9, `season ${season}: recall ${pr.recall}`);
    }
  });
});
