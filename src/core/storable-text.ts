/**
 * Text that PostgreSQL can store. A `text` or `jsonb` value cannot hold U+0000 (SQLSTATE 22P05), and
 * a lone UTF-16 surrogate either fails as a jsonb escape or is silently mangled by the UTF-8
 * encoder. Input from outside (an inbound email, a webhook) may carry both; since the same bytes
 * would fail the same way on every retry, they are replaced with U+FFFD before anything is stored.
 * Pure; values that need no change are returned as they are (same reference).
 */

/** NUL, and surrogates that are not part of a pair. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const REPLACEMENT = '\uFFFD';

/** Whether `text` holds a character PostgreSQL cannot store. */
export function hasUnstorableText(text: string): boolean {
  UNSTORABLE.lastIndex = 0;
  return UNSTORABLE.test(text);
}

/** `text` with every NUL and lone surrogate replaced by U+FFFD. */
export function toStorableText(text: string): string {
  return hasUnstorableText(text) ? text.replace(UNSTORABLE, REPLACEMENT) : text;
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
