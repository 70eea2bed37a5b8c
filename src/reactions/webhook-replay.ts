/**
 * Remembers the replay key of every verified webhook request, with its body's digest, until its
 * signature would be stale anyway, so a Mailgun signature re-used with other event data is refused.
 * The same key with the same body is the vendor redelivering after a lost answer: it goes through, and
 * ingest's dedup by event id makes it change nothing. The database decides (insert … on conflict do
 * nothing), so two processes cannot both accept the same key. Expired keys are deleted set-wise at
 * most once per prune interval of the injected clock; time never comes from the database's now().
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';

/** `new`: first use of the key; `redelivery`: the key again with the same body; `replay`: the key with another body. */
export type ReplayVerdict = 'new' | 'redelivery' | 'replay';

export interface ReplayGuard {
  /** Claims `key` for `vendor` until `expiresAt`, remembering `body`'s digest. Idempotency is the database's. */
  claim(vendor: string, key: string, expiresAt: Date, body: Uint8Array): Promise<ReplayVerdict>;
  /** Gives a claim back after processing failed (5xx), so the vendor's retry of the same request is accepted. */
  release(vendor: string, key: string): Promise<void>;
}

// the outer select reads the snapshot before the insert: it sees only an earlier claim's digest
const CLAIM = `
  with claimed as (
    insert into webhook_replay (vendor, replay_key, expires_at, body_sha256) values ($1, $2, $3, $4)
    on conflict (vendor, replay_key) do nothing
    returning 1)
  select exists (select 1 from claimed) as is_new,
         (select body_sha256 = $4 from webhook_replay where vendor = $1 and replay_key = $2) as same_body`;
// The claim's statement snapshot predates a concurrent claimer's commit, so it can miss that row.
const SAME_BODY = `select body_sha256 = $3 as same_body from webhook_replay where vendor = $1 and replay_key = $2`;
const RELEASE = `delete from webhook_replay where vendor = $1 and replay_key = $2`;
// webhook_replay_expires: a range delete on the index, whatever the table size
const PRUNE = `delete from webhook_replay where expires_at <= $1`;

export const DEFAULT_PRUNE_EVERY_MS = 60_000;

export function createWebhookReplayGuard(
  deps: { db: Pick<Db, 'query' | 'transaction'>; clock: Clock },
  options: { pruneEveryMs?: number } = {},
): ReplayGuard {
  const pruneEveryMs = options.pruneEveryMs ?? DEFAULT_PRUNE_EVERY_MS;
  let lastPrune = -Infinity;
  return {
    async claim(vendor, key, expiresAt, body) {
      const now = deps.clock.now();
      if (now.getTime() - lastPrune >= pruneEveryMs) {
        lastPrune = now.getTime();
        await deps.db.query(PRUNE, [now]);
      }
      const digest = createHash('sha256').update(body).digest();
      // The claim need not wait for its WAL flush: a crash could forget only the last few claims,
      // and the request's own ingest commit (which is flushed) still dedups its events.
      const row = await deps.db.transaction(async (tx) => {
        await tx.query('set local synchronous_commit = off');
        return (await tx.query<{ is_new: boolean; same_body: boolean | null }>(CLAIM, [vendor, key, expiresAt, digest]))
          .rows[0]!;
      });
      if (row.is_new) return 'new';
      let sameBody = row.same_body;
      if (sameBody === null) {
        const { rows } = await deps.db.query<{ same_body: boolean }>(SAME_BODY, [vendor, key, digest]);
        sameBody = rows[0]?.same_body ?? null;
      }
      return sameBody === true ? 'redelivery' : 'replay';
    },
    async release(vendor, key) {
      await deps.db.query(RELEASE, [vendor, key]);
    },
  };
}
