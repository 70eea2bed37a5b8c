import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  addEngagement,
  bestSendTime,
  createLocalTime,
  emptyHistogram,
  inHourRange,
  learnHistogram,
  localHour,
  mergeHistograms,
  planSendTime,
} from '../../src/core/send-time.ts';
import type { OpenHistogram } from '../../src/core/send-time.ts';
import type { EngagementEvent } from '../../src/core/events.ts';
import { isSwitchyardError } from '../../src/core/errors.ts';

function histogramAt(hours: Record<number, number>): OpenHistogram {
  const counts = Array.from({ length: 24 }, (_, h) => hours[h] ?? 0);
  return { counts, events: counts.reduce((a, b) => a + b, 0), updatedAt: 0 };
}

function open(at: string, isMachine = false): EngagementEvent {
  return { type: 'opened', sourceId: `s:${at}`, provider: 'tracking', occurredAt: new Date(at), raw: {}, isMachine };
}

describe('send-time histograms', () => {
  it('learns local hours from human opens and clicks only', () => {
    const h = learnHistogram(
      [
        open('2026-05-01T07:15:00Z'),
        open('2026-05-02T07:40:00Z'),
        open('2026-05-02T23:00:00Z', true),
        { ...open('2026-05-03T18:05:00Z'), type: 'clicked' },
        { ...open('2026-05-03T18:06:00Z'), type: 'delivered' },
      ],
      'Europe/Berlin',
    );
    assert.equal(h.events, 3);
    assert.ok(h.counts[9]! > 1.9 && h.counts[9]! <= 2); // 07:xx UTC = 09:xx CEST
    assert.ok(h.counts[20]! > 0.99);
    assert.equal(h.counts[1], 0);
  });

  it('decays: an event one half-life older weighs half, in either arrival order', () => {
    const a = addEngagement(
      addEngagement(emptyHistogram(), new Date('2026-01-01T10:00:00Z'), 'UTC'),
      new Date('2026-01-31T11:00:00Z'),
      'UTC',
    );
    const b = addEngagement(
      addEngagement(emptyHistogram(), new Date('2026-01-31T11:00:00Z'), 'UTC'),
      new Date('2026-01-01T10:00:00Z'),
      'UTC',
    );
    for (const h of [a, b]) {
      assert.ok(Math.abs(h.counts[10]! - 0.5) < 1e-3); // 30 days and 1 hour apart
      assert.equal(h.counts[11], 1);
    }
    const merged = mergeHistograms([a, histogramAt({ 3: 2 })]);
    assert.equal(merged.events, 4);
  });

  it('uses Intl for the zone, including half-hour offsets, and names a bad zone', () => {
    assert.equal(localHour(new Date('2026-01-01T00:00:00Z'), 'Asia/Kolkata'), 5);
    assert.throws(
      () => localHour(new Date(), 'Mars/Olympus'),
      (e: unknown) => isSwitchyardError(e) && /unknown time zone "Mars\/Olympus"/.test(e.message),
    );
  });
});

