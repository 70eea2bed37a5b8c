/**
 * The warehouse profile feed: polls the configured warehouse query for rows changed since the
 * durable watermark (keyset on updated_at, key), applies them through the same change path as
 * POST /v1/changes (per-attribute source times, so a repeated page changes nothing), and only then
 * saves the position: a crash repeats at most one page, harmlessly. Deletions come from a tombstone
 * column or a deletes query with its own position. A row that cannot be mapped is dead-lettered
 * with its reason and passed over, so it never holds back the rows after it.
 */
import type { Logger } from 'pino';
import { pollUntilAborted } from '../bus/relay.ts';
import type { DeadLetters } from '../bus/port.ts';
import type { Clock } from '../clock/port.ts';
import type { FeedPosition, FeedRow, ProfileFeedSource } from '../connectors/warehouse/feed-port.ts';
import type { Db } from '../store/port.ts';
import { readFeedWatermarks, saveFeedWatermark } from './queries.ts';
import type { ProfileChange, ProfileService } from './service.ts';

export interface WarehouseFeedOptions {
  /** The feed's name: its watermark row and its changes' source `warehouse:<name>`. */
  name: string;
  /** Pause between polls that found nothing. */
  intervalMs: number;
  /** Rows changed within this much of now are left for the next poll (transactions still committing). */
  lagMs: number;
  /** Rows per page (one profile transaction); at most 1000. */
  batchSize: number;
}

export interface WarehouseFeed {
  /** One page of changes and one of deletes; resolves to the rows taken (applied or dead-lettered). */
  pollOnce(): Promise<number>;
  run(signal: AbortSignal): Promise<void>;
}

export const FEED_DEAD_LETTER_STAGE = 'profile-feed';

export function createWarehouseFeed(
  deps: {
    db: Db;
    clock: Clock;
    log: Logger;
    profiles: Pick<ProfileService, 'submit'>;
    deadLetters: Pick<DeadLetters, 'add'>;
    source: ProfileFeedSource;
  },
  options: WarehouseFeedOptions,
): WarehouseFeed {
  const { db, clock, source } = deps;
  const watermark = `warehouse:${options.name}`;

  function changeOf(r: FeedRow & { kind: 'upsert' | 'deleted' }): ProfileChange {
    if (r.kind === 'deleted')
      return {
        changeId: `${r.id}@${r.at}:deleted`,
        source: watermark,
        warehouseId: r.id,
        attributes: {},
        at: r.at,
        deleted: true,
      };
    return {
      changeId: `${r.id}@${r.at}`,
      source: watermark,
      warehouseId: r.id,
      email: r.email,
      attributes: r.attributes,
      at: r.at,
    };
  }

  async function take(stream: 'changes' | 'deletes', rows: FeedRow[]): Promise<void> {
    const good = rows.filter((r) => r.kind !== 'rejected');
    if (good.length > 0) await deps.profiles.submit(good.map(changeOf));
    for (const r of rows) {
      if (r.kind !== 'rejected') continue;
      await deps.deadLetters.add({
        stage: FEED_DEAD_LETTER_STAGE,
        payload: { feed: options.name, at: r.at, key: r.key, row: r.raw },
        code: 'WAREHOUSE_ROW_INVALID',
        message: `${stream} row ${r.key}: ${r.reason}`,
      });
    }
    const last = rows.at(-1) as FeedRow;
    await saveFeedWatermark(db, watermark, stream, { at: last.at, key: last.key }, clock.now());
  }

  async function pollOnce(): Promise<number> {
    const upTo = new Date(clock.now().getTime() - options.lagMs);
    const held = await readFeedWatermarks(db, watermark);
    let taken = 0;
    const pages: ['changes' | 'deletes', FeedPosition | undefined, ProfileFeedSource['changes'] | undefined][] = [
      ['changes', held.changes, source.changes.bind(source)],
      ['deletes', held.deletes, source.deletes?.bind(source)],
    ];
    for (const [stream, after, read] of pages) {
      if (read === undefined) continue;
      const rows = await read(after, upTo, options.batchSize);
      if (rows.length === 0) continue;
      await take(stream, rows);
      taken += rows.length;
    }
    return taken;
  }

  return {
    pollOnce,
    run: (signal) => pollUntilAborted(deps, signal, options.intervalMs, `warehouse feed ${options.name}`, pollOnce),
  };
}
