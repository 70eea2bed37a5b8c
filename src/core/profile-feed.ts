/**
 * The warehouse profile feed's definition (SWITCHYARD_PROFILE_FEED): which query to poll, how its
 * rows map to profiles, and which columns order and resume it. Pure validation, so a bad
 * definition stops the process at start with every problem named, before any connection.
 */

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;

export interface ProfileFeedSpec {
  /** Names the feed: its watermark row and the `warehouse:<name>` source of its changes. */
  name: string;
  /** Exactly one of `sql` (one SELECT, `params` as $1…) and `table` (`schema.name`). */
  sql?: string;
  table?: string;
  params?: unknown[];
  /** The warehouse column mapping (`columns.id`, `columns.email` required; see docs/lists.md). */
  mapping: { columns: Record<string, string>; fields?: string[] };
  /** Column with the row's last change time (timestamp or timestamptz); default `updated_at`. */
  updatedAt: string;
  /** Unique, not-null column breaking ties of updatedAt (keyset); default the mapping's id column. */
  key: string;
  /** Boolean column: true means the contact was deleted in the source. */
  tombstone?: string;
  /** A second SELECT whose rows are deletions: its `id` column names the contact, `deleted_at` orders it. */
  deletes?: { sql: string; params?: unknown[]; id: string; deletedAt: string };
}

export type ParsedProfileFeed = { ok: true; spec: ProfileFeedSpec } | { ok: false; problems: string[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses the JSON text of a feed definition; problems are named by path, never quote values. */
export function parseProfileFeed(text: string): ParsedProfileFeed {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, problems: ['is not JSON'] };
  }
  if (!isObject(v)) return { ok: false, problems: ['must be a JSON object'] };
  const problems: string[] = [];
  const column = (path: string, value: unknown, fallback?: string): string => {
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== 'string' || !IDENTIFIER.test(value)) problems.push(`${path} must be a plain column name`);
    return String(value);
  };
  const name = v.name ?? 'warehouse';
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name))
    problems.push('name must be lower-case letters, digits, - or _ (at most 63)');
  const hasSql = typeof v.sql === 'string' && v.sql.trim() !== '';
  const hasTable = typeof v.table === 'string' && v.table !== '';
  if (hasSql === hasTable) problems.push('exactly one of sql and table is required');
  if (v.params !== undefined && !Array.isArray(v.params)) problems.push('params must be an array');
  const mapping = v.mapping;
  let idColumn: string | undefined;
  if (!isObject(mapping) || !isObject(mapping.columns)) {
    problems.push('mapping.columns must be an object of our name → source column');
  } else {
    for (const required of ['id', 'email'])
      if (typeof mapping.columns[required] !== 'string') problems.push(`mapping.columns.${required} is required`);
    idColumn = typeof mapping.columns.id === 'string' ? mapping.columns.id : undefined;
  }
  const updatedAt = column('updatedAt', v.updatedAt, 'updated_at');
  const key = column('key', v.key, idColumn ?? 'id');
  const tombstone = v.tombstone === undefined ? undefined : column('tombstone', v.tombstone);
  let deletes: ProfileFeedSpec['deletes'];
  if (v.deletes !== undefined) {
    const d = v.deletes;
    if (!isObject(d) || typeof d.sql !== 'string' || d.sql.trim() === '') {
      problems.push('deletes.sql must be a SELECT');
    } else {
      if (d.params !== undefined && !Array.isArray(d.params)) problems.push('deletes.params must be an array');
      deletes = {
        sql: d.sql,
        ...(Array.isArray(d.params) ? { params: d.params } : {}),
        id: column('deletes.id', d.id, 'id'),
        deletedAt: column('deletes.deletedAt', d.deletedAt, 'deleted_at'),
      };
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    spec: {
      name: name as string,
      ...(hasSql ? { sql: v.sql as string } : { table: v.table as string }),
      ...(Array.isArray(v.params) ? { params: v.params } : {}),
      mapping: mapping as ProfileFeedSpec['mapping'],
      updatedAt,
      key,
      ...(tombstone === undefined ? {} : { tombstone }),
      ...(deletes === undefined ? {} : { deletes }),
    },
  };
}
