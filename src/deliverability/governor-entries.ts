/**
 * The governor's in-memory state: one entry per provider, per (provider, sending domain,
 * receiving group), per sending domain and per campaign, kept in one Map in least-recently-used
 * order so idle keys can be evicted (bounded memory). Entries are plain mutable records holding
 * the pure values from core/throttle; only governor.ts changes them.
 *
 * Pinned entries are never evicted: a paused breaker, a held key or a warming domain would
 * otherwise be forgotten and silently resume.
 */
import type { AimdOptions, AimdState } from '../core/throttle/aimd.ts';
import { createAimd } from '../core/throttle/aimd.ts';
import type { TokenBucket } from '../core/throttle/token-bucket.ts';
import { createTokenBucket } from '../core/throttle/token-bucket.ts';
import type { SlidingWindow } from '../core/throttle/sliding-window.ts';
import { createSlidingWindow } from '../core/throttle/sliding-window.ts';
import type { BreakerState } from '../core/throttle/circuit-breaker.ts';
import { createBreaker } from '../core/throttle/circuit-breaker.ts';
import type { WarmupRamp, WarmupState } from '../core/throttle/warmup.ts';
import { createWarmup } from '../core/throttle/warmup.ts';
import type { ResolvedGovernorOptions } from './governor-options.ts';

export const STAT_FIELDS = [
  'attempts',
  'accepted',
  'deferred',
  'bounced_hard',
  'bounced_soft',
  'complained',
  'delivered',
  'failed',
] as const;
export type StatField = (typeof STAT_FIELDS)[number];
export const BREAKER_FIELDS = ['sent', 'hardBounces', 'complaints'] as const;
export type BreakerField = (typeof BREAKER_FIELDS)[number];

/** A key with an AIMD-controlled token bucket: a provider or a receiving group. */
export interface RateEntry {
  kind: 'provider' | 'group';
  provider: string;
  sendingDomain: string | undefined;
  group: string | undefined;
  aimd: AimdState;
  aimdOpts: AimdOptions;
  bucket: TokenBucket;
  /** Provider Retry-After hold (epoch ms), on top of the AIMD hard hold. */
  retryAfterUntil: number;
  stats: SlidingWindow<StatField>;
  lastUsed: number;
}

export interface WarmupDay {
  attempts: number;
  deferred: number;
  accepted: number;
  complaints: number;
  throttleSignal: boolean;
  hardSignal: boolean;
}

/** A scope that can be paused: a campaign or a sending domain. */
export interface PauseEntry {
  kind: 'campaign' | 'sending_domain';
  id: string;
  breaker: BreakerState;
  window: SlidingWindow<BreakerField>;
  /** Present while half-open: the reduced rate. */
  halfOpenBucket: TokenBucket | undefined;
  /** Sending domains only: the configured fixed rate and the warm-up cap. */
  domainBucket: TokenBucket | undefined;
  warmup: { ramp: WarmupRamp; state: WarmupState; today: WarmupDay } | undefined;
  stats: SlidingWindow<StatField>;
  lastUsed: number;
}

export type Entry = RateEntry | PauseEntry;

export function isRateEntry(e: Entry): e is RateEntry {
  return e.kind === 'provider' || e.kind === 'group';
}

export function emptyWarmupDay(): WarmupDay {
  return { attempts: 0, deferred: 0, accepted: 0, complaints: 0, throttleSignal: false, hardSignal: false };
}

