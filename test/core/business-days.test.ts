import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addBusinessDays, addMonths, businessDaysBetween, isBusinessDay } from '../../src/core/business-days.ts';

describe('business-day calendar', () => {
  it('skips weekends and keeps the time of day', () => {
    // Monday 2026-03-02 14:00 + 10 business days = Monday 2026-03-16 14:00
    assert.equal(addBusinessDays(new Date('2026-03-02T14:00:00Z'), 10).toISOString(), '2026-03-16T14:00:00.000Z');
    // from a Friday, one business day is the Monday
    assert.equal(addBusinessDays(new Date('2026-03-06T09:00:00Z'), 1).toISOString(), '2026-03-09T09:00:00.000Z');
    // received on a Saturday: the first business day is Monday
    assert.equal(addBusinessDays(new Date('2026-03-07T09:00:00Z'), 1).toISOString(), '2026-03-09T09:00:00.000Z');
  });

  it('skips the given holidays', () => {
    const cal = { holidays: new Set(['2026-12-25', '2026-12-28']) };
    // Thu 24 Dec + 2 = Tue 29 Dec (Fri 25 and Mon 28 are holidays)
    assert.equal(addBusinessDays(new Date('2026-12-24T10:00:00Z'), 2, cal).toISOString(), '2026-12-30T10:00:00.000Z');
    assert.equal(isBusinessDay(new Date('2026-12-25T10:00:00Z'), cal), false);
  });

  it('property: n business days later lands on a business day and counts back to n', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2020-01-01'), max: new Date('2035-01-01'), noInvalidDate: true }),
        fc.integer({ min: 1, max: 60 }),
        (start, n) => {
          const end = addBusinessDays(start, n);
          assert.ok(isBusinessDay(end));
          assert.equal(businessDaysBetween(start, end), n);
          // a business week is 7 calendar days: never fewer calendar days than business days
          assert.ok(end.getTime() - start.getTime() >= n * 86_400_000);
          assert.ok(end.getTime() - start.getTime() <= Math.ceil(n / 5) * 7 * 86_400_000 + 2 * 86_400_000);
        },
      ),
    );
  });

  it('months clamp to the end of a shorter month', () => {
    assert.equal(addMonths(new Date('2026-01-31T08:00:00Z'), 1).toISOString(), '2026-02-28T08:00:00.000Z');
    assert.equal(addMonths(new Date('2028-01-31T08:00:00Z'), 1).toISOString(), '2028-02-29T08:00:00.000Z');
    assert.equal(addMonths(new Date('2026-03-15T08:00:00Z'), 1).toISOString(), '2026-04-15T08:00:00.000Z');
    assert.equal(addMonths(new Date('2026-11-30T08:00:00Z'), 3).toISOString(), '2027-02-28T08:00:00.000Z');
  });
});
