/**
 * A business-day calendar, pure: Saturdays, Sundays and the given holidays (UTC dates,
 * `YYYY-MM-DD`) are not business days. Deadlines counted in business days keep the time of day of
 * their start, so "10 business days from Monday 14:00" ends on the second Monday after at 14:00.
 * No holiday list is the strict default: every holiday left out makes a deadline earlier, never later.
 */

const DAY_MS = 86_400_000;

export interface BusinessCalendar {
  /** Holidays as UTC dates `YYYY-MM-DD`. */
  holidays: ReadonlySet<string>;
}

export const NO_HOLIDAYS: BusinessCalendar = { holidays: new Set() };

export function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function isBusinessDay(d: Date, cal: BusinessCalendar = NO_HOLIDAYS): boolean {
  const wd = d.getUTCDay();
  return wd !== 0 && wd !== 6 && !cal.holidays.has(isoDate(d));
}

/** The instant `n` business days after `start` (same time of day); n = 0 is `start` itself. */
export function addBusinessDays(start: Date, n: number, cal: BusinessCalendar = NO_HOLIDAYS): Date {
  if (!Number.isInteger(n) || n < 0) throw new RangeError('business days must be a non-negative integer');
  let t = start.getTime();
  let left = n;
  while (left > 0) {
    t += DAY_MS;
    if (isBusinessDay(new Date(t), cal)) left -= 1;
  }
  return new Date(t);
}

/** Business days strictly after `from`'s date up to and including `to`'s date (0 when to <= from). */
export function businessDaysBetween(from: Date, to: Date, cal: BusinessCalendar = NO_HOLIDAYS): number {
  let n = 0;
  for (let t = from.getTime() + DAY_MS; isoDate(new Date(t)) <= isoDate(to); t += DAY_MS)
    if (isBusinessDay(new Date(t), cal)) n += 1;
  return n;
}

export function addCalendarDays(start: Date, n: number): Date {
  return new Date(start.getTime() + n * DAY_MS);
}

/**
 * Calendar months as GDPR Art. 12(3) counts them (Regulation 1182/71 Art. 3): the same day of the
 * month `n` months later, or the last day of that month when it has no such day (31 Jan + 1 month
 * = 28/29 Feb). Regulation 1182/71 would move an end on a weekend to the next working day; we do
 * not, because the stricter reading wins.
 */
export function addMonths(start: Date, n: number): Date {
  const y = start.getUTCFullYear();
  const m = start.getUTCMonth() + n;
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const day = Math.min(start.getUTCDate(), lastDay);
  return new Date(
    Date.UTC(y, m, day, start.getUTCHours(), start.getUTCMinutes(), start.getUTCSeconds(), start.getUTCMilliseconds()),
  );
}