export function createEntries(o: ResolvedGovernorOptions) {
  const map = new Map<string, Entry>();
  let lastSweep = Number.NEGATIVE_INFINITY;

  const statsWindow = (): SlidingWindow<StatField> =>
    createSlidingWindow(STAT_FIELDS, { windowMs: o.statsWindowMs, buckets: 30 });
  const burst = (rate: number): number => Math.max(1, rate * o.burstSeconds);

  function touch<E extends Entry>(key: string, entry: E, nowMs: number): E {
    map.delete(key);
    map.set(key, entry);
    entry.lastUsed = nowMs;
    return entry;
  }

  const providerKey = (name: string): string => `p:${name}`;
  const groupKey = (providerName: string, sendingDomain: string, groupName: string): string =>
    `g:${providerName}|${sendingDomain}|${groupName}`;
  const pauseKey = (kind: PauseEntry['kind'], id: string): string => `${kind === 'campaign' ? 'c' : 'd'}:${id}`;

  function provider(name: string, nowMs: number): RateEntry {
    const key = providerKey(name);
    const found = map.get(key) as RateEntry | undefined;
    if (found !== undefined) return touch(key, found, nowMs);
    const ceiling = o.providerRates[name] ?? o.defaultProviderRate;
    const aimdOpts: AimdOptions = { ...o.providerAimd, ceiling, initial: ceiling };
    const aimd = createAimd(aimdOpts, nowMs);
    return touch(
      key,
      {
        kind: 'provider',
        provider: name,
        sendingDomain: undefined,
        group: undefined,
        aimd,
        aimdOpts,
        bucket: createTokenBucket(aimd.rate, burst(aimd.rate), nowMs),
        retryAfterUntil: 0,
        stats: statsWindow(),
        lastUsed: nowMs,
      },
      nowMs,
    );
  }

  function group(providerName: string, sendingDomain: string, groupName: string, nowMs: number): RateEntry {
    const key = groupKey(providerName, sendingDomain, groupName);
    const found = map.get(key) as RateEntry | undefined;
    if (found !== undefined) return touch(key, found, nowMs);
    const aimdOpts: AimdOptions = { ...o.receivingAimd, ...o.receivingGroups[groupName] };
    const aimd = createAimd(aimdOpts, nowMs);
    return touch(
      key,
      {
        kind: 'group',
        provider: providerName,
        sendingDomain,
        group: groupName,
        aimd,
        aimdOpts,
        bucket: createTokenBucket(aimd.rate, burst(aimd.rate), nowMs),
        retryAfterUntil: 0,
        stats: statsWindow(),
        lastUsed: nowMs,
      },
      nowMs,
    );
  }

  function pauseScope(kind: PauseEntry['kind'], id: string, nowMs: number): PauseEntry {
    const key = pauseKey(kind, id);
    const found = map.get(key) as PauseEntry | undefined;
    if (found !== undefined) return touch(key, found, nowMs);
    const cfg = kind === 'sending_domain' ? o.sendingDomains[id] : undefined;
    const rate = cfg?.ratePerSec;
    const warm = cfg?.warmup;
    return touch(
      key,
      {
        kind,
        id,
        breaker: createBreaker(nowMs),
        window: createSlidingWindow(BREAKER_FIELDS, { windowMs: o.breakerWindowMs, buckets: o.breakerWindowBuckets }),
        halfOpenBucket: undefined,
        domainBucket: rate === undefined ? undefined : createTokenBucket(rate, burst(rate), nowMs),
        warmup:
          warm === undefined
            ? undefined
            : {
                ramp: warm.ramp ?? o.defaultRamp,
                // After a restart the step is re-derived from the age (one step per day): in-memory state
                // is lost, and assuming clean days is the same guess the operator made when configuring.
                state: createWarmup(
                  nowMs,
                  warm.step ?? Math.max(0, Math.floor((nowMs - warm.startedAt.getTime()) / 86_400_000)),
                ),
                today: emptyWarmupDay(),
              },
        stats: statsWindow(),
        lastUsed: nowMs,
      },
      nowMs,
    );
  }

  function keyOf(e: Entry): string {
    if (!isRateEntry(e)) return pauseKey(e.kind, e.id);
    return e.kind === 'provider' ? providerKey(e.provider) : groupKey(e.provider, e.sendingDomain ?? '', e.group ?? '');
  }

  function isPinned(e: Entry, nowMs: number): boolean {
    if (isRateEntry(e)) return nowMs < Math.max(e.aimd.heldUntil, e.retryAfterUntil);
    return e.breaker.phase !== 'closed' || e.warmup !== undefined;
  }

  /** Whether sweep(nowMs) would look at the entries (else it is a no-op). */
  function isSweepDue(nowMs: number): boolean {
    return !(map.size <= o.maxKeys && nowMs - lastSweep < o.idleEvictMs / 4);
  }

  /** Forgets idle unpinned keys; runs at most every idleEvictMs / 4 unless over maxKeys. */
  function sweep(nowMs: number): void {
    if (!isSweepDue(nowMs)) return;
    lastSweep = nowMs;
    for (const [key, e] of map) {
      const idle = nowMs - e.lastUsed >= o.idleEvictMs;
      if ((idle || map.size > o.maxKeys) && !isPinned(e, nowMs)) map.delete(key);
    }
  }

  return {
    provider,
    group,
    campaign: (id: string, nowMs: number) => pauseScope('campaign', id, nowMs),
    sendingDomain: (id: string, nowMs: number) => pauseScope('sending_domain', id, nowMs),
    peek: (key: string): Entry | undefined => map.get(key),
    /** The map key an entry is held under. */
    keyOf,
    /** Puts a restored entry in place (governor-state.ts); the most recently used go last. */
    put: (key: string, e: Entry): void => {
      map.delete(key);
      map.set(key, e);
    },
    /** Whether e is still the entry held for its key (not evicted, not replaced). */
    isCurrent: (e: Entry): boolean => map.get(keyOf(e)) === e,
    all: (): Entry[] => [...map.values()],
    size: (): number => map.size,
    sweep,
    isSweepDue,
    isPinned,
    burst,
  };
}

export type Entries = ReturnType<typeof createEntries>;
