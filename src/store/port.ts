/**
 * The store port: one PostgreSQL dialect, whether embedded (PGlite) or a server (pg). Services
 * write plain SQL that runs on PostgreSQL 15 and on PGlite's 18. Row values come back parsed the
 * same way from both adapters: int8 → number, timestamptz → Date, json/jsonb → objects.
 */

export interface QueryResult<R> {
  rows: R[];
  /** Rows inserted, updated or deleted (or returned, for a select). */
  rowCount: number;
}

export interface Queryable {
  /** Runs one statement with positional parameters ($1…). Never paste values into `sql`. */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs several statements with no parameters (migrations, DDL). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /**
   * Runs `fn` in one transaction: commits when it resolves, rolls back when it throws (and
   * rethrows). Keep it short and never await network I/O inside: PGlite is one connection, so a
   * transaction blocks every other query of the process.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Subscribes to NOTIFY on `channel`; returns the unsubscribe function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Cheap round trip used by /readyz. Throws STORE_UNREACHABLE when the database is gone. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
