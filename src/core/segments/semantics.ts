/**
 * The value rules both segment compilers share, written once so the SQL and the in-memory
 * predicate cannot drift: how a date attribute is read, how a relative bound is formatted, how
 * case is folded. The SQL side mirrors each function in `sql.ts` (same regex, same comparison).
 */
import { TIME_UNITS, type RelativeDate } from './types.ts';

/** `YYYY-MM-DD` optionally followed by `THH:MM:SS`; ASCII digits only (PostgreSQL's [0-9]). */
export const DATE_KEY_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}:[0-9]{2})?';
const DATE_KEY = new RegExp(DATE_KEY_PATTERN);

/**
 * The comparable key of a date attribute: the date, or the date and time to the second, as text.
 * Keys compare as strings (code units; ASCII), which orders them in time: a date alone sorts
 * before every second of that day. Null when the value is not such a string.
 */
export function dateKey(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const m = DATE_KEY.exec(value);
  return m === null ? null : m[0];
}

/** A relative bound as a key: now + offset units, UTC, to the second (`YYYY-MM-DDTHH:MM:SS`). */
export function boundKey(nowMs: number, offset: number, unit: RelativeDate['unit']): string {
  return new Date(nowMs + offset * TIME_UNITS[unit]).toISOString().slice(0, 19);
}

/** The instant a date key stands for (a date alone: its midnight UTC). */
export function keyInstant(key: string): number {
  return Date.parse(key.length === 10 ? `${key}T00:00:00Z` : `${key}Z`);
}

/** Lower-cases ASCII letters only, as PostgreSQL's lower() does under the "C" collation. */
export function foldAscii(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Code-unit string comparison (what `collate "C"` gives for the ASCII keys compared here). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The last `n` campaigns in the order both compilers use: newest send first, then campaign id. */
export function lastCampaigns<T extends { campaignId: string; sentAt: number }>(all: readonly T[], n: number): T[] {
  return [...all].sort((a, b) => b.sentAt - a.sentAt || compareKeys(b.campaignId, a.campaignId)).slice(0, n);
}
