/**
 * The profile cache: blasts read contact enrichment from crm_profiles (one query per chunk) and
 * ask the CRM only for profiles that are missing, invalidated by a change event, or older than
 * `maxAgeMs` — in requests of the adapter's `batchSize`, through the CRM batcher that paces them
 * within the vendor's rate limit. A warm cache costs the CRM no request. A CRM failure (429, down)
 * rejects with the CRM's error (retryAfterMs when the vendor sent one); profiles fetched before it
 * are already stored, so the retry asks only for the rest.
 */
import type { Clock } from '../clock/port.ts';
import type { Crm, CrmRecord } from '../connectors/crm/port.ts';
import type { Db } from '../store/port.ts';
import * as q from './queries.ts';

export interface ProfileCacheOptions {
  /** Profiles fetched longer ago than this are fetched again. */
  maxAgeMs: number;
  /** Ids per CRM look-up request: the adapter's maxBatchSize. */
  batchSize: number;
}

export interface ProfileFetchPlan {
  /** Profiles this read must fetch from the CRM. */
  missing: number;
  /** Requests that takes. */
  requests: number;
  /** How long the CRM's rate limit makes them last at best. */
  expectedMs: number;
}

export interface ProfileCache {
  readonly crm: string;
  /**
   * The CRM records of `ids` (absent: the CRM does not know the contact). `onFetch` is told
   * before the CRM is asked, so a campaign can show what it waits on.
   */
  read(
    ids: readonly string[],
    hooks?: { onFetch?(plan: ProfileFetchPlan): Promise<void> },
  ): Promise<{
    records: Map<string, CrmRecord>;
    fetched: number;
  }>;
}

export function createProfileCache(
  deps: { db: Db; clock: Clock; crm: Crm },
  options: ProfileCacheOptions,
): ProfileCache {
  const { db, clock, crm } = deps;
  const batchSize = Math.max(1, Math.floor(options.batchSize));
  const perRequestMs = crm.rateLimit.perMs / crm.rateLimit.requests;
  return {
    crm: crm.name,
    async read(ids, hooks) {
      const records = new Map<string, CrmRecord>();
      if (ids.length === 0) return { records, fetched: 0 };
      const now = clock.now();
      const freshAfter = now.getTime() - options.maxAgeMs;
      const fresh = new Set<string>();
      for (const p of await q.readProfiles(db, ids)) {
        if (p.crm !== crm.name || p.invalidatedAt !== null || p.fetchedAt.getTime() <= freshAfter) continue;
        fresh.add(p.contactId);
        if (p.record !== null) records.set(p.contactId, p.record);
      }
      const missing = [...new Set(ids)].filter((id) => !fresh.has(id));
      if (missing.length === 0) return { records, fetched: 0 };
      const requests = Math.ceil(missing.length / batchSize);
      await hooks?.onFetch?.({ missing: missing.length, requests, expectedMs: Math.ceil(requests * perRequestMs) });
      for (let i = 0; i < missing.length; i += batchSize) {
        const chunk = missing.slice(i, i + batchSize);
        const startedAt = clock.now();
        const found = await crm.lookup(chunk);
        await q.upsertProfiles(db, crm.name, chunk, found, clock.now(), startedAt);
        for (const [id, r] of found) records.set(id, r);
      }
      return { records, fetched: missing.length };
    },
  };
}
