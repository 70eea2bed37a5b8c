/**
 * Test databases: one in-memory PGlite per test file, and a private schema on the real
 * PostgreSQL server (TEST_DATABASE_URL or 127.0.0.1:5432/test) when it is reachable. When it is
 * not, server suites skip with the reason, unless SWITCHYARD_REQUIRE_SERVICES=1 (CI), which
 * makes them fail. A schema is dropped only when its file passed, so failures can be inspected.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';
import { migrate } from '../../src/store/migrate.ts';
import type { Db } from '../../src/store/port.ts';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const servicesRequired = process.env.SWITCHYARD_REQUIRE_SERVICES === '1';

/** Resolves to null when reachable, or the reason it is not. */
export async function postgresUnreachable(url: string = TEST_DATABASE_URL): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (err) {
    return `PostgreSQL unreachable at ${url.replace(/\/\/([^:@/]+):[^@]*@/, '//$1:***@')}: ${(err as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface TestDatabase {
  label: 'pglite' | 'postgres';
  /** Set when the suite must skip; undefined when usable. */
  skip?: string;
  open(): Promise<Db>;
  /** Drops the schema if the file passed (call from after()). */
  close(passed: boolean): Promise<void>;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

function pgliteDatabase(): TestDatabase {
  let db: Promise<Db> | undefined;
  return {
    label: 'pglite',
    open: () =>
      (db ??= createPgliteDb({}).then(async (d) => {
        await migrate(d);
        return d;
      })),
    async close() {
      if (db) await (await db).close();
    },
  };
}

async function postgresDatabase(): Promise<TestDatabase> {
  const reason = await postgresUnreachable();
  if (reason !== null && servicesRequired) throw new Error(`${reason} (SWITCHYARD_REQUIRE_SERVICES=1)`);
  const schema = uniqueName('t');
  let db: Promise<Db> | undefined;
  return {
    label: 'postgres',
    skip: reason ?? undefined,
    open: () =>
      (db ??= createPostgresDb({ url: TEST_DATABASE_URL, schema, maxConnections: 6 }).then(async (d) => {
        await migrate(d);
        return d;
      })),
    async close(passed) {
      if (!db) return;
      const d = await db;
      if (passed) await d.exec(`drop schema if exists ${schema} cascade`);
      await d.close();
    },
  };
}

/** Both adapters: PGlite always, PostgreSQL when reachable (or required). */
export async function testDatabases(): Promise<TestDatabase[]> {
  return [pgliteDatabase(), await postgresDatabase()];
}
