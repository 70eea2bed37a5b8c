/**
 * Remembers the replay key of every verified webhook request until its signature would be stale
 * anyway, so a captured request (or a Mailgun signature re-used with other event data) is
 * refused the second time. The database decides (insert … on conflict do nothing), so two
 * processes cannot both accept the same key. Expired keys are deleted set-wise at most once per
 * prune interval of the injected clock; time never comes from the database's now().
 */
import type { Clock } from '../clock/port.ts';
import type { Queryable } from '../store/port.ts';

export interface ReplayGuard {
  /** Claims `key` for `vendor` until `expiresAt`; false when it is already claimed (a replay). Idempotency is the database's. */
  claim(vendor: string, key: string, expiresAt: Date): Promise<boolean>;
  /** Gives a claim back after processing failed (5xx), so the vendor's retry of the same request is accepted. */
  release(vendor: string, key: string): Promise<void>;
}

const CLAIM = `
  insert into webhook_replay (vendor, replay_key, expires_at) values ($1, $2, $3)
  on conflict (vendor, replay_key) do nothing
  returning replay_key`;
const RELEASE = `delete from webhook_replay where vendor = $1 and replay_key = $2`;
// webhook_replay_expires: a range delete on the index, whatever the table size
const PRUNE = `delete from webhook_replay where expires_at <= $1`;

export const DEFAULT_PRUNE_EVERY_MS = 60_000;

export function createWebhookReplayGuard(deps: { db: Queryable; clock: Clock }, options: { pruneEveryMs?: number } = {}): ReplayGuard {
  const pruneEveryMs = options.pruneEveryMs ?? DEFAULT_PRUNE_EVERY_MS;
  let lastPrune = -Infinity;
  return {
    async claim(vendor, key, expiresAt) {
      const now = deps.clock.now();
      if (now.getTime() - lastPrune >= pruneEveryMs) {
        lastPrune = now.getTime();
        await deps.db.query(PRUNE, [now]);
      }
      const { rows } = await deps.db.query(CLAIM, [vendor, key, expiresAt]);
      return rows.length === 1;
    },
    async release(vendor, key) {
      await deps.db.query(RELEASE, [vendor, key]);
    },
  };
}
