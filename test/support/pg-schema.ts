/**
 * A private PostgreSQL schema per test file, created on first use and dropped after the file only
 * when every test passed (kept after a failure so its rows can be inspected). Call at module top
 * level: it registers the file's afterEach/after hooks.
 */
import { after, afterEach, type TestContext } from 'node:test';
import pg from 'pg';
import { uniqueName } from './databases.ts';
import { requirePostgres } from './services.ts';

export interface SchemaBase {
  url: string;
  schema: string;
  admin: pg.Client;
}

/** Returns `setup(t)`: the filled schema, or null when the server is down (the test was skipped). */
export function pgSchemaFixture<F>(
  prefix: string,
  fill: (base: SchemaBase) => Promise<F>,
): (t: TestContext) => Promise<(SchemaBase & F) | null> {
  let fixture: Promise<SchemaBase & F> | undefined;
  let allPassed = true;
  afterEach((t) => {
    if ('passed' in t && t.passed === false) allPassed = false;
  });
  after(async () => {
    if (fixture === undefined) return;
    const { admin, schema } = await fixture;
    if (allPassed) await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  });
  return async (t) => {
    const url = await requirePostgres(t);
    if (url === null) return null;
    fixture ??= (async () => {
      const schema = uniqueName(prefix);
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
      const base = { url, schema, admin };
      return { ...base, ...(await fill(base)) };
    })();
    return fixture;
  };
}
