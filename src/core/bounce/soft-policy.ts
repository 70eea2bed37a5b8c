/**
 * Soft-bounce suppression policy: suppress a recipient after N counted soft bounces inside a
 * rolling window, with any later delivery resetting the count (deliverability.md §9: Klaviyo's
 * "7 consecutive soft bounces"). Pure: the caller passes the timestamps of the recipient's
 * counted soft bounces (classification.countsTowardSoftLimit) and the time.
 */

export interface SoftBouncePolicy {
  /** Counted soft bounces that trigger suppression. */
  limit: number;
  /** Only bounces newer than `now - windowMs` count. */
  windowMs: number;
}

/**
 * 7 bounces (deliverability.md §9) within 30 days (the window is our choice: it keeps bounces from
 * long ago adding up).
 */
export const DEFAULT_SOFT_BOUNCE_POLICY: Readonly<SoftBouncePolicy> = Object.freeze({
  limit: 7,
  windowMs: 30 * 24 * 3600 * 1000,
});

export interface SoftBounceDecision {
  shouldSuppress: boolean;
  /** Counted bounces inside the window and after the last delivery. */
  counted: number;
  limit: number;
}

/**
 * Decides whether the soft bounces at `bounceTimes` suppress the recipient at `now`.
 * Bounces after `now` (clock skew) and at or before `lastDeliveredAt` are ignored.
 */
export function evaluateSoftBounces(
  bounceTimes: readonly Date[],
  now: Date,
  config: Partial<SoftBouncePolicy> & { lastDeliveredAt?: Date } = {},
): SoftBounceDecision {
  const limit = Math.max(1, Math.floor(config.limit ?? DEFAULT_SOFT_BOUNCE_POLICY.limit));
  const windowMs = Math.max(0, config.windowMs ?? DEFAULT_SOFT_BOUNCE_POLICY.windowMs);
  const nowMs = now.getTime();
  const from = nowMs - windowMs;
  const resetAt = config.lastDeliveredAt?.getTime() ?? Number.NEGATIVE_INFINITY;
  let counted = 0;
  for (const t of bounceTimes) {
    const ms = t.getTime();
    if (Number.isNaN(ms)) continue;
    if (ms > from && ms <= nowMs && ms > resetAt) counted += 1;
  }
  return { shouldSuppress: counted >= limit, counted, limit };
}
