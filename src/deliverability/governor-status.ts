/**
 * Turns the governor's entries into the status shape read by /metrics and campaign status.
 * Read-only: it never changes an entry. Percentages cover the stats window (default 5 min,
 * deliverability.md §4); bounce and complaint percentages are per accepted send.
 */
import { windowTotals } from '../core/throttle/sliding-window.ts';
import { warmupCap } from '../core/throttle/warmup.ts';
import type { BreakerPhase } from '../core/throttle/circuit-breaker.ts';
import { isRateEntry } from './governor-entries.ts';
import type { Entry } from './governor-entries.ts';
import type { ResolvedGovernorOptions } from './governor-options.ts';

export interface ScopeStatus {
  scope: { provider?: string; sendingDomain?: string; receivingGroup?: string; campaignId?: string };
  /** Current admitted rate (msgs/s); null when this scope has no rate of its own. */
  ratePerSec: number | null;
  /** Attempts in the stats window. */
  attempts: number;
  deferralPct: number;
  bounceHardPct: number;
  complaintPct: number;
  /** Breaker of a campaign or sending domain; null for rate-only scopes. */
  breaker: { state: BreakerPhase; reason: string | null; since: Date; requiresOperator: boolean } | null;
  /** Set while a hard deferral or Retry-After stops this key. */
  heldUntil: Date | null;
  /** Sending domains in warm-up. */
  warmup: { step: number; dailyCap: number; usedToday: number } | null;
}

export interface GovernorStatus {
  at: Date;
  providers: ScopeStatus[];
  sendingDomains: ScopeStatus[];
  receivingGroups: ScopeStatus[];
  campaigns: ScopeStatus[];
}

function pct(part: number, whole: number): number {
  return whole > 0 ? Math.round((part / whole) * 10_000) / 100 : 0;
}

export function describeStatus(all: readonly Entry[], nowMs: number, o: ResolvedGovernorOptions): GovernorStatus {
  const out: GovernorStatus = {
    at: new Date(nowMs),
    providers: [],
    sendingDomains: [],
    receivingGroups: [],
    campaigns: [],
  };
  for (const e of all) {
    const t = windowTotals(e.stats, nowMs);
    const common = {
      attempts: t.attempts,
      deferralPct: pct(t.deferred, t.attempts),
      bounceHardPct: pct(t.bounced_hard, t.accepted),
      complaintPct: pct(t.complained, t.accepted),
    };
    if (isRateEntry(e)) {
      const held = Math.max(e.aimd.heldUntil, e.retryAfterUntil);
      const row: ScopeStatus = {
        scope:
          e.kind === 'provider'
            ? { provider: e.provider }
            : { provider: e.provider, sendingDomain: e.sendingDomain ?? '', receivingGroup: e.group ?? '' },
        ratePerSec: Math.round(e.aimd.rate * 100) / 100,
        ...common,
        breaker: null,
        heldUntil: held > nowMs ? new Date(held) : null,
        warmup: null,
      };
      (e.kind === 'provider' ? out.providers : out.receivingGroups).push(row);
      continue;
    }
    const halfOpenRate = e.halfOpenBucket === undefined ? null : o.halfOpenRatePerSec;
    const row: ScopeStatus = {
      scope: e.kind === 'campaign' ? { campaignId: e.id } : { sendingDomain: e.id },
      ratePerSec: halfOpenRate ?? (e.domainBucket === undefined ? null : e.domainBucket.rate),
      ...common,
      breaker: {
        state: e.breaker.phase,
        reason: e.breaker.reason ?? null,
        since: new Date(e.breaker.since),
        requiresOperator: e.breaker.requiresOperator,
      },
      heldUntil: null,
      warmup:
        e.warmup === undefined
          ? null
          : {
              step: e.warmup.state.step,
              dailyCap: warmupCap(e.warmup.ramp, e.warmup.state),
              usedToday: e.warmup.state.used,
            },
    };
    (e.kind === 'campaign' ? out.campaigns : out.sendingDomains).push(row);
  }
  return out;
}
