/** The human forms of campaign status and list. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  duration,
  formatCampaignList,
  formatStatus,
  progressLine,
  table,
  type StatusView,
} from '../../src/cli/format.ts';

function status(over: Partial<StatusView> = {}, campaign: Partial<StatusView['campaign']> = {}): StatusView {
  return {
    campaign: {
      id: 'c1',
      status: 'running',
      statusReason: null,
      selected: 1000,
      selectDone: true,
      definition: { name: 'Spring' },
      ...campaign,
    },
    counts: { delivered: 200, sent: 50, waiting: 750 },
    reasons: {},
    stages: [],
    ratePerSecond: 25,
    etaSeconds: 30,
    ...over,
  };
}

describe('campaign output', () => {
  it('status: progress, rate and ETA in a few lines', () => {
    const lines = formatStatus(status());
    assert.equal(lines[0], 'Spring (c1): running');
    assert.equal(lines[1], '  progress   250 of 1,000 handled (25%); 25 msgs/s, ETA 30s');
    assert.equal(lines[2], '  outcomes   waiting 750, delivered 200, sent 50');
    assert.ok(lines.length <= 6);
  });

  it('while the audience is read: no total, no "+", no ETA', () => {
    for (const s of [
      status({ progress: { audienceKnown: false, stalledSince: null } }),
      status({}, { selectDone: false }),
    ]) {
      const text = [...formatStatus(s), progressLine(s)].join('\n');
      assert.match(text, /still reading the audience/);
      assert.doesNotMatch(text, /ETA|\+|of 1,000/);
    }
  });

  it('stalled: "stalled since" instead of an ETA', () => {
    const s = status({ progress: { audienceKnown: true, stalledSince: '2026-12-06T22:40:01.123Z' } });
    const text = [...formatStatus(s), progressLine(s)].join('\n');
    assert.match(text, /stalled since 2026-12-06 22:40:01Z/);
    assert.doesNotMatch(text, /ETA/);
  });

  it('list: a table with a header; an empty list says how to start', () => {
    const lines = formatCampaignList([
      { id: 'c1', status: 'running', selected: 1200, createdAt: '2026-12-06T10:00:00.000Z', definition: { name: 'A' } },
      { id: 'camp-22', status: 'draft', selected: 0, createdAt: '2026-12-06T11:00:00.000Z' },
    ]);
    assert.deepEqual(lines, [
      'ID       STATUS   SELECTED  CREATED               NAME',
      'c1       running  1,200     2026-12-06 10:00:00Z  A',
      'camp-22  draft    0         2026-12-06 11:00:00Z',
    ]);
    assert.match(formatCampaignList([])[0]!, /no campaigns yet/);
  });

  it('table columns line up for any cells', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), fc.string()), { maxLength: 5 }),
        (rows) => {
          const clean = rows.map((r) => r.map((c) => c.replace(/\s/g, 'x')));
          const lines = table(['A', 'B', 'C'], clean);
          const starts = lines.map((l, i) => (i === 0 ? l.indexOf('C') : l.length === 0 ? -1 : -1));
          assert.equal(lines.length, clean.length + 1);
          assert.ok(starts[0]! >= 0);
          for (const [i, r] of clean.entries()) assert.ok(lines[i + 1]!.startsWith(r[0]!));
        },
      ),
    );
    assert.equal(duration(59), '59s');
    assert.equal(duration(62), '1m 02s');
    assert.equal(duration(3725), '1h 02m');
  });
});
