/**
 * The date-trigger scan's pure parts: the keys it asks the store for must include every contact
 * that fires (property test over random dates, offsets, time zones and scan windows), 29 February
 * maps to 28 February in common years, and a scan reaches back at most MAX_CATCH_UP_DAYS.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dateKeys, firingOf, MAX_CATCH_UP_DAYS, scanDays, scanStart } from '../../../src/core/journeys/date-trigger.ts';

const ZONES = [
  'UTC',
  'Pacific/Auckland',
  'Pacific/Kiritimati',
  'America/Los_Angeles',
  'Pacific/Pago_Pago',
  'Asia/Kolkata',
];
const DAY = 86_400_000;

describe('date trigger scan', () => {
  it('asks the store for every date that fires (property)', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1950-01-01'), max: new Date('2030-12-31'), noInvalidDate: true }),
        fc.date({ min: new Date('2026-01-01'), max: new Date('2029-12-31'), noInvalidDate: true }),
        fc.integer({ min: 0, max: 3 * DAY }),
        fc.integer({ min: -60, max: 60 }),
        fc.boolean(),
        fc.constantFrom(...ZONES),
        (value, now, back, offsetDays, yearly, tz) => {
          const v = value.toISOString().slice(0, 10);
          const since = new Date(now.getTime() - back);
          const t = { attribute: 'd', offsetDays, yearly };
          const fired = firingOf(v, tz, since, now, t);
          if (fired === null) return;
          const keys = dateKeys(scanDays(since, now), t);
          const md = Number(v.slice(5, 7)) * 100 + Number(v.slice(8, 10));
          if ('monthDays' in keys) assert.ok(keys.monthDays.includes(md), `${v} ${tz} ${JSON.stringify(fired)}`);
          else assert.ok(keys.dates.includes(v), `${v} ${tz} ${JSON.stringify(fired)}`);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('fires 29 February on 28 February of a common year, and only on the 29th of a leap year', () => {
    const t = { attribute: 'birthday', yearly: true };
    assert.deepEqual(dateKeys(['2027-02-28'], t), { monthDays: [228, 229] });
    assert.deepEqual(dateKeys(['2028-02-28'], t), { monthDays: [228] });
    const at = (iso: string) => new Date(iso);
    assert.deepEqual(firingOf('2000-02-29', 'UTC', at('2027-02-28T00:00Z'), at('2027-02-28T01:00Z'), t), {
      day: '2027-02-28',
      occurrence: '2027',
    });
    assert.equal(firingOf('2000-02-29', 'UTC', at('2028-02-28T00:00Z'), at('2028-02-28T01:00Z'), t), null);
  });

  it('names the occurrence by the anniversary year, across a year rollover with an offset', () => {
    // a week before a 3 January birthday is 27 December of the year before
    const t = { attribute: 'birthday', yearly: true, offsetDays: -7 };
    const now = new Date('2026-12-27T06:00:00Z');
    assert.deepEqual(firingOf('1990-01-03', 'UTC', now, now, t), { day: '2026-12-27', occurrence: '2027' });
    assert.deepEqual(dateKeys(['2026-12-27'], t), { monthDays: [103] });
  });

  it('reaches back at most MAX_CATCH_UP_DAYS, and starts at now on the first scan', () => {
    const now = new Date('2026-03-20T00:00:00Z');
    assert.equal(scanStart(null, now), now);
    assert.deepEqual(
      scanStart(new Date('2026-01-01T00:00:00Z'), now),
      new Date(now.getTime() - MAX_CATCH_UP_DAYS * DAY),
    );
    assert.deepEqual(scanDays(now, now), ['2026-03-19', '2026-03-20']);
  });
});
