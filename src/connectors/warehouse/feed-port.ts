/**
 * The warehouse profile feed port: pages of rows changed in a customer's warehouse, in keyset
 * order on (change time, key), each already turned into a profile upsert, a deletion or a
 * rejection naming the bad column. Positions are exact texts (microseconds kept), so rows that
 * share a change time are neither skipped nor read twice across pages and restarts.
 */

/** A keyset position: the change time (ISO 8601 UTC with microseconds) and the key, as text. */
export interface FeedPosition {
  at: string;
  key: string;
}

export type FeedRow = FeedPosition &
  (
    | { kind: 'upsert'; id: string; email: string; attributes: Record<string, unknown> }
    | { kind: 'deleted'; id: string }
    | { kind: 'rejected'; reason: string; raw: Record<string, unknown> }
  );

export interface ProfileFeedSource {
  /** Changed rows strictly after `after` (from the start when undefined), changed at or before `upTo`. */
  changes(after: FeedPosition | undefined, upTo: Date, limit: number): Promise<FeedRow[]>;
  /** Deleted contacts likewise, when the feed has a deletes query. */
  deletes?(after: FeedPosition | undefined, upTo: Date, limit: number): Promise<FeedRow[]>;
}
