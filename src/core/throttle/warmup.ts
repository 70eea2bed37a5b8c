/**
 * Warm-up schedule for a new sending IP or domain (pure). A ramp is a list of daily volume caps;
 * the state says which step of the ramp applies and how much of today's cap is used. Days are UTC
 * calendar days. The default ramp follows deliverability.md §6 "Our default ramp": start small,
 * grow ×1.4 per clean day (§6 allows 1.4–2; 1.4 matches SendGrid's automated warm-up), hold on a
 * day with a 4.7.28 / RP-00x deferral or with deferrals ≥ 1 % or complaints ≥ 0.1 %, halve after a
 * hard signal. Day 0 is 480 = 24 × SendGrid's day-0 hourly cap of 20 (§6 table).
 *
 * Engaged recipients first is a *selection* policy, not a cap: `warmupPriority` ranks a contact and
 * the send stage, while a sending domain is warming, fills each day's cap from the lowest rank
 * upwards (it orders its claim query by rank, or defers higher ranks to later days). See
 * docs/deliverability.md.
 */

const DAY_MS = 86_400_000;

export interface WarmupRamp {
  /** Daily caps by ramp step; after the last step the domain is warm (no cap). */
  readonly dailyCaps: readonly number[];
}

/** 480 × 1.4^step, rounded, until it passes 20M/day (≈ SendGrid's day-41 level × 24). */
export function defaultWarmupRamp(): WarmupRamp {
  const caps: number[] = [];
  for (let cap = 480; cap < 20_000_000; cap *= 1.4) caps.push(Math.round(cap));
  return { dailyCaps: caps };
}

export interface WarmupState {
  /** Index into dailyCaps; >= dailyCaps.length means warm. */
  readonly step: number;
  /** Start (epoch ms, UTC midnight) of the day `used` belongs to. */
  readonly day: number;
  readonly used: number;
}

/** How the previous day went, decided from the governor's counters. */
export interface WarmupDayReport {
  deferralRate: number;
  complaintRate: number;
  /** A 421 4.7.28 / RP-00x style "rate limited" day: hold. */
  hadThrottleSignal: boolean;
  /** A hard block or reputation signal: halve. */
  hadHardSignal: boolean;
}

export function dayStart(nowMs: number): number {
  return Math.floor(nowMs / DAY_MS) * DAY_MS;
}

export function createWarmup(nowMs: number, step = 0): WarmupState {
  return { step, day: dayStart(nowMs), used: 0 };
}

/** Today's cap (Infinity once warm). */
export function warmupCap(ramp: WarmupRamp, state: WarmupState): number {
  return state.step < ramp.dailyCaps.length ? ramp.dailyCaps[Math.max(0, state.step)]! : Number.POSITIVE_INFINITY;
}

/**
 * Rolls the state over to the day containing nowMs. Each elapsed day is judged by `report`
 * (the same report for every elapsed day; a day with no report counts as clean only if given).
 */
export function warmupRollover(
  ramp: WarmupRamp,
  state: WarmupState,
  nowMs: number,
  report: WarmupDayReport | undefined,
): WarmupState {
  const today = dayStart(nowMs);
  if (today <= state.day) return state;
  let step = state.step;
  if (report !== undefined && state.used > 0) {
    if (report.hadHardSignal) {
      const half = warmupCap(ramp, state) / 2;
      while (step > 0 && (ramp.dailyCaps[step] ?? Number.POSITIVE_INFINITY) > half) step--;
    } else if (!report.hadThrottleSignal && report.deferralRate < 0.01 && report.complaintRate < 0.001) {
      step++;
    }
  }
  return { step, day: today, used: 0 };
}

/** How many of n sends today's cap still admits, and the state after taking them. */
export function warmupTake(ramp: WarmupRamp, state: WarmupState, n: number): { granted: number; state: WarmupState } {
  const left = warmupCap(ramp, state) - state.used;
  const granted = Math.max(0, Math.min(n, left));
  return { granted, state: { ...state, used: state.used + granted } };
}

/** Ms until the next UTC day begins (when a spent cap refills). */
export function msUntilNextDay(nowMs: number): number {
  return dayStart(nowMs) + DAY_MS - nowMs;
}

export interface ContactEngagement {
  lastOpenedAt?: Date;
  lastClickedAt?: Date;
  /** Opens known to come from privacy proxies do not count as engagement. */
  onlyMachineOpens?: boolean;
}

/**
 * Rank for warm-up selection; lower goes first. 0: clicked within 30 days; 1: opened within 30 days
 * (§6 "most engaged (opened/clicked in 30 d)"); 2: engaged within 90 days; 3: within 180 days;
 * 4: never or longer ago (§9 treats 180 days without engagement as inactive).
 */
export function warmupPriority(contact: ContactEngagement, now: Date): 0 | 1 | 2 | 3 | 4 {
  const age = (d: Date | undefined): number =>
    d === undefined ? Number.POSITIVE_INFINITY : (now.getTime() - d.getTime()) / DAY_MS;
  const click = age(contact.lastClickedAt);
  const open = contact.onlyMachineOpens === true ? Number.POSITIVE_INFINITY : age(contact.lastOpenedAt);
  if (click <= 30) return 0;
  if (open <= 30) return 1;
  const latest = Math.min(click, open);
  if (latest <= 90) return 2;
  if (latest <= 180) return 3;
  return 4;
}
