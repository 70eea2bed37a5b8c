/**
 * Store adapter on a PostgreSQL server through a `pg` pool. `schema` (optional) becomes the
 * search_path of every connection, which lets tests and benchmarks use a private schema.
 */
import pg from 'pg';
import { SwitchyardError } from '../../core/errors.ts';
import type { Db, Queryable, QueryResult } from '../port.ts';

export interface PostgresOptions {
  url: string;
  schema?: string;
  maxConnections?: number;
}

const INT8 = 20;
const typeParsers = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new SwitchyardError('CONFIG_INVALID', `invalid schema name ${name}`);
  return `"${name}"`;
}

export async function createPostgresDb(options: PostgresOptions): Promise<Db> {
  const schema = options.schema === undefined ? undefined : quoteIdent(options.schema);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    types: typeParsers,
    ...(schema === undefined ? {} : { options: `-c search_path=${schema},public` }),
  });
  pool.on('error', () => { /* idle client errors surface on the next query */ });
  try {
    if (schema !== undefined) await pool.query(`create schema if not exists ${schema}`);
    else await pool.query('select 1');
  } catch (cause) {
    await pool.end().catch(() => undefined);
    throw new SwitchyardError('STORE_UNREACHABLE', `cannot connect to PostgreSQL (${redact(options.url)}): ${(cause as Error).message}`, { cause, retryable: true });
  }
  const wrap = (q: pg.Pool | pg.PoolClient): Queryable => ({
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const res = await q.query(sql, params as unknown[]);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    },
    async exec(sql: string) {
      await q.query(sql);
    },
  });
  const listeners: pg.PoolClient[] = [];
  return {
    kind: 'postgres',
    ...wrap(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const result = await fn(wrap(client));
        await client.query('commit');
        return result;
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async listen(channel, onNotify) {
      const client = await pool.connect();
      listeners.push(client);
      const handler = (msg: pg.Notification): void => {
        if (msg.channel === channel) onNotify(msg.payload ?? '');
      };
      client.on('notification', handler);
      await client.query(`listen ${quoteIdent(channel)}`);
      return async () => {
        client.off('notification', handler);
        await client.query(`unlisten ${quoteIdent(channel)}`).catch(() => undefined);
        listeners.splice(listeners.indexOf(client), 1);
        client.release();
      };
    },
    async ping() {
      try {
        await pool.query('select 1');
      } catch (cause) {
        throw new SwitchyardError('STORE_UNREACHABLE', `PostgreSQL unreachable: ${(cause as Error).message}`, { cause, retryable: true });
      }
    },
    async close() {
      for (const c of listeners.splice(0)) c.release();
      await pool.end();
    },
  };
}

/** Removes the password from a connection string before it is shown. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
