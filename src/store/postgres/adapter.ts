/**
 * Store adapter on a PostgreSQL server through a `pg` pool. `schema` (optional) becomes the
 * search_path of every connection, which lets tests and benchmarks use a private schema.
 */
import pg from 'pg';
import { SwitchyardError } from '../../core/errors.ts';
import type { Db, Queryable, QueryResult } from '../port.ts';
import { encodeParams } from './params.ts';

export interface PostgresOptions {
  url: string;
  schema?: string;
  maxConnections?: number;
}

const INT8 = 20;
const typeParsers = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new SwitchyardError('CONFIG_INVALID', `invalid schema name ${name}`);
  return `"${name}"`;
}

export async function createPostgresDb(options: PostgresOptions): Promise<Db> {
  const schema = options.schema === undefined ? undefined : quoteIdent(options.schema);
  const pool = new pg.Pool({
    ...withSearchPath(options.url, schema),
    max: options.maxConnections ?? 10,
    types: typeParsers,
  });
  pool.on('error', () => {
    /* idle client errors surface on the next query */
  });
  try {
    if (schema !== undefined) await pool.query(`create schema if not exists ${schema}`);
    else await pool.query('select 1');
  } catch (cause) {
    await pool.end().catch(() => undefined);
    throw new SwitchyardError(
      'STORE_UNREACHABLE',
      `cannot connect to PostgreSQL (${redact(options.url)}): ${(cause as Error).message}`,
      { cause, retryable: true },
    );
  }
  const wrap = (q: pg.Pool | pg.PoolClient): Queryable => ({
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const res = await q.query(sql, encodeParams(params)).catch(transientAsRetryable);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    },
    async exec(sql: string) {
      await q.query(sql).catch(transientAsRetryable);
    },
  });
  const listeners = new Set<{ drop(broken: boolean): void }>();
  let ending = false;
  return {
    kind: 'postgres',
    ...wrap(pool),
    async transaction(fn) {
      const client = await pool.connect().catch(transientAsRetryable);
      // a checked-out client that loses its connection emits 'error'; unheard, it would end the
      // process. The failing query rejects as well, which is what the caller sees.
      let broken: Error | undefined;
      const onError = (err: Error): void => {
        broken = err;
      };
      client.on('error', onError);
      try {
        await client.query('begin').catch(transientAsRetryable);
        const result = await fn(wrap(client));
        await client.query('commit').catch(transientAsRetryable);
        return result;
      } catch (err) {
        if (broken === undefined) await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.off('error', onError);
        // a broken connection is destroyed, not returned to the pool
        client.release(broken);
      }
    },
    async listen(channel, onNotify) {
      const handler = (msg: pg.Notification): void => {
        if (msg.channel === channel) onNotify(msg.payload ?? '');
      };
      let closed = false;
      let current: { client: pg.PoolClient; drop(broken: boolean): void } | undefined;
      // one LISTEN connection; it counts as current only once LISTEN succeeded
      const attach = async (): Promise<void> => {
        const client = await pool.connect();
        let dropped = false;
        const connection = {
          client,
          drop(broken: boolean): void {
            if (dropped) return;
            dropped = true;
            client.off('notification', handler);
            client.off('error', onLost);
            listeners.delete(connection);
            client.release(broken);
          },
        };
        // the connection was lost (server restart, backend terminated): drop it and listen on a
        // new one, waking the listener once so nothing published meanwhile waits for a poll
        const onLost = (): void => {
          connection.drop(true);
          if (current !== connection) return;
          current = undefined;
          if (!closed && !ending) void reattach();
        };
        client.on('notification', handler);
        client.on('error', onLost);
        listeners.add(connection);
        try {
          await client.query(`listen ${quoteIdent(channel)}`);
        } catch (err) {
          connection.drop(true);
          throw err;
        }
        current = connection;
      };
      const reattach = async (): Promise<void> => {
        for (let delayMs = 100; !closed && !ending && current === undefined; delayMs = Math.min(delayMs * 2, 5_000)) {
          try {
            await attach();
            onNotify('');
          } catch {
            await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
          }
        }
      };
      await attach();
      return async () => {
        closed = true;
        const connection = current;
        if (connection === undefined) return;
        current = undefined;
        connection.client.off('notification', handler);
        await connection.client.query(`unlisten ${quoteIdent(channel)}`).catch(() => undefined);
        connection.drop(false);
      };
    },
    async ping() {
      try {
        await pool.query('select 1');
      } catch (cause) {
        throw new SwitchyardError('STORE_UNREACHABLE', `PostgreSQL unreachable: ${(cause as Error).message}`, {
          cause,
          retryable: true,
        });
      }
    },
    async close() {
      ending = true;
      for (const l of [...listeners]) l.drop(false);
      await pool.end();
    },
  };
}

/**
 * SQLSTATE classes and codes that say nothing about the statement, only that this attempt could
 * not run: connection exceptions (08), the server shutting down or the backend terminated (57P01-03),
 * too many connections (53300), serialization failure and deadlock (40001, 40P01).
 */
const TRANSIENT_SQLSTATE = /^(08...|57P0[123]|53300|40001|40P01)$/;
/** Socket-level failures of node-pg (no SQLSTATE). */
const TRANSIENT_SOCKET = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * A failure of the attempt rather than of the statement becomes a retryable STORE_UNREACHABLE, so
 * a bus consumer redelivers the message with backoff instead of dead-lettering it at once (a
 * PostgreSQL restart during a blast). Anything else (a constraint, a bad statement) is rethrown
 * as it is: callers read its SQLSTATE (e.g. 23505).
 */
function transientAsRetryable(err: unknown): never {
  const { code, message } = err as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(err);
  const transient =
    (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_SOCKET.has(code)))
    || /Connection terminated|connection timeout|Client has encountered a connection error/i.test(text);
  if (!transient) throw err;
  throw new SwitchyardError('STORE_UNREACHABLE', `PostgreSQL: ${text}`, {
    cause: err,
    retryable: true,
    details: typeof code === 'string' ? { sqlstate: code } : undefined,
  });
}

/** Removes the password from a connection string before it is shown. */
/**
 * The URL's own `options` (session settings such as `-c wal_compression=lz4`, docs/deploy.md) are
 * kept next to the schema's search_path: pg lets the URL's value replace a separate `options`.
 */
function withSearchPath(url: string, schema: string | undefined): { connectionString: string; options?: string } {
  if (schema === undefined) return { connectionString: url };
  const searchPath = `-c search_path=${schema},public`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { connectionString: url, options: searchPath };
  }
  const own = parsed.searchParams.get('options');
  if (own === null) return { connectionString: url, options: searchPath };
  parsed.searchParams.set('options', `${own} ${searchPath}`);
  return { connectionString: parsed.toString() };
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
