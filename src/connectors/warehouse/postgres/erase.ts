/**
 * Erasure in a PostgreSQL warehouse: the operator's configured statements (delete or anonymise,
 * `$1` = the subject's addresses as text[], `$2` = its contact ids as text[]) run in one
 * transaction on a client of their own, with a statement timeout. The statements come from
 * configuration, never from a request; values always go in as parameters. Failures surface by
 * SQLSTATE only (sqlstate.ts), never with the server's text, which may quote a value.
 */
import pg from 'pg';
import type { WarehouseEraser } from '../port.ts';
import { warehouseFailure } from './sqlstate.ts';

export function createPostgresWarehouseEraser(options: {
  url: string;
  statements: readonly string[];
  statementTimeoutMs?: number;
}): WarehouseEraser {
  const target = (() => {
    const u = new URL(options.url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  })();
  const timeout = options.statementTimeoutMs ?? 30_000;
  return {
    name: 'postgres',
    async erase(emails, contactIds) {
      const client = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: 10_000 });
      const ctx = { target, statementTimeoutMs: timeout, queryOffset: 0, queryLength: 0 };
      try {
        await client.connect();
        await client.query('begin');
        await client.query(`set local statement_timeout = ${Math.floor(timeout)}`);
        const counts: number[] = [];
        for (const sql of options.statements) {
          // a statement that names only $1 gets only it (an unnamed parameter would have no type)
          const res = await client.query(sql, /\$2\b/.test(sql) ? [emails, contactIds] : [emails]);
          counts.push(res.rowCount ?? 0);
        }
        await client.query('commit');
        return counts;
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw warehouseFailure(err, ctx);
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}