describe('bestSendTime', () => {
  const earliest = new Date('2026-03-10T06:20:00Z'); // 07:20 in Berlin

  it('picks the top hour of the contact when it has enough events, else segment, else global', () => {
    const contact = histogramAt({ 19: 6 });
    const segment = histogramAt({ 12: 50 });
    const global = histogramAt({ 8: 500 });
    assert.equal(
      bestSendTime({ contact, segment, global }, { tz: 'Europe/Berlin', earliest }).toISOString(),
      '2026-03-10T18:00:00.000Z',
    );
    const few = histogramAt({ 19: 2 });
    const plan = planSendTime({ contact: few, segment, global }, { tz: 'Europe/Berlin', earliest });
    assert.deepEqual([plan.source, plan.at.toISOString()], ['segment', '2026-03-10T11:00:00.000Z']);
    assert.equal(planSendTime({ contact: few }, { tz: 'Europe/Berlin', earliest }).source, 'none');
    // no data: at once
    assert.equal(planSendTime({}, { tz: 'Europe/Berlin', earliest }).at.getTime(), earliest.getTime());
  });

  it('keeps out of quiet hours, inside the send window, and can spread inside the hour', () => {
    const h = histogramAt({ 23: 10, 10: 3 });
    const at = bestSendTime({ contact: h }, { tz: 'Europe/Berlin', earliest, quietHours: { start: 21, end: 8 } });
    assert.equal(at.toISOString(), '2026-03-10T09:00:00.000Z'); // 10:00 local
    const windowed = bestSendTime(
      { contact: h },
      { tz: 'Europe/Berlin', earliest, sendWindow: { start: 12, end: 17 } },
    );
    assert.equal(windowed.toISOString(), '2026-03-10T11:00:00.000Z'); // no data in 12..17: the first allowed hour
    const spread = bestSendTime(
      { contact: h },
      { tz: 'Europe/Berlin', earliest, quietHours: { start: 21, end: 8 }, spreadKey: 'contact-42' },
    );
    assert.ok(
      spread.getTime() >= at.getTime()
        && spread.getTime() < at.getTime() + 3_600_000
        && spread.getTime() !== at.getTime(),
    );
  });

  it('refuses when nothing is allowed, naming why', () => {
    assert.throws(
      () =>
        bestSendTime({}, { tz: 'UTC', earliest, quietHours: { start: 0, end: 12 }, sendWindow: { start: 3, end: 9 } }),
      (e: unknown) => isSwitchyardError(e) && e.code === 'VALIDATION_FAILED' && /quiet hours/.test(e.message),
    );
    assert.throws(
      () => bestSendTime({}, { tz: 'UTC', earliest, quietHours: { start: 22, end: 24 } }),
      /integers 0\.\.23/,
    );
  });

  it('property: within [earliest, earliest + 24 h] and outside quiet hours', () => {
    const zones = [
      'UTC',
      'Europe/Berlin',
      'America/New_York',
      'Asia/Kolkata',
      'Asia/Kathmandu',
      'Australia/Lord_Howe',
      'Pacific/Chatham',
      'America/St_Johns',
    ];
    const hour = fc.integer({ min: 0, max: 23 });
    const range = fc.record({ start: hour, end: hour });
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2027, 0, 1) }),
        fc.array(fc.nat({ max: 20 }), { minLength: 24, maxLength: 24 }),
        fc.option(range, { nil: undefined }),
        fc.option(range, { nil: undefined }),
        fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
        (tz, startMs, counts, quietHours, sendWindow, spreadKey) => {
          const contact: OpenHistogram = { counts, events: 10, updatedAt: 0 };
          const local = createLocalTime(tz);
          const earliest = new Date(startMs);
          const allowed = (h: number): boolean =>
            !(quietHours !== undefined && inHourRange(quietHours, h))
            && !(sendWindow !== undefined && !inHourRange(sendWindow, h));
          let at: Date;
          try {
            at = bestSendTime(
              { contact },
              {
                tz,
                earliest,
                withinHours: 24,
                ...(quietHours ? { quietHours } : {}),
                ...(sendWindow ? { sendWindow } : {}),
                ...(spreadKey !== undefined ? { spreadKey } : {}),
              },
            );
          } catch (e) {
            assert.ok(isSwitchyardError(e) && e.code === 'VALIDATION_FAILED');
            for (let m = 0; m <= 24 * 60; m += 15)
              assert.ok(!allowed(local(new Date(startMs + m * 60_000)).hour), 'threw although an allowed time existed');
            return;
          }
          assert.ok(
            at.getTime() >= startMs && at.getTime() <= startMs + 24 * 3_600_000,
            `${at.toISOString()} outside the window`,
          );
          assert.ok(allowed(local(at).hour), `local hour ${local(at).hour} not allowed`);
        },
      ),
      { numRuns: 300 },
    );
  });
});
