/**
 * The send stage's side of the governor: admitting a chunk's messages per (sending domain,
 * receiving domain) before they are claimed, and feeding the hand-off results back. Both work per
 * key, not per message: a chunk is ~1000 messages to a handful of domains, so the per-message
 * work is one address split and one map look-up. Pure glue over the Governor interface; no state
 * of its own.
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
  return address
    .slice(address.lastIndexOf('@') + 1)
    .trim()
    .toLowerCase();
}

export function senderDomain(msg: OutboundMessage): string {
  return domainOf(msg.from.address);
}

interface KeyCount {
  key: SendKey;
  n: number;
  /** Slowest provider answer among the n counted since the last flush, if any was measured. */
  latencyMs: number | undefined;
}

/** Groups messages by (sending domain, recipient domain); the same message key gives the same
 *  object. The sender is parsed once per distinct from address (one per campaign in practice). */
function createKeyCounts(provider: string, campaignId: string) {
  const bySender = new Map<string, Map<string, KeyCount>>();
  let lastFrom: string | undefined;
  let lastByRecipient = new Map<string, KeyCount>();
  let lastSending = '';
  return (msg: OutboundMessage): KeyCount => {
    if (msg.from.address !== lastFrom) {
      lastFrom = msg.from.address;
      lastSending = domainOf(lastFrom);
      lastByRecipient = bySender.get(lastSending) ?? new Map<string, KeyCount>();
      bySender.set(lastSending, lastByRecipient);
    }
    const recipientDomain = domainOf(msg.to.address);
    let g = lastByRecipient.get(recipientDomain);
    if (g === undefined) {
      g = { key: { provider, sendingDomain: lastSending, recipientDomain, campaignId }, n: 0, latencyMs: undefined };
      lastByRecipient.set(recipientDomain, g);
    }
    return g;
  };
}

/** A DELIVERABILITY_PAUSED answer as the deferral of the chunk; other errors (abort) propagate. */
function pauseDeferral(err: unknown): Deferral {
  if (isSwitchyardError(err) && err.code === 'DELIVERABILITY_PAUSED') {
    const delayMs = Math.min(
      MAX_PAUSE_RECHECK_MS,
      Math.max(MIN_PAUSE_RECHECK_MS, err.retryAfterMs ?? MAX_PAUSE_RECHECK_MS),
    );
    return { kind: 'defer', delayMs, reason: err.message };
  }
  throw err;
}

export interface AdmittedSlice {
  /** The messages admitted now, in chunk order. */
  admitted: OutboundMessage[];
  /** The others, still to admit. */
  rest: OutboundMessage[];
}

/**
 * Admits what the governor allows now of the messages (grouped by sending and receiving domain):
 * waits until the first group has at least one send admitted, and takes of every other group
 * what is admitted without waiting. So a chunk to a slow receiver goes out paced, a slice at a
 * time, instead of waiting for all its tokens and then arriving at once. Returns a deferral
 * when the campaign or sending domain is paused (tokens taken for earlier groups of this call are
 * not returned: a pause is per campaign or sending domain, so it hits the first group already).
 */
export async function admitSlice(
  governor: Governor,
  provider: string,
  campaignId: string,
  messages: readonly OutboundMessage[],
  signal?: AbortSignal,
): Promise<AdmittedSlice | Deferral> {
  const keyOf = createKeyCounts(provider, campaignId);
  const groups: KeyCount[] = [];
  const keys = messages.map((msg) => {
    const g = keyOf(msg);
    if (g.n++ === 0) groups.push(g);
    return g;
  });
  const allowed = new Map<KeyCount, number>();
  try {
    for (const [i, g] of groups.entries())
      allowed.set(g, i === 0 ? await governor.acquireMany(g.n, g.key, signal) : governor.tryAcquireMany(g.n, g.key));
  } catch (err) {
    return pauseDeferral(err);
  }
  const admitted: OutboundMessage[] = [];
  const rest: OutboundMessage[] = [];
  messages.forEach((msg, i) => {
    const g = keys[i]!;
    const left = allowed.get(g)!;
    if (left > 0) {
      admitted.push(msg);
      allowed.set(g, left - 1);
    } else rest.push(msg);
  });
  return { admitted, rest };
}

