/**
 * Store adapter on embedded PGlite (WASM PostgreSQL), the default. One connection per process:
 * PGlite serialises queries itself, and a transaction holds the connection until it ends, so
 * callers keep transactions short. A failed transaction is always rolled back (PGlite's
 * transaction() does so), because an aborted one would poison every later query.
 */
import { PGlite, types } from '@electric-sql/pglite';
import { mkdirSync } from 'node:fs';
import { SwitchyardError } from '../../core/errors.ts';
import type { Db, Queryable, QueryResult } from '../port.ts';

const PARSERS = { [types.INT8]: (v: string) => Number(v) };

export interface PgliteOptions {
  /** A directory for durable data, or undefined for an in-memory database (tests). */
  dataDir?: string;
}

export async function createPgliteDb(options: PgliteOptions = {}): Promise<Db> {
  let pg: PGlite;
  try {
    if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true });
    pg = await PGlite.create(options.dataDir ?? 'memory://', { parsers: PARSERS });
  } catch (cause) {
    throw new SwitchyardError('STORE_UNREACHABLE', `cannot open PGlite data directory ${options.dataDir ?? '(memory)'}: ${String(cause)}`, { cause });
  }
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const res = await q.query<R>(sql, params as unknown[]);
      return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  const self = wrap(pg);
  return {
    kind: 'pglite',
    ...self,
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    async listen(channel, onNotify) {
      const unsubscribe = await pg.listen(channel, onNotify);
      return async () => { await unsubscribe(); };
    },
    async ping() {
      if (pg.closed) throw new SwitchyardError('STORE_UNREACHABLE', 'PGlite is closed');
      await pg.query('select 1');
    },
    async close() {
      if (!pg.closed) await pg.close();
    },
  };
}
