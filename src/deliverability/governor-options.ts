/**
 * Options of the deliverability governor and their defaults. Every default names where it comes
 * from (docs/deliverability.md has the same table). Unset fields fall back to the defaults; the
 * result is validated once so a bad configuration fails at startup with CONFIG_INVALID.
 */
import type { AimdOptions } from '../core/throttle/aimd.ts';
import type { BreakerOptions } from '../core/throttle/circuit-breaker.ts';
import type { WarmupRamp } from '../core/throttle/warmup.ts';
import { defaultWarmupRamp } from '../core/throttle/warmup.ts';
import { SwitchyardError } from '../core/errors.ts';

export interface SendingDomainOptions {
  /** Fixed ceiling for everything sent from this domain (msgs/s); unset = no domain-wide bucket. */
  ratePerSec?: number;
  /** Present while the domain (or its IP) is warming up. */
  warmup?: { startedAt: Date; ramp?: WarmupRamp; step?: number };
}

export interface GovernorOptions {
  /** Per ESP: the account's API send-rate limit (msgs/s). AIMD runs below it on HTTP 429. */
  providers?: Record<string, { ratePerSec?: number }>;
  /** AIMD for each (provider, sending domain, receiving group). */
  receivingAimd?: Partial<AimdOptions>;
  /** Per receiving group overrides, e.g. { yahoo: { initial: 20 } }. */
  receivingGroups?: Record<string, Partial<AimdOptions>>;
  sendingDomains?: Record<string, SendingDomainOptions>;
  breaker?: Partial<BreakerOptions> & { windowMs?: number; windowBuckets?: number; halfOpenRatePerSec?: number };
  /** Bucket burst as seconds of rate (§4: 1 s). */
  burstSeconds?: number;
  /** Window for the status percentages (§4 alarm: 5 min). */
  statsWindowMs?: number;
  /** Keys idle this long are forgotten (unless paused, held or warming). */
  idleEvictMs?: number;
  /** Hard cap on tracked keys; the least recently used unpinned key goes first. */
  maxKeys?: number;
  /** Shortest wait between two tries of a waiting acquire: wake-ups are batched and tokens
   *  accrue meanwhile (burst >= 1 s of rate), so throughput is unchanged. Default 20 ms. */
  minWaitMs?: number;
  /** Outcomes to reserved test domains (reserved-domains.ts) count in statistics only: no rate
   *  change, no breaker, no alert (default true). False governs them like any receiver. */
  exemptReservedDomains?: boolean;
}

export interface ResolvedGovernorOptions {
  providerRates: Record<string, number>;
  defaultProviderRate: number;
  providerAimd: AimdOptions;
  receivingAimd: AimdOptions;
  receivingGroups: Record<string, Partial<AimdOptions>>;
  sendingDomains: Record<string, SendingDomainOptions>;
  breaker: BreakerOptions;
  breakerWindowMs: number;
  breakerWindowBuckets: number;
  halfOpenRatePerSec: number;
  burstSeconds: number;
  statsWindowMs: number;
  idleEvictMs: number;
  maxKeys: number;
  minWaitMs: number;
  exemptReservedDomains: boolean;
  defaultRamp: WarmupRamp;
}

/** deliverability.md §5 (factors 0.7 / 0.5, thresholds 1 % / 5 %, 10 min hard hold); the
 *  step, interval, cool-down and half-life are ours, tuned by test/deliverability/governor-sim. */
export const DEFAULT_RECEIVING_AIMD: AimdOptions = {
  floor: 1,
  ceiling: 1000,
  initial: 50,
  increaseStep: 10,
  increaseMaxFraction: 0.1,
  increaseIntervalMs: 2_000,
  decreaseFactor: 0.7,
  severeDecreaseFactor: 0.5,
  decreaseAbove: 0.05,
  severeAbove: 0.3,
  increaseBelow: 0.01,
  decreaseCooldownMs: 2_000,
  hardHoldMs: 600_000,
  latencyTargetMs: 10_000,
  latencyDecreaseFactor: 0.9,
  ratioHalfLifeMs: 1_000,
  minUtilisation: 0.5,
};

/** deliverability.md §9: pause at 0.2 % complaints, stop at > 2 % hard bounces; §4: at 0.3 %
 *  complaints only an operator resumes; the rest is ours. */