/**
 * Waits until the governor admitted every message (admitSlice until none is left). Returns a
 * deferral when the campaign or sending domain is paused; other errors (abort) propagate.
 */
export async function admitChunk(
  governor: Governor,
  provider: string,
  campaignId: string,
  messages: readonly OutboundMessage[],
  signal?: AbortSignal,
): Promise<Deferral | undefined> {
  for (let rest = messages; rest.length > 0; ) {
    const slice = await admitSlice(governor, provider, campaignId, rest, signal);
    if ('kind' in slice) return slice;
    rest = slice.rest;
  }
  return undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** One hand-off result as the governor sees it; latencyMs is the provider's own answer time
 *  (BatchResult.latencyMs), never time spent in our queues. */
export function outcomeOf(res: BatchResult, key: SendKey, latencyMs = res.latencyMs): SendOutcome {
  const lat = latencyMs === undefined ? {} : { latencyMs };
  if (res.ok) return { ...key, kind: 'accepted', ...lat };
  const e = res.error;
  const d = (e.details ?? {}) as Record<string, unknown>;
  const smtpCode = num(d.smtpCode);
  const httpStatus = num(d.status);
  const diagnostic = str(d.response) ?? e.message;
  if (smtpCode !== undefined && smtpCode >= 400 && smtpCode < 500) {
    return {
      ...key,
      kind: 'deferred',
      smtpCode,
      ...(str(d.enhanced) ? { enhancedStatus: str(d.enhanced) } : {}),
      diagnostic,
      ...lat,
    };
  }
  if (e.code === 'ESP_RATE_LIMITED') {
    return {
      ...key,
      kind: 'deferred',
      httpStatus: httpStatus ?? 429,
      ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
      diagnostic,
      ...lat,
    };
  }
  return {
    ...key,
    kind: 'failed',
    diagnostic,
    ...lat,
    ...(smtpCode !== undefined ? { smtpCode } : {}),
    ...(httpStatus !== undefined ? { httpStatus } : {}),
    ...(str(d.enhanced) ? { enhancedStatus: str(d.enhanced) } : {}),
  };
}

/**
 * Feeds one hand-off's results to the governor: results[i] belongs to messages[i], each with the
 * provider's own answer time when the adapter measured it (the chunk's wall time would count our
 * queues: admission, the commit window, the ledger writes); a message whose contact id is not in
 * `attempted` (when given) was not handed over and is skipped. Accepted results are counted per
 * (sending domain, recipient domain) and fed with one reportAccepted per key, carrying the slowest
 * latency among them — just before the next result that is not accepted, and at the end; the
 * others go one by one to report. So every entry sees its own outcomes in message order, and
 * every shared scope (provider, sending domain, campaign) the same counts before each deferral or
 * failure, as with one report per message. With equal latencies the state is the same; with
 * different ones, one slow answer slows the key as it would alone (a decrease is once per
 * cool-down either way). What may differ is the order of alerts from different keys and which
 * key counts as most recently used (so, past maxKeys, which idle key is evicted first).
 */
export function reportResults(
  governor: Governor,
  provider: string,
  campaignId: string,
  messages: readonly OutboundMessage[],
  results: readonly BatchResult[],
  attempted?: ReadonlySet<string>,
): void {
  if (results.length !== messages.length)
    throw new RangeError(`reportResults: ${results.length} result(s) for ${messages.length} message(s)`);
  const keyOf = createKeyCounts(provider, campaignId);
  const pending: KeyCount[] = [];
  const flush = (): void => {
    for (const g of pending) {
      governor.reportAccepted(g.key, g.n, g.latencyMs);
      g.n = 0;
      g.latencyMs = undefined;
    }
    pending.length = 0;
  };
  for (let i = 0; i < messages.length; i++) {
    const msg = messages[i]!;
    if (attempted !== undefined && !attempted.has(msg.correlation.contactId)) continue;
    const g = keyOf(msg);
    const res = results[i]!;
    if (res.ok) {
      if (g.n++ === 0) pending.push(g);
      if (res.latencyMs !== undefined) g.latencyMs = Math.max(g.latencyMs ?? 0, res.latencyMs);
      continue;
    }
    flush();
    governor.report(outcomeOf(res, g.key));
  }
  flush();
}
