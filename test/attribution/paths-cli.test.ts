/**
 * `switchyard attribution paths`: the ChannelAttribution layout (header or not, spaces around `>`,
 * empty channel names skipped), the exact JSON shape, refusals with the line number and the list of
 * valid models, and the exact Markov solve against a simulation of the walks ChannelAttribution
 * samples (same chain, untruncated), which it must match within sampling error.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAttributionPaths } from '../../src/cli/commands/attribution.ts';
import { CliError } from '../../src/cli/errors.ts';
import { collapseRepeats, markovAttribution } from '../../src/core/attribution/markov.ts';
import { channelsOf, type PathRow, parsePathFile } from '../../src/core/attribution/paths.ts';
import { seededRandom } from '../../src/core/attribution/shapley.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sy-paths-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const SAMPLE = [
  'path;total_conversions;total_conversion_value;total_null',
  'email > search;3;300;1',
  'email>email > social;1;50;4',
  'search;2;120;6',
  ' social >  > email ;0;0;5',
  '',
].join('\n');

describe('attribution paths: parsing', () => {
  it('reads the header layout; spaces around > and empty names are ignored', () => {
    const rows = parsePathFile(SAMPLE);
    assert.deepEqual(rows[1]!.channels, ['email', 'email', 'social']);
    assert.deepEqual(rows[3]!.channels, ['social', 'email']);
    assert.deepEqual(channelsOf(rows), ['email', 'search', 'social']);
  });
  it('reads the same file without a header, positionally, and a header in another column order', () => {
    const a = parsePathFile(SAMPLE.split('\n').slice(1).join('\n'));
    assert.deepEqual(a, parsePathFile(SAMPLE));
    const b = parsePathFile('total_null;path;total_conversions\n4;"a > b";2\n');
    assert.deepEqual(b, [{ channels: ['a', 'b'], conversions: 2, value: 0, nulls: 4 }]);
  });
  it('refuses malformed lines with their line number', () => {
    const bad: Array<[string, RegExp]> = [
      ['path;total_conversions;total_conversion_value;total_null\na>b;1;2;3\na>b;x;2;3\n', /line 3: total_conversions/],
      ['path;total_conversions;total_conversion_value;total_null\na>b;1;2\n', /line 2: expected 4 columns/],
      ['a>b;1;2;3\n > ;1;2;3\n', /line 2: the path has no channel/],
      ['a>b;1;2;3\n\n\nc;1;-2;3\n', /line 4: total_conversion_value must be a non-negative number/],
      ['a;b;c;d\n', /line 1: neither a header/],
      ['a>b;1;2;3;4;5\n', /line 1: expected 2 to 4 columns/],
      ['', /no path rows/],
    ];
    for (const [text, re] of bad) assert.throws(() => parsePathFile(text), re);
  });
});

describe('attribution paths: the command', () => {
  it('prints the exact shape for each model; removal_effect only for markov', () => {
    const f = file('sample.csv', SAMPLE);
    for (const model of ['first', 'last', 'linear', 'markov']) {
      const out = JSON.parse(runAttributionPaths({ file: f, model, null: true }));
      assert.deepEqual(Object.keys(out), ['model', 'channels', 'totals']);
      assert.equal(out.model, model);
      assert.deepEqual(out.totals, { conversions: 6, value: 470 });
      assert.deepEqual(Object.keys(out.channels), ['email', 'search', 'social']);
      for (const e of Object.values(out.channels) as Array<Record<string, number>>) {
        assert.deepEqual(
          Object.keys(e),
          model === 'markov' ? ['conversions', 'value', 'removal_effect'] : ['conversions', 'value'],
        );
      }
    }
    const linear = JSON.parse(runAttributionPaths({ file: f, model: 'linear', null: true }));
    // email > search: 1.5 each; email>email>social: email 2/3, social 1/3; search 2
    assert.ok(Math.abs(linear.channels.email.conversions - (1.5 + 2 / 3)) < 1e-12);
    assert.ok(Math.abs(linear.channels.social.value - 50 / 3) < 1e-12);
    const first = JSON.parse(runAttributionPaths({ file: f, model: 'first', null: true }));
    assert.deepEqual(first.channels.social, { conversions: 0, value: 0 });
  });
  it('--no-null ignores the null column for markov', () => {
    const f = file('nn.csv', SAMPLE);
    const a = JSON.parse(runAttributionPaths({ file: f, model: 'markov', null: true }));
    const b = JSON.parse(runAttributionPaths({ file: f, model: 'markov', null: false }));
    assert.notDeepEqual(a.channels, b.channels);
    const rows = parsePathFile(SAMPLE).map((r) => ({ ...r, nulls: 0 }));
    const direct = markovAttribution(rows);
    assert.ok(Math.abs(direct.channels.get('email')!.conversions - b.channels.email.conversions) < 1e-12);
  });
  it('through the binary: exit 0 and one JSON line; unknown model and bad file exit 2 with the reason', () => {
    const f = file('bin.csv', SAMPLE);
    const ok = spawnSync(
      process.execPath,
      [BIN, 'attribution', 'paths', '--file', f, '--model', 'markov', '--no-null'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.trim().split('\n').length, 1);
    assert.equal(JSON.parse(ok.stdout).model, 'markov');
    const unknown = spawnSync(process.execPath, [BIN, 'attribution', 'paths', '--file', f, '--model', 'shapely'], {
      encoding: 'utf8',
    });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown model "shapely"; valid models: first, last, linear, markov/);
    const bad = file('bad.csv', 'path;total_conversions;total_conversion_value;total_null\na;1;1;1\nb;one;1;1\n');
    const refused = spawnSync(process.execPath, [BIN, 'attribution', 'paths', '--file', bad, '--model', 'first'], {
      encoding: 'utf8',
    });
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /line 3: total_conversions must be a non-negative number/);
    assert.throws(() => runAttributionPaths({ file: join(dir, 'missing.csv'), model: 'first', null: true }), CliError);
  });
});

/** ChannelAttribution's estimator: walk the fitted chain, count converting walks visiting each channel. */
function simulate(rows: PathRow[], walks: number, seed: number): Map<string, number> {
  const names = channelsOf(rows);
  const id = new Map(names.map((c, i) => [c, i + 1] as const));
  const n = names.length + 1;
  const next: Array<Map<number, number>> = Array.from({ length: n }, () => new Map());
  const add = (a: number, b: number, w: number): void => void next[a]!.set(b, (next[a]!.get(b) ?? 0) + w);
  for (const r of rows) {
    if (r.conversions + r.nulls === 0) continue;
    let from = 0;
    for (const s of collapseRepeats(r.channels.map((c) => id.get(c)!))) {
      add(from, s, r.conversions + r.nulls);
      from = s;
    }
    if (r.conversions > 0) add(from, n, r.conversions);
    if (r.nulls > 0) add(from, n + 1, r.nulls);
  }
  const rand = seededRandom(seed);
  const visits = new Float64Array(n);
  let conv = 0;
  for (let w = 0; w < walks; w++) {
    const seen = new Set<number>();
    let c = 0;
    while (c < n) {
      const row = next[c]!;
      const total = [...row.values()].reduce((a, b) => a + b, 0);
      let u = rand() * total;
      for (const [to, x] of row) {
        c = to;
        u -= x;
        if (u < 0) break;
      }
      if (c < n) seen.add(c);
    }
    if (c === n) {
      conv++;
      for (const s of seen) visits[s]!++;
    }
  }
  return new Map(names.map((c, i) => [c, visits[i + 1]! / conv] as const));
}

describe('attribution paths: exact Markov equals the simulated estimator', () => {
  it('removal effects within 0.01 of 200k simulated walks', () => {
    const rand = seededRandom(42);
    const ch = ['a', 'b', 'c', 'd', 'e'];
    const rows: PathRow[] = Array.from({ length: 60 }, () => ({
      channels: Array.from({ length: 1 + Math.floor(rand() * 6) }, () => ch[Math.floor(rand() * ch.length)]!),
      conversions: Math.floor(rand() * 5),
      value: Math.floor(rand() * 500),
      nulls: Math.floor(rand() * 10),
    }));
    const exact = markovAttribution(rows);
    const sim = simulate(rows, 200_000, 9);
    for (const [c, re] of sim) {
      assert.ok(
        Math.abs(exact.channels.get(c)!.removalEffect - re) < 0.01,
        `${c}: ${exact.channels.get(c)!.removalEffect} vs ${re}`,
      );
    }
  });
});
