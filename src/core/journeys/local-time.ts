/**
 * Local wall-clock times in a contact's time zone, and the days a date attribute triggers on.
 * Pure (Intl, no clock): the caller passes `now`. A local time that a daylight-saving change
 * skips resolves to the instant after the gap; one that occurs twice resolves to the first.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Whether Intl knows this IANA time zone name. */
export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function localParts(instantMs: number, tz: string): LocalParts {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(instantMs)))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return parts as unknown as LocalParts;
}

/** Offset of `tz` from UTC at an instant, in ms (local = utc + offset). */
function offsetAt(instantMs: number, tz: string): number {
  const p = localParts(instantMs, tz);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(instantMs / 1000) * 1000;
}

/** The instant of a local wall-clock time in `tz` (two passes settle the offset around a change). */
function instantOf(year: number, month: number, day: number, hour: number, minute: number, tz: string): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  let guess = wall - offsetAt(wall, tz);
  guess = wall - offsetAt(guess, tz);
  return guess;
}

/** The first instant strictly after `now` whose local time in `tz` is `time` (HH:MM). */
export function localTimeAfter(now: Date, tz: string, time: string): Date {
  const [hour, minute] = time.split(':').map(Number) as [number, number];
  const today = localParts(now.getTime(), tz);
  for (let addDays = 0; addDays < 3; addDays++) {
    const d = new Date(Date.UTC(today.year, today.month - 1, today.day + addDays));
    const at = instantOf(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), hour, minute, tz);
    if (at > now.getTime()) return new Date(at);
  }
  // unreachable for valid zones: three consecutive days always contain the time once after now
  return new Date(now.getTime() + 86_400_000);
}

/** The local calendar date (YYYY-MM-DD) of an instant in `tz`. */
export function localDate(now: Date, tz: string): string {
  const p = localParts(now.getTime(), tz);
  return `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
}

/**
 * Whether a date attribute (`YYYY-MM-DD…`) triggers on `day` (YYYY-MM-DD): the attribute's date
 * plus `offsetDays` is that day, or with `yearly` its anniversary is (29 February falls on
 * 28 February in other years). A value that is not a date never triggers.
 */
export function dateTriggersOn(value: unknown, day: string, offsetDays: number, yearly: boolean): boolean {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(value)) return false;
  const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const [ty, tm, td] = day.split('-').map(Number) as [number, number, number];
  const target = Date.UTC(ty, tm - 1, td) - offsetDays * 86_400_000;
  const t = new Date(target);
  if (!yearly) return Date.UTC(y, m - 1, d) === target;
  const leap = (yr: number) => (yr % 4 === 0 && yr % 100 !== 0) || yr % 400 === 0;
  const month = t.getUTCMonth() + 1;
  const date = t.getUTCDate();
  if (m === 2 && d === 29 && !leap(t.getUTCFullYear())) return month === 2 && date === 28;
  return month === m && date === d;
}
