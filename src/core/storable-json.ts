/**
 * Makes outside text and JSON storable in PostgreSQL text/jsonb and bounded in size. Pure.
 * PostgreSQL refuses U+0000 in text and jsonb and refuses unpaired UTF-16 surrogates in jsonb
 * (SQLSTATE 22P05); an event or dead letter holding one would fail its insert on every retry.
 * Both are replaced by U+FFFD. `boundJson` also truncates long strings, wide objects and arrays
 * and deep nesting, so a dead letter's size does not follow the size of what an attacker sent.
 */

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');
export const REPLACEMENT = '\uFFFD';

/** True when PostgreSQL could not store `s` as text or inside jsonb. */
export function hasUnstorableChars(s: string): boolean {
  return UNSTORABLE.test(s);
}

/** `s` with NUL and unpaired surrogates replaced by U+FFFD (unchanged when already storable). */
export function toStorableText(s: string): string {
  return UNSTORABLE.test(s) ? s.replace(UNSTORABLE_ALL, REPLACEMENT) : s;
}

export interface JsonBounds {
  /** Longest string kept (longer ones are cut and marked with "…"). */
  maxString: number;
  /** Keys kept per object and items kept per array. */
  maxEntries: number;
  /** Nesting kept; deeper values become the string "[nested]". */
  maxDepth: number;
}

/** Generous bounds for an event's raw payload (already limited by the request size). */
export const UNBOUNDED: JsonBounds = { maxString: Infinity, maxEntries: Infinity, maxDepth: 64 };
/** Small bounds for a dead letter: enough to see what was wrong, a few KB at most. */
export const DEAD_LETTER_BOUNDS: JsonBounds = { maxString: 256, maxEntries: 20, maxDepth: 4 };

function cut(s: string, max: number): string {
  const storable = toStorableText(s);
  if (storable.length <= max) return storable;
  // never split a surrogate pair, or the cut itself would make the text unstorable
  let end = max;
  const c = storable.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end -= 1;
  return `${storable.slice(0, end)}…`;
}

/**
 * A JSON-safe version of `value`: strings (keys too) made storable and cut to the bounds, objects
 * and arrays cut to maxEntries (a "…" key or item says how many were left out), non-finite
 * numbers, functions and undefined become null. Returns `value` itself when nothing had to change
 * (callers may compare by reference). Never throws, whatever the input.
 */
export function boundJson(value: unknown, bounds: JsonBounds = UNBOUNDED, depth = 0): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') return cut(value, bounds.maxString);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (depth >= bounds.maxDepth) return '[nested]';
  if (Array.isArray(value)) {
    const kept = value.slice(0, bounds.maxEntries).map((v) => boundJson(v, bounds, depth + 1));
    if (value.length > kept.length) kept.push(`… ${value.length - kept.length} more`);
    return kept.length === value.length && kept.every((v, i) => v === value[i]) ? value : kept;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  let changed = entries.length > bounds.maxEntries;
  for (const [k, v] of entries.slice(0, bounds.maxEntries)) {
    const key = cut(k, bounds.maxString);
    const kept = boundJson(v, bounds, depth + 1);
    if (key !== k || kept !== v) changed = true;
    // defineProperty: a "__proto__" key from JSON.parse must stay data, not replace the prototype
    Object.defineProperty(out, key, { value: kept, enumerable: true, writable: true, configurable: true });
  }
  if (!changed) return value;
  if (entries.length > bounds.maxEntries) out['…'] = `${entries.length - bounds.maxEntries} more keys`;
  return out;
}

/**
 * A deep copy of a JSON-like value with every string (object keys included) made storable. Dates,
 * Buffers and other class instances are kept as they are; only plain objects and arrays are walked.
 */
export function toStorable<T>(value: T): T {
  return clean(value) as T;
}

function clean(value: unknown): unknown {
  if (typeof value === 'string') return toStorableText(value);
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      const c = clean(v);
      if (c !== v) changed = true;
      return c;
    });
    return changed ? out : value;
  }
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = toStorableText(k);
    const c = clean(v);
    if (key !== k || c !== v) changed = true;
    out[key] = c;
  }
  return changed ? out : value;
}
