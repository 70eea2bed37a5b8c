/**
 * The send stage's side of the governor: admitting a chunk's messages per receiving domain before
 * they are claimed, and turning each hand-off result into a SendOutcome for governor.report.
 * Pure glue over the Governor interface; no state of its own.
 */
import type { Deferral } from '../bus/consumer.ts';
import type { BatchResult, OutboundMessage } from '../connectors/esp/port.ts';
import { isSwitchyardError } from '../core/errors.ts';
import type { Governor, SendKey, SendOutcome } from './governor.ts';

/** A paused chunk looks again after the breaker's cool-down, but at least this often… */
export const MIN_PAUSE_RECHECK_MS = 5_000;
/** …and at most this late, so an operator resume is noticed soon. */
export const MAX_PAUSE_RECHECK_MS = 60_000;

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).trim().toLowerCase();
}

export function senderDomain(msg: OutboundMessage): string {
  return domainOf(msg.from.address);
}

/**
 * Waits until the governor admitted every message (grouped by receiving domain). Returns a
 * deferral when the campaign or sending domain is paused; other errors (abort) propagate.
 * Tokens already taken for earlier groups are not returned on a pause (a pause is per campaign or
 * sending domain, so it hits the first group already in practice).
 */
export async function admitChunk(governor: Governor, provider: string, campaignId: string, messages: readonly OutboundMessage[], signal?: AbortSignal): Promise<Deferral | undefined> {
  const groups = new Map<string, { key: SendKey; n: number }>();
  for (const msg of messages) {
    const recipientDomain = domainOf(msg.to.address);
    const g = groups.get(recipientDomain);
    if (g !== undefined) g.n++;
    else groups.set(recipientDomain, { key: { provider, sendingDomain: senderDomain(msg), recipientDomain, campaignId }, n: 1 });
  }
  try {
    for (const { key, n } of groups.values()) {
      for (let left = n; left > 0;) left -= await governor.acquireMany(left, key, signal);
    }
  } catch (err) {
    if (isSwitchyardError(err) && err.code === 'DELIVERABILITY_PAUSED') {
      const delayMs = Math.min(MAX_PAUSE_RECHECK_MS, Math.max(MIN_PAUSE_RECHECK_MS, err.retryAfterMs ?? MAX_PAUSE_RECHECK_MS));
      return { kind: 'defer', delayMs, reason: err.message };
    }
    throw err;
  }
  return undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** One hand-off result as the governor sees it. */
export function outcomeOf(res: BatchResult, key: SendKey, latencyMs: number): SendOutcome {
  if (res.ok) return { ...key, kind: 'accepted', latencyMs };
  const e = res.error;
  const d = (e.details ?? {}) as Record<string, unknown>;
  const smtpCode = num(d.smtpCode);
  const httpStatus = num(d.status);
  const diagnostic = str(d.response) ?? e.message;
  if (smtpCode !== undefined && smtpCode >= 400 && smtpCode < 500) {
    return { ...key, kind: 'deferred', smtpCode, ...(str(d.enhanced) ? { enhancedStatus: str(d.enhanced) } : {}), diagnostic, latencyMs };
  }
  if (e.code === 'ESP_RATE_LIMITED') {
    return { ...key, kind: 'deferred', httpStatus: httpStatus ?? 429, ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}), diagnostic, latencyMs };
  }
  return {
    ...key, kind: 'failed', diagnostic, latencyMs,
    ...(smtpCode !== undefined ? { smtpCode } : {}), ...(httpStatus !== undefined ? { httpStatus } : {}),
    ...(str(d.enhanced) ? { enhancedStatus: str(d.enhanced) } : {}),
  };
}
