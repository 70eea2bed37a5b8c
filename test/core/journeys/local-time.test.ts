/**
 * Local times and date triggers: `localTimeAfter` lands strictly after now, within a day and a
 * bit, on the wall-clock time asked for in that zone (fast-check over instants and zones,
 * daylight-saving gaps excepted); examples around a DST change; date triggers with offsets and
 * yearly anniversaries, 29 February included.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dateTriggersOn, localDate, localTimeAfter } from '../../../src/core/journeys/local-time.ts';

const ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Tokyo', 'Asia/Kolkata', 'Australia/Lord_Howe'];

function wallClock(d: Date, tz: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: tz,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(d);
}

describe('localTimeAfter', () => {
  it('is the next instant with that wall-clock time in the zone', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2030, 0, 1) }),
        fc.constantFrom(...ZONES),
        fc.integer({ min: 0, max: 23 }),
        fc.constantFrom(0, 15, 30, 45),
        (ms, tz, h, m) => {
          const now = new Date(ms);
          const time = `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
          const at = localTimeAfter(now, tz, time);
          assert.ok(at.getTime() > now.getTime());
          assert.ok(at.getTime() - now.getTime() <= 26 * 3_600_000);
          // a time a DST change skips resolves past the gap; otherwise the wall clock matches
          if (wallClock(at, tz) !== time) assert.ok(tz !== 'UTC' && tz !== 'Asia/Tokyo' && tz !== 'Asia/Kolkata');
        },
      ),
      { numRuns: 300, seed: 3 },
    );
  });

  it('examples: Tokyo 09:00 is 00:00Z; Paris across the spring change', () => {
    assert.equal(
      localTimeAfter(new Date('2026-03-04T10:00:00Z'), 'Asia/Tokyo', '09:00').toISOString(),
      '2026-03-05T00:00:00.000Z',
    );
    // Paris moves to UTC+2 on 2026-03-29: 09:00 that day is 07:00Z, the day before 08:00Z
    assert.equal(
      localTimeAfter(new Date('2026-03-28T12:00:00Z'), 'Europe/Paris', '09:00').toISOString(),
      '2026-03-29T07:00:00.000Z',
    );
    assert.equal(
      localTimeAfter(new Date('2026-03-28T06:00:00Z'), 'Europe/Paris', '09:00').toISOString(),
      '2026-03-28T08:00:00.000Z',
    );
    assert.equal(localDate(new Date('2026-03-04T23:30:00Z'), 'Asia/Tokyo'), '2026-03-05');
  });
});

describe('dateTriggersOn', () => {
  it('offsets, anniversaries and values that are not dates', () => {
    assert.equal(dateTriggersOn('2026-05-01', '2026-04-01', -30, false), true);
    assert.equal(dateTriggersOn('2026-05-01', '2026-04-02', -30, false), false);
    assert.equal(dateTriggersOn('1990-07-14', '2026-07-14', 0, true), true);
    assert.equal(dateTriggersOn('1990-07-14T00:00:00Z', '2026-07-13', 0, true), false);
    assert.equal(dateTriggersOn('2000-02-29', '2027-02-28', 0, true), true);
    assert.equal(dateTriggersOn('2000-02-29', '2028-02-29', 0, true), true);
    assert.equal(dateTriggersOn('2000-02-29', '2028-02-28', 0, true), false);
    assert.equal(dateTriggersOn('soon', '2026-01-01', 0, false), false);
    assert.equal(dateTriggersOn(19900714, '2026-07-14', 0, true), false);
  });
});
