/**
 * A billing table in the customer's PostgreSQL warehouse, read by watermark (the billing port's
 * BillingRowSource): the configured SELECT is wrapped as a subquery and read in (updated_at, id)
 * keyset order, a page at a time, inside a READ ONLY transaction with a statement timeout, with
 * the audience reads' SELECT-only parse check and SQLSTATE-only errors (the server's text can
 * quote data). Only rows with updated_at ≤ `until` are read, so a row whose transaction commits a
 * little late (an earlier updated_at) is still ahead of the watermark.
 */
import pg from 'pg';
import { SwitchyardError, isSwitchyardError } from '../../../core/errors.ts';
import type { BillingRowSource, RevenueFact } from '../../billing/port.ts';
import { connectFailure, describeTarget } from './adapter.ts';
import { billingRowFacts, REQUIRED_COLUMNS } from './billing-rows.ts';
import { checkAudienceSql } from './sql-check.ts';
import { warehouseFailure } from './sqlstate.ts';

export interface SqlBillingTableOptions {
  /** postgres://… of the warehouse (the password never appears in errors). */
  url: string;
  /** One SELECT returning the columns of normalize.ts; no parameters of its own. */
  sql: string;
  /** Names the reader's saved position; default 'billing_table'. */
  name?: string;
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
}

// $1 until, $2/$3 the watermark (null: from the start), $4 the page size. The key compares as
// text in "C" collation so the order and the `>` agree whatever the column's type and collation.
const OPEN = 'select src.*, src.updated_at::text as sy_watermark_at, src.id::text as sy_watermark_key from (\n';
const CLOSE = `
) as src
where src.updated_at <= $1 and src.id is not null
  and ($2::timestamptz is null or (src.updated_at, src.id::text collate "C") > ($2::timestamptz, $3::text collate "C"))
order by src.updated_at, src.id::text collate "C"
limit $4`;

export function createSqlBillingTable(options: SqlBillingTableOptions): BillingRowSource {
  const target = describeTarget(options.url);
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
  if (!Number.isInteger(statementTimeoutMs) || statementTimeoutMs < 1)
    throw new SwitchyardError('VALIDATION_FAILED', 'the billing table statement timeout must be whole milliseconds');
  let checked: Promise<string> | undefined;
  return {
    name: options.name ?? 'billing_table',
    async read(after, { limit, until }) {
      checked ??= checkAudienceSql(options.sql, 0);
      const sql = await checked;
      const client = new pg.Client({
        connectionString: options.url,
        connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
        application_name: 'switchyard-billing-table',
      });
      client.on('error', () => {
        /* a dropped connection surfaces on the next query */
      });
      try {
        await client.connect();
      } catch (cause) {
        throw connectFailure(cause, target);
      }
      try {
        await client.query('begin transaction read only');
        await client.query(`set local statement_timeout = ${statementTimeoutMs}`);
        let res: pg.QueryResult<Record<string, unknown>>;
        try {
          res = await client.query(`${OPEN}${sql}${CLOSE}`, [
            until,
            after?.updatedAt ?? null,
            after?.key ?? null,
            limit,
          ]);
        } catch (cause) {
          if (isSwitchyardError(cause)) throw cause;
          throw warehouseFailure(cause, {
            target: target.label,
            statementTimeoutMs,
            queryOffset: OPEN.length,
            queryLength: sql.length,
          });
        }
        await client.query('commit');
        const columns = res.fields.map((f) => f.name);
        const missing = REQUIRED_COLUMNS.filter((c) => !columns.includes(c));
        if (missing.length > 0)
          throw new SwitchyardError('VALIDATION_FAILED', `the billing table query has no column ${missing.join(', ')}`);
        const facts: RevenueFact[] = [];
        const rejected: Array<{ key: string | null; reason: string }> = [];
        for (const row of res.rows) {
          const out = billingRowFacts(row);
          if (out.ok) facts.push(...out.facts);
          else rejected.push({ key: (row['sy_watermark_key'] as string | null) ?? null, reason: out.reason });
        }
        const last = res.rows.at(-1);
        return {
          facts,
          rejected,
          rows: res.rows.length,
          next:
            last === undefined
              ? null
              : { updatedAt: String(last['sy_watermark_at']), key: String(last['sy_watermark_key']) },
        };
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}
