/**
 * The governor's entries as rows for the store and back, so its counters (attempts, accepted,
 * bounces, complaints), rates, holds and breaker states survive a restart. A row is one entry's
 * own values as JSON; what comes from the options (AIMD options, window field lists) is taken
 * from the running governor instead, so changed options apply after a restart. Non-finite
 * numbers (-Infinity for "never decreased") are kept as strings, which JSON has no room for.
 */
import type { Entries, Entry } from './governor-entries.ts';
import { isRateEntry } from './governor-entries.ts';
import type { SlidingWindow } from '../core/throttle/sliding-window.ts';

export interface GovernorStateRow {
  /** The entry's map key (p:…, g:…, c:…, d:…). */
  key: string;
  /** JSON text of the entry. */
  state: string;
}

const encodeNumber = (_k: string, v: unknown): unknown =>
  typeof v === 'number' && !Number.isFinite(v) ? { n: String(v) } : v;
const decodeNumber = (_k: string, v: unknown): unknown =>
  v !== null && typeof v === 'object' && Object.keys(v).length === 1 && typeof (v as { n?: unknown }).n === 'string'
    ? Number((v as { n: string }).n)
    : v;

/** Rows for the entries used at or after sinceMs (every entry when undefined), and for every
 *  pinned one (paused, held, warming), so their rows stay fresh while old idle rows are pruned. */
export function snapshotEntries(entries: Entries, nowMs: number, sinceMs?: number): GovernorStateRow[] {
  const rows: GovernorStateRow[] = [];
  for (const e of entries.all()) {
    if (sinceMs !== undefined && e.lastUsed < sinceMs && !entries.isPinned(e, nowMs)) continue;
    const { aimdOpts: _opts, ...own } = e as Entry & { aimdOpts?: unknown };
    rows.push({ key: entries.keyOf(e), state: JSON.stringify(own, encodeNumber) });
  }
  return rows;
}

/** A stored window, if it has the shape the running options give; else the fresh one. */
function sameShape<F extends string>(fresh: SlidingWindow<F>, stored: unknown): SlidingWindow<F> {
  const w = stored as SlidingWindow<F> | undefined;
  if (w === undefined || w.bucketMs !== fresh.bucketMs || w.starts?.length !== fresh.starts.length) return fresh;
  if (!w.counts.every((c) => c.length === fresh.fields.length)) return fresh;
  return { fields: fresh.fields, bucketMs: w.bucketMs, starts: [...w.starts], counts: w.counts.map((c) => [...c]) };
}

/**
 * Loads rows into the entries: each becomes the entry a first use of its key would create,
 * overlaid with the stored values. Rows that do not parse, or whose key names no known kind, are
 * skipped (a corrupt row must not stop a start).
 */
export function restoreEntries(entries: Entries, rows: readonly GovernorStateRow[], nowMs: number): number {
  let restored = 0;
  for (const row of rows) {
    let stored: Record<string, unknown>;
    try {
      stored = JSON.parse(row.state, decodeNumber) as Record<string, unknown>;
    } catch {
      continue;
    }
    const fresh = freshEntry(entries, row.key, stored, nowMs);
    if (fresh === undefined) continue;
    if (isRateEntry(fresh)) {
      Object.assign(fresh, {
        aimd: stored.aimd ?? fresh.aimd,
        bucket: stored.bucket ?? fresh.bucket,
        retryAfterUntil: stored.retryAfterUntil ?? fresh.retryAfterUntil,
        stats: sameShape(fresh.stats, stored.stats),
      });
    } else {
      Object.assign(fresh, {
        breaker: stored.breaker ?? fresh.breaker,
        window: sameShape(fresh.window, stored.window),
        halfOpenBucket: stored.halfOpenBucket ?? undefined,
        domainBucket: fresh.domainBucket === undefined ? undefined : (stored.domainBucket ?? fresh.domainBucket),
        warmup:
          fresh.warmup === undefined || stored.warmup === undefined
            ? fresh.warmup
            : { ...fresh.warmup, ...(stored.warmup as object), ramp: fresh.warmup.ramp },
        stats: sameShape(fresh.stats, stored.stats),
      });
    }
    // the stored last use keeps idle eviction honest; the entry goes to the newest end
    fresh.lastUsed = typeof stored.lastUsed === 'number' ? stored.lastUsed : nowMs;
    entries.put(row.key, fresh);
    restored++;
  }
  return restored;
}

function freshEntry(entries: Entries, key: string, stored: Record<string, unknown>, nowMs: number): Entry | undefined {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  switch (key.slice(0, 2)) {
    case 'p:':
      return entries.provider(key.slice(2), nowMs);
    case 'g:': {
      const [provider, sendingDomain, group] = [str(stored.provider), str(stored.sendingDomain), str(stored.group)];
      if (provider === undefined || sendingDomain === undefined || group === undefined) return undefined;
      return entries.group(provider, sendingDomain, group, nowMs);
    }
    case 'c:':
      return entries.campaign(key.slice(2), nowMs);
    case 'd:':
      return entries.sendingDomain(key.slice(2), nowMs);
    default:
      return undefined;
  }
}
