import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listMigrations, migrate } from '../../src/store/migrate.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import { TEST_DATABASE_URL, postgresUnreachable, testDatabases, uniqueName } from '../support/databases.ts';
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
      assert.deepEqual(
        rows.map((r) => r.id),
        listMigrations().map((m) => m.id),
      );
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
    await assert.rejects(
      migrate(db, listMigrations(dir)),
      (e: SwitchyardError) =>
        e.code === 'STORE_MIGRATION_FAILED' && /0002_broken/.test(e.message) && /missing_table/.test(e.message),
    );
    const { rows } = await db.query(`select to_regclass('half') as t`);
    assert.deepEqual(rows, [{ t: null }]);
    await db.close();
  });

  it(
    'a query whose connection dies is a retryable STORE_UNREACHABLE; a constraint violation keeps its ' + 'SQLSTATE',
    async (t) => {
      const reason = await postgresUnreachable();
      if (reason !== null) return t.skip(reason);
      const db = await createPostgresDb({ url: TEST_DATABASE_URL, schema: uniqueName('transient'), maxConnections: 2 });
      try {
        // the server ends this very backend (what a restart or an administrator does)
        await assert.rejects(
          db.query('select pg_terminate_backend(pg_backend_pid())'),
          (e: SwitchyardError) =>
            e.name === 'SwitchyardError'
            && e.code === 'STORE_UNREACHABLE'
            && e.retryable === true
            && /terminat/i.test(e.message),
        );
        await assert.rejects(
          db.transaction(async (tx) => {
            await tx.query('select pg_terminate_backend(pg_backend_pid())');
          }),
          (e: SwitchyardError) => e.code === 'STORE_UNREACHABLE' && e.retryable === true,
        );
        // the pool replaces the dead connections
        assert.deepEqual((await db.query<{ one: number }>('select 1 as one')).rows, [{ one: 1 }]);
        await db.exec('create table t (id int primary key)');
        await db.query('insert into t values (1)');
        await assert.rejects(
          db.query('insert into t values (1)'),
          (e: { code?: string; name?: string }) => e.code === '23505' && e.name !== 'SwitchyardError',
        );
      } finally {
        await db.close();
      }
    },
  );

  it('a LISTEN connection the server ends is replaced, and the listener is woken once it is back', async (t) => {
    const reason = await postgresUnreachable();
    if (reason !== null) return t.skip(reason);
    const db = await createPostgresDb({ url: TEST_DATABASE_URL, schema: uniqueName('relisten'), maxConnections: 3 });
    const channel = uniqueName('ch');
    const waiting = new Map<string, () => void>();
    const heard = (payload: string): Promise<void> => new Promise((resolve) => waiting.set(payload, resolve));
    const unlisten = await db.listen(channel, (payload) => waiting.get(payload)?.());
    // a safety net for a broken build, not a wait for a deadline
    const within = <T>(p: Promise<T>, what: string): Promise<T> =>
      Promise.race([
        p,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`not ${what} within 10 s`)), 10_000).unref(),
        ),
      ]);
    try {
      const { rows } = await db.query<{ pid: number }>('select pid from pg_stat_activity where query = $1', [
        `listen "${channel}"`,
      ]);
      assert.equal(rows.length, 1);
      const woken = heard('');
      await db.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
      // the process survives the lost connection; the replacement wakes the listener ('')
      await within(woken, 'woken after reconnecting');
      const after = heard('after');
      await db.query('select pg_notify($1, $2)', [channel, 'after']);
      await within(after, 'notified on the new connection');
    } finally {
      await unlisten();
      await db.close();
    }
  });

  it('an unreachable PostgreSQL is a clear STORE_UNREACHABLE without the password', async () => {
    await assert.rejects(
      createPostgresDb({ url: 'postgres://u:sekret@127.0.0.1:1/x' }),
      (e: SwitchyardError) =>
        e.code === 'STORE_UNREACHABLE' && /127\.0\.0\.1:1/.test(e.message) && !e.message.includes('sekret'),
    );
  });
});
