/**
 * The engagement score: how much a contact has engaged lately, 0–100. Each human open, click or
 * reply adds a weight that halves every `halfLifeDays`; the decayed sum (`raw`) is squashed into
 * 0–100 by score = 100 · (1 − e^(−raw / saturation)). Machine opens and scanner clicks weigh 0.
 * Pure: time comes in as Dates. Because `raw` is a plain sum of decayed weights, the order in
 * which events (or batches of events) are applied does not change the result — the store keeps
 * (raw, at) per contact and merges each batch with mergeEngagement (the SQL mirrors it).
 */

export interface EngagementWeights {
  opened: number;
  clicked: number;
  replied: number;
}

export interface EngagementOptions {
  halfLifeDays: number;
  weights: EngagementWeights;
  /** raw value at which the score reaches 63 (1 − 1/e); larger means slower saturation. */
  saturation: number;
}

export const DEFAULT_ENGAGEMENT_OPTIONS: EngagementOptions = {
  halfLifeDays: 30,
  weights: { opened: 1, clicked: 3, replied: 10 },
  saturation: 10,
};

const DAY_MS = 86_400_000;

/** What the score needs to know about one event. */
export interface EngagementSignal {
  type: string;
  occurredAt: Date;
  isMachine: boolean;
}

/** Decayed sum of weights as of `at`, and the newest engagement that contributed. */
export interface EngagementState {
  raw: number;
  at: Date;
  lastEngagedAt: Date;
}

/** The weight of one event: 0 for machine events and for types that are not engagement. */
export function eventWeight(e: EngagementSignal, options: EngagementOptions = DEFAULT_ENGAGEMENT_OPTIONS): number {
  if (e.isMachine) return 0;
  switch (e.type) {
    case 'opened':
      return options.weights.opened;
    case 'clicked':
      return options.weights.clicked;
    case 'replied':
      return options.weights.replied;
    default:
      return 0;
  }
}

/** 2^(−elapsed / halfLife); elapsed ≤ 0 decays nothing (a value is never grown). */
export function decayFactor(elapsedMs: number, halfLifeDays: number): number {
  if (!(elapsedMs > 0)) return 1;
  return 2 ** (-elapsedMs / (halfLifeDays * DAY_MS));
}

/** The state of a set of events, as of the newest one; null when none of them counts. */
export function accumulateEngagement(
  events: readonly EngagementSignal[],
  options: EngagementOptions = DEFAULT_ENGAGEMENT_OPTIONS,
): EngagementState | null {
  const counted = events.filter((e) => eventWeight(e, options) > 0);
  if (counted.length === 0) return null;
  const at = counted.reduce((m, e) => Math.max(m, e.occurredAt.getTime()), -Infinity);
  let raw = 0;
  for (const e of counted)
    raw += eventWeight(e, options) * decayFactor(at - e.occurredAt.getTime(), options.halfLifeDays);
  return { raw, at: new Date(at), lastEngagedAt: new Date(at) };
}

/** Combines two states (e.g. stored + new batch): both decayed to the later reference time. */
export function mergeEngagement(
  a: EngagementState,
  b: EngagementState,
  options: EngagementOptions = DEFAULT_ENGAGEMENT_OPTIONS,
): EngagementState {
  const at = Math.max(a.at.getTime(), b.at.getTime());
  const raw =
    a.raw * decayFactor(at - a.at.getTime(), options.halfLifeDays)
    + b.raw * decayFactor(at - b.at.getTime(), options.halfLifeDays);
  return {
    raw,
    at: new Date(at),
    lastEngagedAt: new Date(Math.max(a.lastEngagedAt.getTime(), b.lastEngagedAt.getTime())),
  };
}

/** The 0–100 score of a state at `now`, rounded to one decimal. */
export function scoreAt(
  state: EngagementState | null,
  now: Date,
  options: EngagementOptions = DEFAULT_ENGAGEMENT_OPTIONS,
): number {
  if (state === null) return 0;
  const raw = state.raw * decayFactor(now.getTime() - state.at.getTime(), options.halfLifeDays);
  const score = 100 * (1 - Math.exp(-raw / options.saturation));
  return Math.min(100, Math.max(0, Math.round(score * 10) / 10));
}

/** The score of a contact with these events, at `now`. */
export function engagementScore(
  events: readonly EngagementSignal[],
  now: Date,
  options: EngagementOptions = DEFAULT_ENGAGEMENT_OPTIONS,
): number {
  return scoreAt(accumulateEngagement(events, options), now, options);
}
