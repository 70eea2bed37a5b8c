/**
 * The segment definition language (JSON) and the profile snapshot it is evaluated against. One
 * definition compiles two ways (`sql.ts` for a full evaluation, `predicate.ts` for one changed
 * contact) and both must give the same answer for every profile (a fast-check property checks it),
 * so every condition's meaning is written down here once, in terms both compilers implement.
 */

/** A scalar a condition compares with: JSON string, number or boolean. */
export type SegmentScalar = string | number | boolean;

/** Time units a relative-date condition counts in (fixed lengths, so no calendar arithmetic). */
export const TIME_UNITS = { minutes: 60_000, hours: 3_600_000, days: 86_400_000 } as const;
export type TimeUnit = keyof typeof TIME_UNITS;

/**
 * A condition. Attribute conditions name one profile attribute (a top-level key of the profile's
 * attributes, as the source system sent it) and exactly one operator:
 * - `equals`: the attribute is that scalar, same JSON type (1 and 1.0 are equal);
 * - `in`: the attribute equals one of the scalars;
 * - `range`: the attribute is a JSON number within the bounds given (gt/gte/lt/lte, at least one);
 * - `exists`: true when the attribute is present and not JSON null (false: the opposite);
 * - `matches`: the attribute is a string that contains / starts with / ends with the text
 *   (`ignoreCase` folds ASCII letters only, as PostgreSQL's "C" collation does);
 * - `within`: the attribute is a date `YYYY-MM-DD` or date-time `YYYY-MM-DDTHH:MM:SS…` (read as
 *   UTC to the second, anything after the seconds ignored) between now + from and now + to units
 *   (both inclusive, either may be left open): `{ from: -14, unit: 'days' }` = in the last 14 days.
 * Engagement conditions read Switchyard's own reaction events:
 * - `clicked`: a human click on a link tagged `tag` (any link when absent) in the last `withinDays`;
 * - `opened`: at least `atLeast` of the last `ofLast` campaigns sent to the contact were opened.
 * `inList` is membership of another list (static or dynamic), which makes this list depend on it.
 */
export type SegmentCondition =
  | { and: SegmentCondition[] }
  | { or: SegmentCondition[] }
  | { not: SegmentCondition }
  | { attribute: string; equals: SegmentScalar }
  | { attribute: string; in: SegmentScalar[] }
  | { attribute: string; range: NumberRange }
  | { attribute: string; exists: boolean }
  | { attribute: string; matches: TextMatch }
  | { attribute: string; within: RelativeDate }
  | { clicked: { tag?: string; withinDays: number } }
  | { opened: { atLeast: number; ofLast: number } }
  | { inList: string };

export interface NumberRange {
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
}

export interface TextMatch {
  contains?: string;
  startsWith?: string;
  endsWith?: string;
  ignoreCase?: boolean;
}

export interface RelativeDate {
  from?: number;
  to?: number;
  unit: TimeUnit;
}

/** Campaigns an `opened` condition may look back over; profiles keep this many recent sends. */
export const MAX_CAMPAIGN_LOOKBACK = 50;

/** The tag under which every click is also recorded, for `clicked` without a tag. */
export const ANY_CLICK_TAG = '*';

/**
 * What the in-memory predicate reads about one contact: the same facts the SQL reads from the
 * profile tables (contact_profiles.attributes, profile_click_tags, profile_campaigns, list_members).
 */
export interface ProfileSnapshot {
  contactId: string;
  attributes: Readonly<Record<string, unknown>>;
  /** Latest human click per tag (ms since epoch), the ANY_CLICK_TAG entry included. */
  lastClickByTag: ReadonlyMap<string, number>;
  /** The most recent campaigns sent to the contact (any order; at least MAX_CAMPAIGN_LOOKBACK kept). */
  campaigns: readonly { campaignId: string; sentAt: number; opened: boolean }[];
  /** Ids of the lists the contact is a member of now. */
  lists: ReadonlySet<string>;
}

/** One problem of a definition, with the path of the bad part (`$.and[2].range`). */
export interface SegmentProblem {
  path: string;
  message: string;
}
