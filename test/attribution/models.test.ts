/**
 * The pure attribution models against every worked example of attribution.md (to 1e-9 where
 * the reference gives exact numbers, 0.01 where it prints rounded ones) and properties over random
 * journeys: credits sum to the totals, first/last/linear agree on one-touch paths, Shapley is
 * efficient.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { markovAttribution } from '../../src/core/attribution/markov.ts';
import { heuristicAttribution, type PathRow } from '../../src/core/attribution/paths.ts';
import {
  creditsByChannel,
  creditTouches,
  type RuleModel,
  refundCredits,
  roundToMinorUnits,
  type Touch,
} from '../../src/core/attribution/rules.ts';
import { shapley, shapleyCumulative } from '../../src/core/attribution/shapley.ts';

const DAY = 86_400_000;
const CONV_TS = Date.UTC(2026, 5, 30);
const close = (a: number, b: number, tol = 1e-9, what = ''): void =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} != ${b} (±${tol})`);

// Worked example A: six touches, V = 1000
const A: Touch[] = [
  { channel: 'Social', ts: CONV_TS - 20 * DAY, milestone: 'FT' },
  { channel: 'Email', ts: CONV_TS - 15 * DAY },
  { channel: 'PaidSearch', ts: CONV_TS - 10 * DAY, milestone: 'LC' },
  { channel: 'Email', ts: CONV_TS - 6 * DAY },
  { channel: 'Webinar', ts: CONV_TS - 3 * DAY, milestone: 'OC' },
  { channel: 'Email', ts: CONV_TS - 1 * DAY, milestone: 'CW' },
];

function byChannel(touches: Touch[], model: RuleModel, value = 1000): Record<string, number> {
  return Object.fromEntries(creditsByChannel(touches, creditTouches(touches, CONV_TS, value, model)));
}

describe('rule-based models: worked example A', () => {
  const expect = (model: RuleModel, want: Record<string, number>, tol = 1e-9): void => {
    const got = byChannel(A, model);
    for (const [c, v] of Object.entries(want)) close(got[c] ?? 0, v, tol, `${model.kind} ${c}`);
  };
  it('first and last touch', () => {
    expect({ kind: 'first' }, { Social: 1000, Email: 0, PaidSearch: 0, Webinar: 0 });
    expect({ kind: 'last' }, { Social: 0, Email: 1000, PaidSearch: 0, Webinar: 0 });
  });
  it('last non-direct skips the named channels', () => {
    expect({ kind: 'last', skipChannels: ['Email'] }, { Webinar: 1000, Email: 0 });
  });
  it('linear: 1000/6 each, Email has three', () => {
    expect({ kind: 'linear' }, { Social: 1000 / 6, Email: 500, PaidSearch: 1000 / 6, Webinar: 1000 / 6 });
  });
  it('U-shaped 40/20/40', () => {
    expect({ kind: 'u-shape' }, { Social: 400, Email: 500, PaidSearch: 50, Webinar: 50 });
  });
  it('W-shaped 30/30/30/10, nothing after OC', () => {
    expect({ kind: 'w-shape' }, { Social: 300, Email: 100, PaidSearch: 300, Webinar: 300 });
    const perTouch = creditTouches(A, CONV_TS, 1000, { kind: 'w-shape' });
    close(perTouch[5] as number, 0, 1e-9, 'T6 after OC');
  });
  it('full path 22.5 ×4 / 10', () => {
    expect({ kind: 'full-path' }, { Social: 225, Email: 325, PaidSearch: 225, Webinar: 225 });
  });
  it('time decay, half-life 7 days (reference rounds to cents)', () => {
    expect(
      { kind: 'time-decay', halfLifeDays: 7 },
      { Social: 46.99, Email: 573.5, PaidSearch: 126.5, Webinar: 253 },
      0.01,
    );
    const t = creditTouches(A, CONV_TS, 1000, { kind: 'time-decay', halfLifeDays: 7 });
    for (const [i, v] of [47.0, 77.1, 126.5, 187.98, 253.0, 308.41].entries())
      close(t[i] as number, v, 0.01, `T${i + 1}`);
  });
  it('custom positions equal to 40/20/40 reproduce U', () => {
    expect(
      { kind: 'positions', first: 40, middle: 20, last: 40 },
      { Social: 400, Email: 500, PaidSearch: 50, Webinar: 50 },
    );
  });
  it('U with the lead-creation anchor (Marketo style)', () => {
    // T1 40%, T3 (LC) 40%, 20% over T2, T4, T5, T6
    expect({ kind: 'u-shape', secondAnchor: 'LC' }, { Social: 400, PaidSearch: 400, Email: 150, Webinar: 50 });
  });
});

describe('rule-based models: worked example B (time decay, clean numbers)', () => {
  const B: Touch[] = [14, 7, 0].map((d) => ({ channel: `c${d}`, ts: CONV_TS - d * DAY }));
  it('H = 7 gives 100, 200, 400 of 700', () => {
    const c = creditTouches(B, CONV_TS, 700, { kind: 'time-decay', halfLifeDays: 7 });
    for (const [i, v] of [100, 200, 400].entries()) close(c[i] as number, v, 1e-9);
  });
  it('H = 14 gives weights 0.5, 0.7071, 1', () => {
    const c = creditTouches(B, CONV_TS, 700, { kind: 'time-decay', halfLifeDays: 14 });
    const s = 0.5 + Math.SQRT1_2 + 1;
    for (const [i, w] of [0.5, Math.SQRT1_2, 1].entries()) close(c[i] as number, (700 * w) / s, 1e-9);
  });
});

const C_ROWS: PathRow[] = [
  { channels: ['Email', 'Search'], conversions: 1, value: 0, nulls: 0 },
  { channels: ['Email'], conversions: 0, value: 0, nulls: 1 },
  { channels: ['Search'], conversions: 1, value: 0, nulls: 0 },
  { channels: ['Social', 'Email'], conversions: 0, value: 0, nulls: 1 },
];

describe('Markov removal effect: worked examples C and D', () => {
  it('C: P(conv) 1/2, RE 1/2, 1, 1/6, conversions 0.6, 1.2, 0.2', () => {
    const r = markovAttribution(C_ROWS);
    close(r.conversionProbability, 0.5);
    const want: Record<string, [number, number]> = { Email: [0.5, 0.6], Search: [1, 1.2], Social: [1 / 6, 0.2] };
    for (const [c, [re, conv]] of Object.entries(want)) {
      close(r.channels.get(c)!.removalEffect, re, 1e-9, `${c} RE`);
      close(r.channels.get(c)!.conversions, conv, 1e-9, `${c} conversions`);
    }
  });
  it('D: shares 0.2 / 0.4 / 0.4, value 1000 → 200 / 400 / 400', () => {
    const r = markovAttribution([
      { channels: ['C1', 'C2', 'C3'], conversions: 1, value: 1000, nulls: 0 },
      { channels: ['C1'], conversions: 0, value: 0, nulls: 1 },
      { channels: ['C2', 'C3'], conversions: 0, value: 0, nulls: 1 },
    ]);
    close(r.conversionProbability, 1 / 3);
    const want: Record<string, [number, number, number]> = {
      C1: [0.5, 0.2, 200],
      C2: [1, 0.4, 400],
      C3: [1, 0.4, 400],
    };
    for (const [c, [re, conv, value]] of Object.entries(want)) {
      close(r.channels.get(c)!.removalEffect, re, 1e-9, `${c} RE`);
      close(r.channels.get(c)!.conversions, conv, 1e-9, `${c} conversions`);
      close(r.channels.get(c)!.value, value, 1e-9, `${c} value`);
    }
  });
  it('repeats are collapsed: a > a > b behaves as a > b', () => {
    const a = markovAttribution([
      { channels: ['a', 'a', 'b'], conversions: 2, value: 10, nulls: 1 },
      { channels: ['b'], conversions: 0, value: 0, nulls: 3 },
    ]);
    const b = markovAttribution([
      { channels: ['a', 'b'], conversions: 2, value: 10, nulls: 1 },
      { channels: ['b'], conversions: 0, value: 0, nulls: 3 },
    ]);
    for (const c of ['a', 'b']) close(a.channels.get(c)!.conversions, b.channels.get(c)!.conversions);
  });
  it('value goes by the last channel: a conversion ending in b carries b’s mean value', () => {
    // two converting paths: x > b worth 100 per conversion, y worth 1 per conversion
    const r = markovAttribution(
      [
        { channels: ['x', 'b'], conversions: 1, value: 100, nulls: 0 },
        { channels: ['y'], conversions: 1, value: 1, nulls: 0 },
      ],
      { useNulls: false },
    );
    // removal effects x 1/2, b 1/2, y 1/2 → equal conversions; value weights 50, 50, 0.5
    close(r.channels.get('x')!.conversions, 2 / 3);
    close(r.channels.get('x')!.value, (101 * 50) / 100.5);
    close(r.channels.get('y')!.value, (101 * 0.5) / 100.5);
  });
  it('--no-null: non-converting paths add nothing', () => {
    const withNull = markovAttribution(C_ROWS, { useNulls: true });
    const noNull = markovAttribution(C_ROWS, { useNulls: false });
    close(withNull.channels.get('Social')!.conversions, 0.2);
    close(noNull.channels.get('Social')!.conversions, 0);
    close(noNull.channels.get('Email')!.removalEffect, 0.5);
    close(noNull.channels.get('Search')!.removalEffect, 1);
  });
});

describe('Shapley: worked example C and D', () => {
  const sets = C_ROWS.map((r) => ({
    channels: r.channels,
    conversions: r.conversions,
    value: r.value,
    nulls: r.nulls,
  }));
  it('C: Email 1/2, Search 3/2, Social 0 (full formula = shortcut)', () => {
    const r = shapley(sets);
    assert.equal(r.method, 'exact');
    close(r.values.get('Email')!, 0.5);
    close(r.values.get('Search')!, 1.5);
    close(r.values.get('Social')!, 0);
    const s = shapleyCumulative(sets, 'conversions');
    close(s.get('Email')!, 0.5);
    close(s.get('Search')!, 1.5);
  });
  it('D: one converting set of size 3 → 1/3 each', () => {
    const r = shapley([
      { channels: ['C1', 'C2', 'C3'], conversions: 1, value: 1000, nulls: 0 },
      { channels: ['C1'], conversions: 0, value: 0, nulls: 1 },
      { channels: ['C2', 'C3'], conversions: 0, value: 0, nulls: 1 },
    ]);
    for (const c of ['C1', 'C2', 'C3']) close(r.values.get(c)!, 1 / 3);
  });
});

// ---------- properties ----------

const channel = fc.constantFrom('email', 'search', 'social', 'direct', 'webinar', 'sms');
const pathRow = fc.record({
  channels: fc.array(channel, { minLength: 1, maxLength: 8 }),
  conversions: fc.integer({ min: 0, max: 20 }),
  value: fc.integer({ min: 0, max: 5000 }),
  nulls: fc.integer({ min: 0, max: 20 }),
});
const rows = fc.array(pathRow, { minLength: 1, maxLength: 25 });

function sums(m: Map<string, { conversions: number; value: number }>): [number, number] {
  let c = 0;
  let v = 0;
  for (const e of m.values()) {
    c += e.conversions;
    v += e.value;
  }
  return [c, v];
}

describe('properties', () => {
  it('heuristics and Markov conserve conversions and value', () => {
    fc.assert(
      fc.property(rows, fc.boolean(), (rs, useNulls) => {
        const conv = rs.reduce((a, r) => a + r.conversions, 0);
        const value = rs.reduce((a, r) => a + r.value, 0);
        for (const m of ['first', 'last', 'linear'] as const) {
          const [c, v] = sums(heuristicAttribution(rs, m));
          close(c, conv, 1e-6);
          close(v, value, 1e-6);
        }
        const mk = markovAttribution(rs, { useNulls });
        const [c, v] = sums(mk.channels);
        // a chain with no converting path attributes nothing
        if (mk.conversionProbability > 0) {
          close(c, conv, 1e-6);
          if (rs.some((r) => r.conversions > 0 && r.value > 0)) close(v, value, 1e-6);
        }
        for (const e of mk.channels.values()) assert.ok(e.removalEffect >= 0 && e.removalEffect <= 1 + 1e-12);
      }),
      { numRuns: 300 },
    );
  });

  it('first, last and linear agree on one-touch paths', () => {
    const oneTouch = fc.array(
      fc.record({
        channels: channel.map((c) => [c]),
        conversions: fc.integer({ min: 0, max: 9 }),
        value: fc.integer({ min: 0, max: 999 }),
        nulls: fc.integer({ min: 0, max: 9 }),
      }),
      { minLength: 1, maxLength: 20 },
    );
    fc.assert(
      fc.property(oneTouch, (rs) => {
        const f = heuristicAttribution(rs, 'first');
        for (const m of ['last', 'linear'] as const) {
          const o = heuristicAttribution(rs, m);
          for (const [c, e] of f) {
            close(o.get(c)!.conversions, e.conversions);
            close(o.get(c)!.value, e.value);
          }
        }
        // and every journey model agrees on a one-touch journey
        const t: Touch[] = [{ channel: 'x', ts: CONV_TS - DAY }];
        for (const model of [
          { kind: 'first' },
          { kind: 'last' },
          { kind: 'linear' },
          { kind: 'time-decay', halfLifeDays: 7 },
          { kind: 'u-shape' },
          { kind: 'w-shape' },
          { kind: 'full-path' },
        ] as RuleModel[]) {
          close(creditTouches(t, CONV_TS, 123, model)[0] as number, 123);
        }
      }),
    );
  });

  it('every journey model sums to the value, credits non-negative', () => {
    const touch = fc.record({
      channel,
      ts: fc.integer({ min: CONV_TS - 60 * DAY, max: CONV_TS }),
      milestone: fc.option(fc.constantFrom('FT', 'LC', 'OC', 'CW'), { nil: undefined }),
    });
    const models: RuleModel[] = [
      { kind: 'first' },
      { kind: 'last', skipChannels: ['direct'] },
      { kind: 'linear' },
      { kind: 'time-decay', halfLifeDays: 3 },
      { kind: 'u-shape' },
      { kind: 'u-shape', secondAnchor: 'LC' },
      { kind: 'w-shape' },
      { kind: 'full-path' },
      { kind: 'positions', first: 1, middle: 3, last: 2 },
    ];
    fc.assert(
      fc.property(
        fc.array(touch, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        (ts, v) => {
          const sorted = [...ts].sort((a, b) => a.ts - b.ts) as Touch[];
          for (const m of models) {
            const c = creditTouches(sorted, CONV_TS, v, m);
            close(
              c.reduce((a, b) => a + b, 0),
              v,
              1e-6 * v,
              m.kind,
            );
            assert.ok(
              c.every((x) => x >= -1e-9),
              m.kind,
            );
            const minor = roundToMinorUnits(c, v);
            assert.equal(
              minor.reduce((a, b) => a + b, 0),
              v,
            );
            // a full refund cancels the credits exactly
            const back = refundCredits(c, v, v);
            for (const [i, x] of c.entries()) close(x + (back[i] as number), 0, 1e-6);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('Shapley is efficient (exact and sampled) and symmetric', () => {
    const set = fc.record({
      channels: fc.uniqueArray(channel, { minLength: 1, maxLength: 6 }),
      conversions: fc.integer({ min: 0, max: 10 }),
      value: fc.integer({ min: 0, max: 100 }),
      nulls: fc.integer({ min: 0, max: 10 }),
    });
    fc.assert(
      fc.property(
        fc.array(set, { minLength: 1, maxLength: 15 }),
        fc.constantFrom('cumulative', 'set-rate'),
        (ss, ch) => {
          const r = shapley(ss, { characteristic: ch as 'cumulative' | 'set-rate' });
          close(
            [...r.values.values()].reduce((a, b) => a + b, 0),
            r.total,
            1e-9,
          );
          if (ch === 'cumulative') {
            const closed = shapleyCumulative(ss, 'conversions');
            for (const [c, v] of r.values) close(v, closed.get(c) ?? 0, 1e-9, c);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('above 12 channels Shapley samples, states its error, and stays efficient', () => {
    const names = Array.from({ length: 16 }, (_, i) => `ch${i}`);
    const sets = names.map((c, i) => ({ channels: [c, names[(i + 1) % 16]!], conversions: i + 1, value: 0, nulls: 2 }));
    const r = shapley(sets, { samples: 400, seed: 7 });
    assert.equal(r.method, 'sampled');
    close(
      [...r.values.values()].reduce((a, b) => a + b, 0),
      r.total,
      1e-6,
    );
    // the cumulative closed form is the truth; the estimate is within 5 standard errors
    const truth = shapleyCumulative(sets, 'conversions');
    for (const [c, v] of r.values) {
      const se = r.standardError.get(c)!;
      assert.ok(se > 0);
      assert.ok(Math.abs(v - truth.get(c)!) <= 5 * se + 1e-9, `${c}: ${v} vs ${truth.get(c)} (se ${se})`);
    }
  });
});
