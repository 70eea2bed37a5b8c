/**
 * Compiles a validated segment definition once into an in-memory predicate over one profile
 * snapshot at a given time: the path a single changed contact takes, with no database round trip.
 * It must agree with `sql.ts` on every profile (test/core/segments/agreement.test.ts).
 */
import { boundKey, compareKeys, dateKey, foldAscii } from './semantics.ts';
import { lastCampaignsOpened } from './engagement.ts';
import { ANY_CLICK_TAG, type ProfileSnapshot, type SegmentCondition, type SegmentScalar } from './types.ts';

export type SegmentPredicate = (profile: ProfileSnapshot, nowMs: number) => boolean;

/** Evaluates a definition against one profile snapshot at `now` (compiles on every call). */
export function evaluateSegment(definition: SegmentCondition, profile: ProfileSnapshot, now: Date): boolean {
  return compilePredicate(definition)(profile, now.getTime());
}

/** Compiles once; the returned function is called per contact. */
export function compilePredicate(c: SegmentCondition): SegmentPredicate {
  if ('and' in c) {
    const parts = c.and.map(compilePredicate);
    return (p, now) => parts.every((f) => f(p, now));
  }
  if ('or' in c) {
    const parts = c.or.map(compilePredicate);
    return (p, now) => parts.some((f) => f(p, now));
  }
  if ('not' in c) {
    const inner = compilePredicate(c.not);
    return (p, now) => !inner(p, now);
  }
  if ('inList' in c) {
    const id = c.inList;
    return (p) => p.lists.has(id);
  }
  if ('clicked' in c) {
    const tag = c.clicked.tag ?? ANY_CLICK_TAG;
    const windowMs = c.clicked.withinDays * 86_400_000;
    return (p, now) => {
      const last = p.lastClickByTag.get(tag);
      return last !== undefined && last >= now - windowMs;
    };
  }
  if ('opened' in c) {
    const { atLeast, ofLast } = c.opened;
    return (p) => lastCampaignsOpened(p, ofLast) >= atLeast;
  }
  return compileAttribute(c);
}

type AttributeCondition = Extract<SegmentCondition, { attribute: string }>;

function sameScalar(v: unknown, s: SegmentScalar): boolean {
  return typeof v === typeof s && v === s;
}

function compileAttribute(c: AttributeCondition): SegmentPredicate {
  const key = c.attribute;
  const read = (p: ProfileSnapshot): unknown => (Object.hasOwn(p.attributes, key) ? p.attributes[key] : undefined);
  if ('equals' in c) {
    const want = c.equals;
    return (p) => sameScalar(read(p), want);
  }
  if ('in' in c) {
    const wants = c.in;
    return (p) => {
      const v = read(p);
      return wants.some((w) => sameScalar(v, w));
    };
  }
  if ('exists' in c) {
    const want = c.exists;
    return (p) => {
      const v = read(p);
      return (v !== undefined && v !== null) === want;
    };
  }
  if ('range' in c) {
    const { gt, gte, lt, lte } = c.range;
    return (p) => {
      const v = read(p);
      if (typeof v !== 'number') return false;
      return (
        (gt === undefined || v > gt)
        && (gte === undefined || v >= gte)
        && (lt === undefined || v < lt)
        && (lte === undefined || v <= lte)
      );
    };
  }
  if ('matches' in c) {
    const fold = c.matches.ignoreCase === true ? foldAscii : (s: string) => s;
    const m = c.matches;
    const needle = fold(m.contains ?? m.startsWith ?? m.endsWith ?? '');
    const test: (s: string) => boolean =
      m.contains !== undefined
        ? (s) => s.includes(needle)
        : m.startsWith !== undefined
          ? (s) => s.startsWith(needle)
          : (s) => s.endsWith(needle);
    return (p) => {
      const v = read(p);
      return typeof v === 'string' && test(fold(v));
    };
  }
  const { from, to, unit } = c.within;
  return (p, now) => {
    const k = dateKey(read(p));
    if (k === null) return false;
    if (from !== undefined && compareKeys(k, boundKey(now, from, unit)) < 0) return false;
    if (to !== undefined && compareKeys(k, boundKey(now, to, unit)) > 0) return false;
    return true;
  };
}
