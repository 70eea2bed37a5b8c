/**
 * PostgreSQL profile feed: polls the configured query for rows changed since a watermark, in
 * keyset order on (updated_at, key), one page per call, through the same guarded path as the
 * audience adapter (one plain SELECT checked by the parser, a read-only transaction with its
 * timeouts, bound parameters, SQLSTATE-only errors). The change time is read back as text in UTC
 * with microseconds and the key as text, and both are compared in the column's own type, so a
 * position round-trips exactly: rows sharing a time are neither skipped nor repeated.
 */
import type pg from 'pg';
import { SwitchyardError } from '../../../core/errors.ts';
import type { ProfileFeedSpec } from '../../../core/profile-feed.ts';
import type { FeedPosition, FeedRow, ProfileFeedSource } from '../feed-port.ts';
import { createRowMapper, parseSchemaMapping } from '../mapping.ts';
import type { SchemaMapping, WarehouseQuery } from '../port.ts';
import {
  beginReadOnly,
  checkTimeout,
  describeTarget,
  openClient,
  ours,
  run,
  type Source,
  type Statement,
  sourceOf,
} from './adapter.ts';

export interface PostgresFeedOptions {
  url: string;
  spec: ProfileFeedSpec;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
}

const CLOSE = '\n) as src';
const OWN = ['timezone', 'country', 'locale'] as const;

/**
 * One page after `after`, changed at or before `upTo`: the user's query as a subquery, plus the
 * time (to_char in UTC) and the key (as text) as the two last columns. Rows whose time or key is
 * null cannot be placed in the keyset and are not read.
 */
export function feedPageStatement(
  source: Source,
  params: readonly unknown[],
  columns: { at: string; key: string },
  after: FeedPosition | undefined,
  upTo: Date,
  limit: number,
): Statement {
  const at = `src."${columns.at}"`;
  const key = `src."${columns.key}"`;
  const n = params.length;
  const prefix = `select src.*, to_char(${at}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), (${key})::text from (\n`;
  const keyset = after === undefined ? '' : `(${at}, ${key}) > ($${n + 3}, $${n + 4}) and `;
  const text =
    `${prefix}${source.text}${CLOSE} where ${keyset}${at} <= $${n + 1} and ${key} is not null`
    + ` order by ${at}, ${key} limit $${n + 2}`;
  const values = [...params, upTo.toISOString(), limit, ...(after === undefined ? [] : [after.at, after.key])];
  return { text, values, queryAt: prefix.length, queryLength: source.isSql ? source.text.length : 0 };
}

function truthy(v: unknown): boolean {
  return v === true || v === 1 || v === 't' || v === 'true' || v === '1';
}

export function createPostgresProfileFeed(options: PostgresFeedOptions): ProfileFeedSource {
  const { spec } = options;
  const mapping: SchemaMapping = parseSchemaMapping(spec.mapping);
  const o = {
    url: options.url,
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
    target: describeTarget(options.url),
    timeouts: {
      statement: checkTimeout(options.statementTimeoutMs ?? 30_000),
      lock: checkTimeout(options.lockTimeoutMs ?? 5_000),
    },
  };
  const changesQuery: WarehouseQuery = {
    ...(spec.sql === undefined ? {} : { sql: spec.sql }),
    ...(spec.table === undefined ? {} : { table: spec.table }),
    ...(spec.params === undefined ? {} : { params: spec.params }),
  };

  async function page(
    query: WarehouseQuery,
    columns: { at: string; key: string },
    after: FeedPosition | undefined,
    upTo: Date,
    limit: number,
  ): Promise<pg.QueryArrayResult> {
    const source = await sourceOf(query);
    const client = await openClient(o);
    try {
      await beginReadOnly(o, client);
      // to_char of a timestamptz writes the session's zone: UTC, so positions are zone-free
      await run(o, client, ours(`set local timezone = 'UTC'`));
      const res = await run(o, client, feedPageStatement(source, query.params ?? [], columns, after, upTo, limit));
      await run(o, client, ours('commit'));
      return res;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  const label = `profile feed "${spec.name}" on ${o.target.label}`;
  return {
    async changes(after, upTo, limit) {
      const res = await page(changesQuery, { at: spec.updatedAt, key: spec.key }, after, upTo, limit);
      const sourceColumns = res.fields.slice(0, -2).map((f) => f.name);
      const mapper = createRowMapper(mapping, sourceColumns, label);
      const tombstoneAt = spec.tombstone === undefined ? -1 : sourceColumns.indexOf(spec.tombstone);
      const idAt = sourceColumns.indexOf(mapping.columns.id);
      if (spec.tombstone !== undefined && tombstoneAt < 0)
        throw new SwitchyardError('VALIDATION_FAILED', `${label} has no tombstone column "${spec.tombstone}"`);
      return (res.rows as unknown[][]).map((row): FeedRow => {
        const values = row.slice(0, -2);
        const position = { at: row[row.length - 2] as string, key: row[row.length - 1] as string };
        if (tombstoneAt >= 0 && truthy(values[tombstoneAt])) {
          const id = values[idAt];
          if (id !== null && id !== undefined && String(id).trim() !== '')
            return { ...position, kind: 'deleted', id: String(id).trim() };
        }
        const outcome = mapper.map(values);
        if (!outcome.ok) return { ...position, kind: 'rejected', reason: outcome.reason, raw: mapper.toObject(values) };
        const c = outcome.contact;
        const attributes: Record<string, unknown> = { email: c.email, ...c.fields };
        // a mapped own property the row leaves empty clears the attribute
        for (const k of OWN) if (mapping.columns[k] !== undefined) attributes[k] = c[k] ?? null;
        return { ...position, kind: 'upsert', id: c.id, email: c.email, attributes };
      });
    },
    ...(spec.deletes === undefined
      ? {}
      : {
          async deletes(after, upTo, limit) {
            const d = spec.deletes as NonNullable<ProfileFeedSpec['deletes']>;
            const query = { sql: d.sql, ...(d.params === undefined ? {} : { params: d.params }) };
            const res = await page(query, { at: d.deletedAt, key: d.id }, after, upTo, limit);
            return (res.rows as unknown[][]).map((row): FeedRow => {
              const key = row[row.length - 1] as string;
              return { at: row[row.length - 2] as string, key, kind: 'deleted', id: key };
            });
          },
        }),
  };
}
