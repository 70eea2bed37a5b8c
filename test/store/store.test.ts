import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listMigrations, migrate } from '../../src/store/migrate.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import { TEST_DATABASE_URL, testDatabases, uniqueName } from '../support/databases.ts';
import { storeContract } from './port.contract.ts';
import type { SwitchyardError } from '../../src/core/errors.ts';

for (const tdb of await testDatabases()) {
  describe(`store on ${tdb.label}`, { skip: tdb.skip }, () => {
    after(() => tdb.close(true));
    storeContract(tdb.label, () => tdb.open());

    it(`${tdb.label}: migrations are recorded and a second run applies nothing`, async () => {
      const db = await tdb.open();
      assert.deepEqual(await migrate(db), []);
      const { rows } = await db.query<{ id: number }>('select id from switchyard_migrations order by id');
      assert.deepEqual(rows.map((r) => r.id), listMigrations().map((m) => m.id));
    });
  });
}

describe('migrations', () => {
  it('two processes migrating one PostgreSQL schema at once apply each file exactly once', async (t) => {
    const [, pgdb] = await testDatabases();
    if (pgdb!.skip) return t.skip(pgdb!.skip);
    const schema = uniqueName('mig');
    const dir = mkdtempSync(join(tmpdir(), 'mig-'));
    writeFileSync(join(dir, '0001_one.sql'), 'create table counter (n int); insert into counter values (1);');
    writeFileSync(join(dir, '0002_two.sql'), 'update counter set n = n + 1;');
    const a = await createPostgresDb({ url: TEST_DATABASE_URL, schema });
    const b = await createPostgresDb({ url: TEST_DATABASE_URL, schema });
    try {
      const results = await Promise.all([migrate(a, listMigrations(dir)), migrate(b, listMigrations(dir))]);
      assert.deepEqual(results.flat().sort(), ['0001_one', '0002_two']);
      const { rows } = await a.query<{ n: number }>('select n from counter');
      assert.deepEqual(rows, [{ n: 2 }]);
      await a.exec(`drop schema ${schema} cascade`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a failing migration rolls back and names the file', async () => {
    const db = await createPgliteDb({});
    const dir = mkdtempSync(join(tmpdir(), 'mig-'));
    writeFileSync(join(dir, '0001_ok.sql'), 'create table ok (n int);');
    writeFileSync(join(dir, '0002_broken.sql'), 'create table half (n int); select * from missing_table;');
    await assert.rejects(migrate(db, listMigrations(dir)), (e: SwitchyardError) =>
      e.code === 'STORE_MIGRATION_FAILED' && /0002_broken/.test(e.message) && /missing_table/.test(e.message));
    const { rows } = await db.query(`select to_regclass('half') as t`);
    assert.deepEqual(rows, [{ t: null }]);
    await db.close();
  });

  it('an unreachable PostgreSQL is a clear STORE_UNREACHABLE without the password', async () => {
    await assert.rejects(createPostgresDb({ url: 'postgres://u:sekret@127.0.0.1:1/x' }), (e: SwitchyardError) =>
      e.code === 'STORE_UNREACHABLE' && /127\.0\.0\.1:1/.test(e.message) && !e.message.includes('sekret'));
  });
});
