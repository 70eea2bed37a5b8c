/**
 * Splits CRM calls into the adapter's maxBatchSize chunks and spaces the requests so that no
 * window of `rateLimit.perMs` holds more than `rateLimit.requests` of them — across every method
 * and every caller sharing this batcher (one batcher per CRM account, created in app.ts). Time
 * comes from the injected clock, so tests run on the manual clock without waiting.
 *
 * It does not retry: a failed chunk rejects the whole call (earlier chunks stay applied; all
 * CRM writes are idempotent), and the bus runner redelivers with backoff.
 */
import type { Clock } from '../../clock/port.ts';
import { SwitchyardError } from '../../core/errors.ts';
import type { Crm, CrmRecord } from './port.ts';

export interface CrmBatcherDeps {
  clock: Clock;
}

/**
 * Returns a Crm with the same name and rateLimit whose maxBatchSize is unbounded: give it any
 * number of items, it makes ⌈n / crm.maxBatchSize⌉ paced requests, one after another.
 */
export function createCrmBatcher(crm: Crm, deps: CrmBatcherDeps): Crm {
  const { requests, perMs } = crm.rateLimit;
  if (!Number.isInteger(crm.maxBatchSize) || crm.maxBatchSize < 1)
    throw new SwitchyardError('VALIDATION_FAILED', `CRM ${crm.name}: maxBatchSize must be an integer ≥ 1`);
  if (!Number.isInteger(requests) || requests < 1 || !(perMs > 0))
    throw new SwitchyardError('VALIDATION_FAILED', `CRM ${crm.name}: rateLimit needs requests ≥ 1 and perMs > 0`);
  const acquire = createRequestWindow(deps.clock, requests, perMs);

  async function inChunks<T, R>(items: readonly T[], call: (chunk: T[]) => Promise<R>): Promise<R[]> {
    const results: R[] = [];
    for (let i = 0; i < items.length; i += crm.maxBatchSize) {
      await acquire();
      results.push(await call(items.slice(i, i + crm.maxBatchSize)));
    }
    return results;
  }

  return {
    name: crm.name,
    maxBatchSize: Number.POSITIVE_INFINITY,
    rateLimit: crm.rateLimit,
    async lookup(ids) {
      const maps = await inChunks([...new Set(ids)], (chunk) => crm.lookup(chunk));
      const merged = new Map<string, CrmRecord>();
      for (const m of maps) for (const [id, record] of m) merged.set(id, record);
      return merged;
    },
    async updateEngagement(updates) {
      const parts = await inChunks(updates, (chunk) => crm.updateEngagement(chunk));
      const failed = parts.flatMap((p) => p.failed ?? []);
      return { updated: parts.reduce((n, p) => n + p.updated, 0), ...(failed.length > 0 ? { failed } : {}) };
    },
    async setOptOut(items) {
      const parts = await inChunks(items, (chunk) => crm.setOptOut(chunk));
      const failed = parts.flatMap((p) => p.failed ?? []);
      return { confirmed: parts.flatMap((p) => p.confirmed), ...(failed.length > 0 ? { failed } : {}) };
    },
    async eraseContacts(emails) {
      const parts = await inChunks([...new Set(emails)], (chunk) => crm.eraseContacts(chunk));
      const failed = parts.flatMap((p) => p.failed ?? []);
      return {
        erased: parts.flatMap((p) => p.erased),
        notFound: parts.flatMap((p) => p.notFound),
        ...(failed.length > 0 ? { failed } : {}),
      };
    },
    async updateFields(update) {
      await acquire();
      return crm.updateFields(update);
    },
    async createTask(task) {
      await acquire();
      return crm.createTask(task);
    },
    async readClosedWonDeals(options) {
      await acquire();
      return crm.readClosedWonDeals({ ...options, limit: Math.min(options.limit, crm.maxBatchSize) });
    },
    async readChangedDeals(options) {
      await acquire();
      return crm.readChangedDeals({ ...options, limit: Math.min(options.limit, crm.maxBatchSize) });
    },
  };
}

/**
 * A sliding window of request start times. `acquire()` resolves when one more request may
 * start; callers are served in arrival order (a promise chain), so pacing holds under concurrency.
 */
function createRequestWindow(clock: Clock, requests: number, perMs: number): () => Promise<void> {
  const starts: number[] = [];
  let queue: Promise<void> = Promise.resolve();
  return () => {
    const turn = queue.then(async () => {
      for (;;) {
        const now = clock.now().getTime();
        while (starts.length > 0 && (starts[0] ?? 0) <= now - perMs) starts.shift();
        if (starts.length < requests) {
          starts.push(now);
          return;
        }
        await clock.sleep((starts[0] ?? now) + perMs - now);
      }
    });
    queue = turn.catch(() => undefined);
    return turn;
  };
}
