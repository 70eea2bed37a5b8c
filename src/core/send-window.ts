/**
 * When may a bulk message go to a contact: inside the campaign's send window and outside quiet
 * hours, both in the contact's own time zone. Pure: `now` comes in, a Date comes out.
 */

export interface HourRange {
  /** 0–23, local hour the range starts (inclusive). */
  start: number;
  /** 0–24, local hour the range ends (exclusive); may wrap past midnight (22 → 7). */
  end: number;
}

export interface SendWindowRules {
  /** Allowed local hours; default the whole day. */
  window?: HourRange;
  /** Forbidden local hours; default none. */
  quiet?: HourRange;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The local hour (0–23) and minute of `at` in `timezone` (UTC when invalid or absent). */
export function localTime(at: Date, timezone: string | undefined): { hour: number; minute: number } {
  const tz = timezone ?? 'UTC';
  let f = formatters.get(tz);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    } catch {
      f = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    }
    formatters.set(tz, f);
  }
  const parts = f.formatToParts(at);
  return {
    hour: Number(parts.find((p) => p.type === 'hour')?.value),
    minute: Number(parts.find((p) => p.type === 'minute')?.value),
  };
}

function inRange(hour: number, r: HourRange): boolean {
  return r.start <= r.end ? hour >= r.start && hour < r.end : hour >= r.start || hour < r.end;
}

export function isAllowedHour(hour: number, rules: SendWindowRules): boolean {
  if (rules.quiet !== undefined && inRange(hour, rules.quiet)) return false;
  return rules.window === undefined || inRange(hour, rules.window);
}

/**
 * The earliest time ≥ now at which the contact's local hour is allowed, to the start of that
 * hour; `now` itself when allowed. Falls back to `now` if no hour of the day is allowed.
 */
export function nextAllowedTime(now: Date, timezone: string | undefined, rules: SendWindowRules): Date {
  const { hour, minute } = localTime(now, timezone);
  if (isAllowedHour(hour, rules)) return now;
  const startOfHour = now.getTime() - minute * 60_000 - (now.getTime() % 60_000);
  for (let h = 1; h <= 24; h++) {
    if (isAllowedHour((hour + h) % 24, rules)) return new Date(startOfHour + h * 3_600_000);
  }
  return now;
}
