/**
 * The report charts (src/core/svg-charts.ts): well-formed SVG with escaped labels, bar lengths in
 * proportion to the values (negative ones drawn as empty), and a visible "no data" when empty.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { barChart, lineChart } from '../../src/core/svg-charts.ts';

const widths = (svg: string): number[] =>
  [...svg.matchAll(/<rect x="170" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]));

describe('svg charts', () => {
  it('escapes labels, so a campaign name cannot inject markup', () => {
    const svg = barChart('Top <b>', [{ label: '<script>x</script> & co', value: 5 }]);
    assert.ok(!svg.includes('<script>'));
    assert.ok(svg.includes('&#60;script&#62;x&#60;/script&#62; &#38; co'));
    assert.ok(svg.includes('Top &#60;b&#62;'));
  });

  it('bars are in proportion to their values; the largest spans the plot', () => {
    const w = widths(
      barChart('', [
        { label: 'a', value: 300 },
        { label: 'b', value: 150 },
        { label: 'c', value: -5 },
      ]),
    );
    assert.deepEqual(w, [300, 150, 1]);
  });

  it('property: every bar fits the plot and no number is NaN', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ label: fc.string(), value: fc.double({ min: -1e9, max: 1e9, noNaN: true }) })),
        (bars) => {
          const svg = barChart('t', bars);
          assert.ok(!svg.includes('NaN'));
          for (const x of widths(svg)) assert.ok(x >= 1 && x <= 300.0001);
          assert.ok(!lineChart('t', bars).includes('NaN'));
        },
      ),
      { seed: 7, numRuns: 200 },
    );
  });

  it('says "no data" when there is none', () => {
    assert.ok(barChart('x', []).includes('no data'));
    assert.ok(lineChart('x', []).includes('no data'));
  });
});
