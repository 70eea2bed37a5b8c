/**
 * Warehouse SQL attacks of issue 12, against the real PostgreSQL server in a private schema:
 * several statements, DDL, data-modifying CTEs, locking and denied functions are refused by the
 * parser before anything runs; writes reached through a plain SELECT fail read-only; failures are
 * reported by SQLSTATE and never carry data (a cast of a secret column does not echo it); and the
 * statements the adapter builds always carry a parameter, so the extended protocol refuses a
 * second statement even if the parse check were bypassed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import pg from 'pg';
import { pino } from 'pino';
import {
  cursorStatement,
  createPostgresWarehouse,
  probeStatement,
} from '../../../src/connectors/warehouse/postgres/adapter.ts';
import { checkAudienceSql } from '../../../src/connectors/warehouse/postgres/sql-check.ts';
import type { SchemaMapping } from '../../../src/connectors/warehouse/port.ts';
import { pgSchemaFixture, type SchemaBase } from '../../support/pg-schema.ts';
import { collect } from './port.contract.ts';

const SECRET = 'hunter2-s3cr3t-value';
const MAPPING: SchemaMapping = { columns: { id: 'id', email: 'email' } };

type Fixture = SchemaBase;
const setup = pgSchemaFixture('wh_sql', async ({ schema, admin }) => {
  await admin.query(`create table ${schema}.victim (id int primary key, email text)`);
  await admin.query(
    `insert into ${schema}.victim values (1, 'a@example.com'), (2, 'b@example.com'), (3, 'c@example.com')`,
  );
  await admin.query(`create table ${schema}.secrets (secret text)`);
  await admin.query(`insert into ${schema}.secrets values ($1)`, [SECRET]);
  await admin.query(`create sequence ${schema}.s`);
  await admin.query(
    `create function ${schema}.sneaky() returns int language sql as $$ insert into ${schema}.victim values (999,
      'x@example.com') returning id $$`,
  );
  return {};
});

const victimIds = async (f: Fixture): Promise<number[]> =>
  (await f.admin.query(`select id from ${f.schema}.victim order by id`)).rows.map((r: { id: number }) => r.id);

async function failure(
  f: Fixture,
  sql: string,
  options: { statementTimeoutMs?: number; lockTimeoutMs?: number } = {},
): Promise<{ code: string; message: string; retryable: boolean; details?: Record<string, unknown> }> {
  const warehouse = createPostgresWarehouse({ url: f.url, mapping: MAPPING, orderBy: 'id', ...options });
  const err = await collect(warehouse.stream({ sql }, { batchSize: 10 })).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err !== null, `accepted: ${sql}`);
  return err as { code: string; message: string; retryable: boolean; details?: Record<string, unknown> };
}

test(
  'warehouse sql: several statements, DDL, writing CTEs, INTO, locks and denied functions are refused before '
    + 'anything runs',
  async (t) => {
    const f = await setup(t);
    if (f === null) return;
    const s = f.schema;
    const attacks: [string, RegExp][] = [
      [
        `select * from ${s}.victim limit 0; update ${s}.victim set id = id + 100; select * from ${s}.victim`,
        /exactly one statement, found 3/,
      ],
      [`drop table ${s}.victim`, /statement 1 is DropStmt/],
      ['create extension dblink', /statement 1 is CreateExtensionStmt/],
      [`update ${s}.victim set id = id + 100`, /statement 1 is UpdateStmt/],
      [`with x as (update ${s}.victim set id = id + 100 returning *) select * from x`, /UpdateStmt/],
      [`with x as (delete from ${s}.victim returning *) select * from x`, /DeleteStmt/],
      [`select * from ${s}.victim where id in (select id from ${s}.victim for update)`, /FOR UPDATE\/SHARE/],
      [`select * into ${s}.copied from ${s}.victim`, /SELECT … INTO/],
      [`select v.*, dblink_connect('host=127.0.0.1') from ${s}.victim v`, /dblink_connect\(\)/],
      [`select v.*, pg_catalog.pg_read_file('/etc/passwd') from ${s}.victim v`, /pg_read_file\(\)/],
      [`select v.*, pg_sleep(60) from ${s}.victim v`, /pg_sleep\(\)/],
      [`select v.*, current_setting('data_directory') from ${s}.victim v`, /current_setting\(\)/],
      [`select v.*, set_config('statement_timeout', '0', false) from ${s}.victim v`, /set_config\(\)/],
      [
        `select v.*, query_to_xml('update ${s}.victim set id = 0', true, true, '') from ${s}.victim v`,
        /query_to_xml\(\)/,
      ],
    ];
    for (const [sql, reason] of attacks) {
      const err = await failure(f, sql);
      assert.equal(err.code, 'AUDIENCE_SQL_INVALID', sql);
      assert.match(err.message, reason, sql);
    }
    assert.deepEqual(await victimIds(f), [1, 2, 3], 'the victim table is unchanged');
    const { rows } = await f.admin.query(
      `select count(*)::int as n from pg_tables where schemaname = $1 and tablename = 'copied'`,
      [s],
    );
    assert.equal(rows[0].n, 0);
  },
);

test('warehouse sql: writes reached through a plain SELECT fail read-only, reported by SQLSTATE only', async (t) => {
  const f = await setup(t);
  if (f === null) return;
  for (const sql of [
    `select id, email, ${f.schema}.sneaky() as n from ${f.schema}.victim`,
    `select id, email, nextval('${f.schema}.s') as n from ${f.schema}.victim`,
  ]) {
    const err = await failure(f, sql);
    assert.equal(err.code, 'WAREHOUSE_QUERY_FAILED');
    assert.match(err.message, /^the audience query failed \(SQLSTATE 25006: read_only_sql_transaction\)/);
    assert.doesNotMatch(err.message, /insert|nextval|cannot execute/i, 'not the server text');
  }
  assert.deepEqual(await victimIds(f), [1, 2, 3]);
});

test(
  'warehouse sql: a secret cast into an error never comes ' + 'back, in the message, details, cause or a log line',
  async (t) => {
    const f = await setup(t);
    if (f === null) return;
    const sql = `select id, email from ${f.schema}.victim where id = cast((select secret
    from ${f.schema}.secrets) as int)`;
    const err = await failure(f, sql);
    assert.equal(err.code, 'WAREHOUSE_QUERY_FAILED');
    assert.equal(err.details?.sqlstate, '22P02');
    assert.match(err.message, /SQLSTATE 22P02: invalid_text_representation/);
    const lines: string[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    log.error({ err }, 'campaign failed while selecting');
    const everything = [
      err.message,
      JSON.stringify(err.details),
      String((err as unknown as Error).stack),
      String((err as unknown as Error).cause),
      ...lines,
    ].join('\n');
    assert.ok(lines.length === 1);
    assert.ok(!everything.includes(SECRET), 'the secret leaked');
    assert.ok(!everything.includes('hunter2'));
  },
);

test(
  'warehouse sql: the column probe runs inside the ' + 'transaction with its timeouts; long statements are cut off',
  async (t) => {
    const f = await setup(t);
    if (f === null) return;
    // another session holds the table exclusively: the probe must give up at lock_timeout
    const locker = new pg.Client({ connectionString: f.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query(`lock table ${f.schema}.victim in access exclusive mode`);
      const locked = await failure(f, `select id, email from ${f.schema}.victim`, { lockTimeoutMs: 200 });
      assert.equal(locked.code, 'WAREHOUSE_UNREACHABLE');
      assert.equal(locked.details?.sqlstate, '55P03');
      assert.equal(locked.retryable, true);
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
    const slow = await failure(
      f,
      `select g as id, 'u' || g || '@example.com' as email from generate_series(1, 50000000) g order by md5(g::text)`,
      { statementTimeoutMs: 300 },
    );
    assert.equal(slow.code, 'WAREHOUSE_QUERY_FAILED');
    assert.match(slow.message, /SQLSTATE 57014: query_canceled\) \(statement timeout 300 ms\)/);
  },
);

test(
  'warehouse sql: built statements always bind a parameter, so a second statement cannot run even past the ' + 'parser',
  async (t) => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 5 }),
        fc.option(fc.string(), { nil: undefined }),
        (params, afterKey) => {
          const source = { text: 'select 1 as id', isSql: true };
          for (const st of [probeStatement(source, params), cursorStatement(source, params, 'id', afterKey)]) {
            assert.ok(st.values.length >= 1);
            const highest = Math.max(...[...st.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
            assert.equal(highest, st.values.length);
          }
        },
      ),
    );
    const f = await setup(t);
    if (f === null) return;
    const smuggled = {
      text: `select 1 as id) as a; update ${f.schema}.victim set id = id + 100; select * from (select 1 as id`,
      isSql: true,
    };
    const client = new pg.Client({ connectionString: f.url });
    await client.connect();
    try {
      const err = (await client.query(probeStatement(smuggled, [])).then(
        () => null,
        (e: unknown) => e,
      )) as { code?: string; message?: string } | null;
      assert.equal(err?.code, '42601');
      assert.match(err?.message ?? '', /cannot insert multiple commands into a prepared statement/);
    } finally {
      await client.end();
    }
    assert.deepEqual(await victimIds(f), [1, 2, 3]);
  },
);

test('warehouse sql: the parser check keeps one statement and drops a trailing semicolon and comment', async () => {
  assert.equal(await checkAudienceSql("select 1 as id, 'a@b.co' as email;  "), "select 1 as id, 'a@b.co' as email");
  assert.equal(await checkAudienceSql("select 'é' as x -- trailing comment"), "select 'é' as x -- trailing comment");
  await assert.rejects(checkAudienceSql('select 1; '.repeat(2)), /exactly one statement, found 2/);
  await assert.rejects(
    checkAudienceSql('select 1 /* never closed'),
    (e: { code: string }) => e.code === 'AUDIENCE_SQL_INVALID',
  );
  await assert.rejects(checkAudienceSql('select 1\u0000'), /NUL/);
  await assert.rejects(checkAudienceSql('(select 1) union (select 2 for share)'), /FOR UPDATE\/SHARE/);
  // deep or long input is refused, never a stack overflow (a 500)
  await assert.rejects(checkAudienceSql(`select ${Array(5000).fill('1').join('+')}`), /too deeply nested/);
  await assert.rejects(
    checkAudienceSql(`select 1 from t where ${Array(6000).fill('a = 1').join(' and ')}`),
    /longer than 20000 characters/,
  );
  // $n beyond the caller's parameters would bind the adapter's own (the limit, the resume key)
  await assert.rejects(checkAudienceSql('select * from t where id > $1'), /uses \$1 but 0 parameters are given/);
  assert.equal(await checkAudienceSql('select * from t where id > $1', 1), 'select * from t where id > $1');
});
