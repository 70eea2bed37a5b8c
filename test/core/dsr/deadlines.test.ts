import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DSR_TYPES, dsrDeadline, JURISDICTIONS } from '../../../src/core/dsr/deadlines.ts';

const received = new Date('2026-03-02T14:00:00Z'); // a Monday

describe('DSR deadlines', () => {
  it('GDPR: one month, extendable by two', () => {
    const d = dsrDeadline('erasure', 'gdpr', received);
    assert.equal(d.dueAt.toISOString(), '2026-04-02T14:00:00.000Z');
    assert.equal(d.extendedDueAt?.toISOString(), '2026-06-02T14:00:00.000Z');
  });

  it('CCPA: 45 calendar days, extendable by 45; opt-out of sale 15 business days', () => {
    const d = dsrDeadline('access', 'ccpa', received);
    assert.equal(d.dueAt.toISOString(), '2026-04-16T14:00:00.000Z');
    assert.equal(d.extendedDueAt?.toISOString(), '2026-05-31T14:00:00.000Z');
    const o = dsrDeadline('opt_out_of_sale', 'ccpa', received);
    assert.equal(o.dueAt.toISOString(), '2026-03-23T14:00:00.000Z');
    assert.equal(o.extendedDueAt, null);
  });

  it('CAN-SPAM and CASL opt-outs: 10 business days', () => {
    for (const j of ['can_spam', 'casl'] as const)
      assert.equal(dsrDeadline('opt_out_of_sale', j, received).dueAt.toISOString(), '2026-03-16T14:00:00.000Z');
  });

  it('unknown jurisdiction: the strictest rule applies and says so', () => {
    const d = dsrDeadline('erasure', 'unknown', received);
    // LGPD's 15 days is the earliest erasure deadline of the table
    assert.equal(d.dueAt.toISOString(), '2026-03-17T14:00:00.000Z');
    assert.match(d.rule, /jurisdiction unknown: strictest applies \(lgpd/);
    const o = dsrDeadline('opt_out_of_sale', 'unknown', received);
    assert.equal(o.dueAt.toISOString(), '2026-03-16T14:00:00.000Z');
  });

  it('a jurisdiction without a rule for the type falls back to the strictest', () => {
    const d = dsrDeadline('erasure', 'can_spam', received);
    assert.match(d.rule, /can_spam sets none for erasure/);
  });

  it('property: escalation at 80 % and halfway lie between receipt and due; unknown is never later', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2020-01-01'), max: new Date('2035-01-01'), noInvalidDate: true }),
        fc.constantFrom(...DSR_TYPES),
        fc.constantFrom(...JURISDICTIONS),
        (at, type, j) => {
          const d = dsrDeadline(type, j, at);
          assert.ok(d.halfwayAt > at && d.halfwayAt < d.escalateAt && d.escalateAt < d.dueAt);
          assert.ok(dsrDeadline(type, 'unknown', at).dueAt <= d.dueAt);
        },
      ),
    );
  });
});
