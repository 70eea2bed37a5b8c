/**
 * What a segment reads (so a change re-evaluates only the lists whose inputs it touches) and when
 * its answer for one profile could next change by the passing of time alone (so a durable timer
 * re-checks that contact then, instead of rescanning everyone).
 */
import { dateKey, keyInstant } from './semantics.ts';
import { ANY_CLICK_TAG, type ProfileSnapshot, type SegmentCondition, TIME_UNITS } from './types.ts';

export interface SegmentInputs {
  attributes: Set<string>;
  /** Click tags read (ANY_CLICK_TAG for an untagged `clicked`). */
  clickTags: Set<string>;
  /** Reads the recent campaigns' opens. */
  opens: boolean;
  /** Lists whose membership it reads: the lists this one depends on. */
  lists: Set<string>;
  /** Has a condition relative to now (`within`, `clicked`). */
  timeRelative: boolean;
}

export function segmentInputs(c: SegmentCondition): SegmentInputs {
  const out: SegmentInputs = {
    attributes: new Set(),
    clickTags: new Set(),
    opens: false,
    lists: new Set(),
    timeRelative: false,
  };
  const walk = (x: SegmentCondition): void => {
    if ('and' in x) x.and.forEach(walk);
    else if ('or' in x) x.or.forEach(walk);
    else if ('not' in x) walk(x.not);
    else if ('inList' in x) out.lists.add(x.inList);
    else if ('clicked' in x) {
      out.clickTags.add(x.clicked.tag ?? ANY_CLICK_TAG);
      out.timeRelative = true;
    } else if ('opened' in x) out.opens = true;
    else {
      out.attributes.add(x.attribute);
      if ('within' in x) out.timeRelative = true;
    }
  };
  walk(c);
  return out;
}

/**
 * The earliest instant after `nowMs` at which a time-relative condition of `c` may change its
 * value for this profile with no change to the profile, or null if none can. It may be early (the
 * re-check then finds nothing changed and asks again), never late: each candidate is an instant at
 * which a bound crosses the profile's value, at second and day resolution of date keys.
 */
export function nextFlipAt(c: SegmentCondition, p: ProfileSnapshot, nowMs: number): number | null {
  let best: number | null = null;
  const consider = (t: number): void => {
    if (Number.isFinite(t) && t > nowMs && (best === null || t < best)) best = t;
  };
  const walk = (x: SegmentCondition): void => {
    if ('and' in x) x.and.forEach(walk);
    else if ('or' in x) x.or.forEach(walk);
    else if ('not' in x) walk(x.not);
    else if ('clicked' in x) {
      const last = p.lastClickByTag.get(x.clicked.tag ?? ANY_CLICK_TAG);
      // true while last >= now - window: false from the next millisecond after last + window
      if (last !== undefined) consider(last + x.clicked.withinDays * 86_400_000 + 1);
    } else if ('attribute' in x && 'within' in x) {
      const v = Object.hasOwn(p.attributes, x.attribute) ? p.attributes[x.attribute] : undefined;
      const key = dateKey(v);
      if (key === null) return;
      const at = keyInstant(key);
      const unitMs = TIME_UNITS[x.within.unit];
      for (const offset of [x.within.from, x.within.to]) {
        if (offset === undefined) continue;
        // a bound is now + offset truncated to the second; it crosses the key at `at` or one
        // second after (a date key sorts just before its midnight)
        consider(at - offset * unitMs);
        consider(at - offset * unitMs + 1000);
      }
    }
  };
  walk(c);
  return best;
}
