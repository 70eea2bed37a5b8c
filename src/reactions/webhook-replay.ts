/**
 * Remembers the replay key of every verified webhook request, with its body's digest, until its
 * signature would be stale anyway, so a Mailgun signature re-used with other event data is refused.
 * The same key with the same body is the vendor redelivering after a lost answer: it goes through, and
 * ingest's dedup by event id makes it change nothing. The database decides (insert … on conflict do
 * nothing), so two processes cannot both accept the same key. Concurrent claims share one statement.
 * Expired keys are deleted set-wise at most once per prune interval of the injected clock; time
 * never comes from the database's now().
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';
import { createGroupCommit } from './group-commit.ts';

/** `new`: first use of the key; `redelivery`: the key again with the same body; `replay`: the key with another body. */
export type ReplayVerdict = 'new' | 'redelivery' | 'replay';

export interface ReplayGuard {
  /** Claims `key` for `vendor` until `expiresAt`, remembering `body`'s digest. Idempotency is the database's. */
  claim(vendor: string, key: string, expiresAt: Date, body: Uint8Array): Promise<ReplayVerdict>;
  /** Gives a claim back after processing failed (5xx), so the vendor's retry of the same request is accepted. */
  release(vendor: string, key: string): Promise<void>;
}

/**
 * Claims a group's keys in one statement, its own transaction, which need not wait for its WAL
 * flush (set_config … true lasts until that commit): a crash could forget only the last few
 * claims, and each request's own ingest commit (which is flushed) still dedups its events. The
 * outer select reads the snapshot before the insert: it sees only an earlier claim's digest.
 */
const CLAIM = `
  with input as (
    select x.vendor, x.replay_key, x.expires_at, decode(x.digest, 'hex') as body_sha256
    from unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) as x(vendor, replay_key, expires_at, digest)
  ), async_commit as (
    select set_config('synchronous_commit', 'off', true)
  ), claimed as (
    insert into webhook_replay (vendor, replay_key, expires_at, body_sha256)
    select i.vendor, i.replay_key, i.expires_at, i.body_sha256 from input i cross join async_commit
    order by i.vendor, i.replay_key
    on conflict (vendor, replay_key) do nothing
    returning vendor, replay_key)
  select i.vendor, i.replay_key,
    exists (select 1 from claimed c where c.vendor = i.vendor and c.replay_key = i.replay_key) as is_new,
    (select encode(w.body_sha256, 'hex') from webhook_replay w
      where w.vendor = i.vendor and w.replay_key = i.replay_key) as stored
  from input i`;
// The claim's statement snapshot predates a concurrent claimer's commit, so it can miss that row.
const STORED = `
  select w.vendor, w.replay_key, encode(w.body_sha256, 'hex') as stored from webhook_replay w
  join unnest($1::text[], $2::text[]) as x(vendor, replay_key) on w.vendor = x.vendor and w.replay_key = x.replay_key`;
const RELEASE = `delete from webhook_replay where vendor = $1 and replay_key = $2`;
// webhook_replay_expires: a range delete on the index, whatever the table size
const PRUNE = `delete from webhook_replay where expires_at <= $1`;

export const DEFAULT_PRUNE_EVERY_MS = 60_000;
/** Claims per statement: concurrent requests' claims share one (group-commit.ts). */
const MAX_GROUP_CLAIMS = 500;

interface Claim {
  vendor: string;
  key: string;
  expiresAt: Date;
  digest: string;
}

const keyOf = (vendor: string, key: string): string => `${vendor}\u0000${key}`;

export function createWebhookReplayGuard(
  deps: { db: Pick<Db, 'query' | 'transaction'>; clock: Clock },
  options: { pruneEveryMs?: number } = {},
): ReplayGuard {
  const pruneEveryMs = options.pruneEveryMs ?? DEFAULT_PRUNE_EVERY_MS;
  let lastPrune = -Infinity;

  async function claimGroup(claims: readonly Claim[]): Promise<ReplayVerdict[]> {
    const now = deps.clock.now();
    if (now.getTime() - lastPrune >= pruneEveryMs) {
      lastPrune = now.getTime();
      await deps.db.query(PRUNE, [now]);
    }
    // the first claim of a key in the group goes to the database; later ones compare with its outcome
    const first = new Map<string, Claim>();
    for (const c of claims) if (!first.has(keyOf(c.vendor, c.key))) first.set(keyOf(c.vendor, c.key), c);
    const unique = [...first.values()];
    const { rows } = await deps.db.query<{
      vendor: string;
      replay_key: string;
      is_new: boolean;
      stored: string | null;
    }>(CLAIM, [
      unique.map((c) => c.vendor),
      unique.map((c) => c.key),
      unique.map((c) => c.expiresAt),
      unique.map((c) => c.digest),
    ]);
    const isNew = new Set<string>();
    const stored = new Map<string, string>();
    const missing: Claim[] = [];
    for (const r of rows) {
      const k = keyOf(r.vendor, r.replay_key);
      if (r.is_new) isNew.add(k);
      else if (r.stored !== null) stored.set(k, r.stored);
      else missing.push(first.get(k)!);
    }
    if (missing.length > 0) {
      const { rows: again } = await deps.db.query<{ vendor: string; replay_key: string; stored: string }>(STORED, [
        missing.map((c) => c.vendor),
        missing.map((c) => c.key),
      ]);
      for (const r of again) stored.set(keyOf(r.vendor, r.replay_key), r.stored);
    }
    return claims.map((c) => {
      const k = keyOf(c.vendor, c.key);
      if (isNew.has(k)) return first.get(k) === c ? 'new' : c.digest === first.get(k)!.digest ? 'redelivery' : 'replay';
      return stored.get(k) === c.digest ? 'redelivery' : 'replay';
    });
  }

  const claim = createGroupCommit(claimGroup, { maxWeight: MAX_GROUP_CLAIMS, weight: () => 1 });

  return {
    claim(vendor, key, expiresAt, body) {
      return claim({ vendor, key, expiresAt, digest: createHash('sha256').update(body).digest('hex') });
    },
    async release(vendor, key) {
      await deps.db.query(RELEASE, [vendor, key]);
    },
  };
}
