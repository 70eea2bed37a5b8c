/**
 * Which contacts a date trigger enters, pure: the local days a scan covers, the date keys (month
 * and day, or dates) the store is asked for, and whether one contact's date fires within the
 * scan, on which occurrence. A scan covers every local day from the previous scan's to now's in
 * the contact's own time zone, so a day is never skipped (a stopped worker catches up, within
 * MAX_CATCH_UP_DAYS) and a date changed to today after today's first scan still fires; the
 * occurrence key keeps the repeat scans of a day from entering anyone twice.
 */
import { dateTriggersOn, localDate } from './local-time.ts';

const DAY = 86_400_000;
/** A scan reaches back at most this far (a worker down longer does not flood old anniversaries). */
export const MAX_CATCH_UP_DAYS = 7;
/** Time zones lie within UTC−12 and UTC+14: every local day of an instant is within these. */
const WEST_MS = 12 * 3_600_000;
const EAST_MS = 14 * 3_600_000;

export interface DateTrigger {
  attribute: string;
  offsetDays?: number;
  yearly?: boolean;
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function dayMs(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Where a scan starts: the last scan, but no earlier than MAX_CATCH_UP_DAYS ago (now on the first scan). */
export function scanStart(lastScan: Date | null, now: Date): Date {
  if (lastScan === null || lastScan > now) return now;
  return new Date(Math.max(lastScan.getTime(), now.getTime() - MAX_CATCH_UP_DAYS * DAY));
}

/** Every calendar day that is some time zone's local day between `since` and `now` (YYYY-MM-DD). */
export function scanDays(since: Date, now: Date): string[] {
  const days: string[] = [];
  const last = dayMs(utcDay(now.getTime() + EAST_MS));
  for (let ms = dayMs(utcDay(since.getTime() - WEST_MS)); ms <= last; ms += DAY) days.push(utcDay(ms));
  return days;
}

/**
 * What to ask the store for, for these trigger days: the month-day keys (month × 100 + day) of a
 * yearly trigger — with 29 February on a 28 February of a common year — or the dates of a one-off.
 */
export function dateKeys(days: readonly string[], t: DateTrigger): { monthDays: number[] } | { dates: string[] } {
  const offset = t.offsetDays ?? 0;
  const targets = days.map((d) => new Date(dayMs(d) - offset * DAY));
  if (!t.yearly) return { dates: targets.map((d) => d.toISOString().slice(0, 10)) };
  const keys = new Set<number>();
  for (const d of targets) {
    keys.add((d.getUTCMonth() + 1) * 100 + d.getUTCDate());
    if (d.getUTCMonth() === 1 && d.getUTCDate() === 28 && !isLeap(d.getUTCFullYear())) keys.add(229);
  }
  return { monthDays: [...keys].sort((a, b) => a - b) };
}

/**
 * Whether a contact's date `value` fires in the scan from `since` to `now` in time zone `tz`: the
 * first local day it triggers on and the occurrence (the anniversary's year for a yearly trigger,
 * else the date itself), or null.
 */
export function firingOf(
  value: string,
  tz: string,
  since: Date,
  now: Date,
  t: DateTrigger,
): { day: string; occurrence: string } | null {
  const offset = t.offsetDays ?? 0;
  const yearly = t.yearly ?? false;
  const last = localDate(now, tz);
  for (let day = localDate(since, tz); day <= last; day = utcDay(dayMs(day) + DAY)) {
    if (!dateTriggersOn(value, day, offset, yearly)) continue;
    const occurrence = yearly ? utcDay(dayMs(day) - offset * DAY).slice(0, 4) : value.slice(0, 10);
    return { day, occurrence };
  }
  return null;
}
