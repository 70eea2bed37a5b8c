import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dealCells, inTestShare, unitHash } from '../../../src/core/ab-test/assignment.ts';

const contact = fc.record({
  contactId: fc.string({ minLength: 1, maxLength: 12 }),
  domain: fc.constantFrom('gmail.com', 'yahoo.com', 'outlook.com', 'example.org', 'icloud.com'),
});
const chunk = fc.uniqueArray(contact, { selector: (c) => c.contactId, maxLength: 200 });

describe('A/B assignment', () => {
  it('unitHash is in [0, 1) and depends on every part', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 4 }), (parts) => {
        const u = unitHash(...parts);
        assert.ok(u >= 0 && u < 1);
        assert.equal(unitHash(...parts), u);
      }),
    );
    assert.notEqual(unitHash('a', 'bc'), unitHash('ab', 'c'));
  });

  it('the test share is the share asked for, and the same contact is always in or out', () => {
    let inside = 0;
    for (let i = 0; i < 20_000; i++) if (inTestShare('camp-1', `c${i}`, 0.2)) inside++;
    // 20 000 draws at p = 0.2: sd ≈ 57, so ±300 is over 5 sd
    assert.ok(Math.abs(inside - 4_000) < 300, `${inside} of 20000 in a 20 % share`);
    for (let i = 0; i < 100; i++)
      assert.equal(inTestShare('camp-1', `c${i}`, 0.2), inTestShare('camp-1', `c${i}`, 0.2));
    // a larger share keeps everyone a smaller one had (the remainder is the complement)
    for (let i = 0; i < 1_000; i++)
      if (inTestShare('camp-1', `c${i}`, 0.1)) assert.ok(inTestShare('camp-1', `c${i}`, 0.3));
  });

  it('a chunk is dealt the same whatever order its rows come in', () => {
    fc.assert(
      fc.property(chunk, fc.integer({ min: 2, max: 8 }), fc.integer({ min: 0, max: 1000 }), (rows, cells, seq) => {
        const a = dealCells('camp', seq, rows, cells);
        const b = dealCells('camp', seq, [...rows].reverse(), cells);
        assert.deepEqual([...a.entries()].sort(), [...b.entries()].sort());
        for (const v of a.values()) assert.ok(Number.isInteger(v) && v >= 0 && v < cells);
        assert.equal(a.size, rows.length);
      }),
    );
  });

  it('every cell gets a like mix of receiving domains: per domain, counts differ by at most one', () => {
    fc.assert(
      fc.property(chunk, fc.integer({ min: 2, max: 8 }), (rows, cells) => {
        const dealt = dealCells('camp', 7, rows, cells);
        const perDomain = new Map<string, number[]>();
        for (const r of rows) {
          const counts = perDomain.get(r.domain) ?? new Array(cells).fill(0);
          counts[dealt.get(r.contactId)!]++;
          perDomain.set(r.domain, counts);
        }
        for (const counts of perDomain.values()) assert.ok(Math.max(...counts) - Math.min(...counts) <= 1);
      }),
    );
  });

  it('over many chunks the cells stay balanced per domain (the offsets rotate)', () => {
    const totals = [0, 0, 0];
    for (let seq = 0; seq < 300; seq++) {
      // 10 contacts of one small domain per chunk: without a rotating offset cell 0 would get 4 of them every time
      const rows = Array.from({ length: 10 }, (_, i) => ({ contactId: `s${seq}-${i}`, domain: 'small.example' }));
      for (const cell of dealCells('camp', seq, rows, 3).values()) totals[cell]!++;
    }
    assert.ok(Math.max(...totals) - Math.min(...totals) < 60, `totals ${totals}`);
  });
});
