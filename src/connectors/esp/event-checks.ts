/**
 * Last checks every vendor normaliser runs on an event before it leaves the connector. Pure.
 * A verified body is still outside input: a vendor (or whoever holds its key) can send any
 * recipient, any number and any character. So the recipient must be a real address (it may
 * suppress someone), times must be in a range PostgreSQL and Date can hold, identity fields
 * must be storable (an event is refused rather than keyed on altered text), and free text and
 * the raw payload are made storable (NUL and unpaired surrogates become U+FFFD). Refusal
 * reasons name the field, never its value.
 */
import { checkEmailAddress } from '../../core/email-address.ts';
import { classifyFailure } from '../../core/bounce/classify.ts';
import type { EngagementEvent, EventType } from '../../core/events.ts';
import { boundJson, hasUnstorableChars, toStorableText, UNBOUNDED } from '../../core/storable-json.ts';

/** Event times outside [1970, 2100) are refused: no real event has one, and far years break storage. */
export const MIN_EVENT_MS = 0;
export const MAX_EVENT_MS = Date.UTC(2100, 0, 1);

/** Unix seconds (a finite number in range) → Date, else undefined. */
export function dateFromUnixSeconds(v: unknown): Date | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
  const ms = Math.round(v * 1000);
  return ms >= MIN_EVENT_MS && ms < MAX_EVENT_MS ? new Date(ms) : undefined;
}

/** A date string Date.parse reads, in range → Date, else undefined. */
export function dateFromText(v: string | undefined): Date | undefined {
  if (v === undefined || v.length > 64) return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) && ms >= MIN_EVENT_MS && ms < MAX_EVENT_MS ? new Date(ms) : undefined;
}

/** Fields that identify or correlate: changing them would change meaning, so unstorable text refuses the event. */
const IDENTITY_FIELDS = ['sourceId', 'messageId', 'providerMessageId', 'campaignId', 'contactId', 'ledgerId'] as const;
/** Ids are keys of btree indexes, whose rows must stay well under PostgreSQL's ~2.7 KB limit. */
export const MAX_ID_LENGTH = 500;
/** Free text: kept with NUL and unpaired surrogates replaced. */
const TEXT_FIELDS = ['url', 'reason', 'status', 'diagnostic', 'userAgent', 'ip'] as const;

/** Returns the event ready to store, or why it is refused (`what` prefixes the reason, e.g. "bounce event"). */
export function finishEvent(ev: EngagementEvent, what: string): EngagementEvent | { reject: string } {
  const t = ev.occurredAt.getTime();
  if (!(t >= MIN_EVENT_MS && t < MAX_EVENT_MS)) return { reject: `${what}: timestamp is out of range` };
  const out: EngagementEvent = { ...ev };
  if (ev.email !== undefined) {
    const checked = checkEmailAddress(ev.email);
    if (!checked.ok) return { reject: `${what}: recipient address ${checked.problem}` };
    out.email = checked.address;
  }
  for (const f of IDENTITY_FIELDS) {
    const v = ev[f];
    if (v === undefined) continue;
    if (hasUnstorableChars(v)) return { reject: `${what}: field ${f} contains NUL or an unpaired surrogate` };
    if (v.length > MAX_ID_LENGTH) return { reject: `${what}: field ${f} is longer than ${MAX_ID_LENGTH} characters` };
  }
  for (const f of TEXT_FIELDS) {
    const v = ev[f];
    if (v !== undefined) out[f] = toStorableText(v);
  }
  out.raw = isStorableJson(ev.raw, 0) ? ev.raw : boundJson(ev.raw);
  return out;
}

/** A UTF-16 unit that may be NUL or part of a surrogate pair: only then is the exact check needed. */
const MAYBE_UNSTORABLE = /[\u0000\uD800-\uDFFF]/;

/**
 * True when boundJson (unbounded) would return `v` unchanged: a parsed JSON value whose strings
 * and keys hold no NUL or surrogate, nested less than its depth limit. Allocates nothing, so the
 * common event skips boundJson's copy; anything else (a surrogate pair too) takes the exact path.
 */
function isStorableJson(v: unknown, depth: number): boolean {
  if (typeof v === 'string') return !MAYBE_UNSTORABLE.test(v);
  if (v === null || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v !== 'object' || depth >= UNBOUNDED.maxDepth - 1) return false;
  if (Array.isArray(v)) {
    for (const item of v) if (!isStorableJson(item, depth + 1)) return false;
    return true;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return false;
  for (const [k, item] of Object.entries(v)) {
    if (MAYBE_UNSTORABLE.test(k) || !isStorableJson(item, depth + 1)) return false;
  }
  return true;
}

/**
 * The ESP's bounce type is a hint; core/bounce has the last word when the status or diagnostic
 * says something (esp.md §4: a "permanent" reputation block must not suppress the contact).
 */
export function classifyBounce(
  hint: EventType,
  status: string | undefined,
  diagnostic: string | undefined,
): { type: EventType; reason?: string } {
  const c = classifyFailure({ status, diagnostic, source: 'esp', isFinal: true });
  if (c.matchedBy === 'none') return { type: hint };
  const type: EventType =
    c.kind === 'hard_bounce'
      ? 'bounced_hard'
      : c.kind === 'soft_bounce'
        ? 'bounced_soft'
        : c.kind === 'deferred'
          ? 'deferred'
          : hint;
  return { type, reason: c.reason };
}
