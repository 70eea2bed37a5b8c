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
  /** Connections kept for erasures (default 4): a DSR fan-out erases many subjects at once, and a
   *  connection per erasure costs a server process each and runs out of the server's slots. */
  maxConnections?: number;
}): WarehouseEraser {
  const target = (() => {
    const u = new URL(options.url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  })();
  const timeout = options.statementTimeoutMs ?? 30_000;
  // idle connections close after a while and never keep the process alive
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 4,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 10_000,
    allowExitOnIdle: true,
  });
  // a connection the server ends while idle must not end the process
  pool.on('error', () => undefined);
  return {
    name: 'postgres',
    async erase(emails, contactIds) {
      const ctx = { target, statementTimeoutMs: timeout, queryOffset: 0, queryLength: 0 };
      let client: pg.PoolClient | undefined;
      let broken = false;
      try {
        client = await pool.connect();
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
        if (client !== undefined)
          await client.query('rollback').catch(() => {
            broken = true; // not back in the pool: its state is unknown
          });
        throw warehouseFailure(err, ctx);
      } finally {
        client?.release(broken);
      }
    },
  };
}
