/**
 * One in-memory PGlite for a whole test file: opened (and prepared: migrated, or a fixture schema
 * created) on first use, closed after the file's tests. Call at the top level of the file.
 */
import { after } from 'node:test';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

export function filePglite(prepare: (db: Db) => Promise<unknown>): () => Promise<Db> {
  let opened: Promise<Db> | undefined;
  after(async () => {
    if (opened !== undefined) await (await opened).close();
  });
  return () =>
    (opened ??= createPgliteDb({}).then(async (db) => {
      await prepare(db);
      return db;
    }));
}