export const DEFAULT_BREAKER: BreakerOptions = {
  hardBounceRate: 0.02,
  complaintRate: 0.002,
  operatorComplaintRate: 0.003,
  minSamples: 1_000,
  cooldownMs: 30 * 60_000,
  halfOpenSamples: 500,
};

export const DEFAULT_PROVIDER_RATE = 1_000;

export function resolveGovernorOptions(o: GovernorOptions): ResolvedGovernorOptions {
  const receivingAimd = { ...DEFAULT_RECEIVING_AIMD, ...o.receivingAimd };
  const providerRates: Record<string, number> = {};
  for (const [name, p] of Object.entries(o.providers ?? {}))
    providerRates[name] = p.ratePerSec ?? DEFAULT_PROVIDER_RATE;
  const resolved: ResolvedGovernorOptions = {
    providerRates,
    defaultProviderRate: DEFAULT_PROVIDER_RATE,
    // A provider starts at its published limit (initial = ceiling, set per provider) and only
    // backs off on 429s; the increase rules are the same as for receiving groups.
    providerAimd: { ...receivingAimd, floor: 1 },
    receivingAimd,
    receivingGroups: o.receivingGroups ?? {},
    sendingDomains: o.sendingDomains ?? {},
    breaker: { ...DEFAULT_BREAKER, ...o.breaker },
    breakerWindowMs: o.breaker?.windowMs ?? 30 * 60_000,
    breakerWindowBuckets: o.breaker?.windowBuckets ?? 60,
    halfOpenRatePerSec: o.breaker?.halfOpenRatePerSec ?? 5,
    burstSeconds: o.burstSeconds ?? 1,
    statsWindowMs: o.statsWindowMs ?? 5 * 60_000,
    idleEvictMs: o.idleEvictMs ?? 60 * 60_000,
    maxKeys: o.maxKeys ?? 10_000,
    minWaitMs: o.minWaitMs ?? 20,
    exemptReservedDomains: o.exemptReservedDomains ?? true,
    defaultRamp: defaultWarmupRamp(),
  };
  validate(resolved);
  return resolved;
}

function validate(r: ResolvedGovernorOptions): void {
  const problems: string[] = [];
  const positive = (name: string, v: number): void => {
    if (!(v > 0)) problems.push(`${name} must be > 0 (got ${v})`);
  };
  const fraction = (name: string, v: number): void => {
    if (!(v > 0 && v < 1)) problems.push(`${name} must be between 0 and 1 (got ${v})`);
  };
  for (const [name, a] of [['receivingAimd', r.receivingAimd]] as const) {
    positive(`${name}.floor`, a.floor);
    if (!(a.ceiling >= a.floor)) problems.push(`${name}.ceiling must be >= floor (got ${a.ceiling} < ${a.floor})`);
    positive(`${name}.increaseStep`, a.increaseStep);
    positive(`${name}.increaseMaxFraction`, a.increaseMaxFraction);
    positive(`${name}.increaseIntervalMs`, a.increaseIntervalMs);
    positive(`${name}.ratioHalfLifeMs`, a.ratioHalfLifeMs);
    fraction(`${name}.decreaseFactor`, a.decreaseFactor);
    fraction(`${name}.severeDecreaseFactor`, a.severeDecreaseFactor);
  }
  for (const [name, rate] of Object.entries(r.providerRates)) positive(`providers.${name}.ratePerSec`, rate);
  fraction('breaker.complaintRate', r.breaker.complaintRate);
  fraction('breaker.hardBounceRate', r.breaker.hardBounceRate);
  fraction('breaker.operatorComplaintRate', r.breaker.operatorComplaintRate);
  positive('breaker.minSamples', r.breaker.minSamples);
  positive('breaker.halfOpenSamples', r.breaker.halfOpenSamples);
  positive('breaker.halfOpenRatePerSec', r.halfOpenRatePerSec);
  positive('burstSeconds', r.burstSeconds);
  positive('maxKeys', r.maxKeys);
  positive('minWaitMs', r.minWaitMs);
  if (problems.length > 0) {
    throw new SwitchyardError('CONFIG_INVALID', `governor options invalid: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
}
