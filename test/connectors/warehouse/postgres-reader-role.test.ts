/**
 * The least-privilege warehouse role of docs/connectors.md, applied as written (names swapped for
 * a private schema and role; the database-wide `... from public` revokes are left out, because
 * the test database is shared) against the real PostgreSQL server: audiences read the granted
 * table, and whatever the SQL says, that role cannot read another table, write, or read files,
 * even on a connection that bypasses the adapter's parser and read-only transaction.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { createPostgresWarehouse } from '../../../src/connectors/warehouse/postgres/adapter.ts';
import type { SchemaMapping } from '../../../src/connectors/warehouse/port.ts';
import { TEST_DATABASE_URL, uniqueName } from '../../support/databases.ts';
import { pgSchemaFixture } from '../../support/pg-schema.ts';
import { collect } from './port.contract.ts';

const SECRET = 'hunter2-s3cr3t-value';
const MAPPING: SchemaMapping = { columns: { id: 'id', email: 'email' } };
const role = uniqueName('sy_reader');
let roleCreated = false;

/** The SQL block under "A least-privilege warehouse role", one statement per entry. */
function documentedStatements(): string[] {
  const doc = readFileSync(new URL('../../../docs/connectors.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('#### A least-privilege warehouse role'));
  const block = /```sql\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'docs/connectors.md has the role SQL');
  return block
    .split('\n')
    .map((l) => l.replace(/--.*$/, ''))
    .join('\n')
    .split(';')
    .map((s) => s.trim().replace(/\s+/g, ' '))
    .filter((s) => s !== '');
}

const setup = pgSchemaFixture('wh_role', async ({ schema, admin, url }) => {
  await admin.query(`create table ${schema}.victim (id int primary key, email text)`);
  await admin.query(`insert into ${schema}.victim values (1, 'a@example.com'), (2, 'b@example.com')`);
  await admin.query(`create table ${schema}.secrets (secret text)`);
  await admin.query(`insert into ${schema}.secrets values ($1)`, [SECRET]);
  await admin.query(
    `create function ${schema}.sneaky() returns int language sql as $$ insert into ${schema}.victim values (999,
      'x@example.com') returning id $$`,
  );
  const database = new URL(url).pathname.slice(1);
  const applied: string[] = [];
  for (const statement of documentedStatements()) {
    if (/ from public$/.test(statement)) continue; // database-wide: not on a shared test database
    const sql = statement
      .replaceAll('switchyard_reader', role)
      .replaceAll('analytics', database)
      .replace(/marketing\.customers, marketing\.audience_v/, `${schema}.victim`)
      .replaceAll('marketing', schema);
    await admin.query(sql);
    roleCreated = true;
    applied.push(sql);
  }
  const reader = new URL(url);
  reader.username = role;
  reader.password = '';
  return { readerUrl: reader.toString(), applied };
});

// the role is cluster-wide: dropped whatever happened (the fixture's own client is closed by now)
after(async () => {
  if (!roleCreated) return;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`drop owned by ${role}`);
    await admin.query(`drop role if exists ${role}`);
  } finally {
    await admin.end();
  }
});

test('reader role: the documented grants are applied as written and read the granted table', async (t) => {
  const f = await setup(t);
  if (f === null) return;
  assert.ok(f.applied.some((s) => s.startsWith(`create role ${role} login`)));
  assert.ok(f.applied.some((s) => s === `grant select on ${f.schema}.victim to ${role}`));
  assert.ok(f.applied.some((s) => s.includes('default_transaction_read_only = on')));
  const warehouse = createPostgresWarehouse({ url: f.readerUrl, mapping: MAPPING, orderBy: 'id' });
  const rows = (await collect(warehouse.stream({ sql: `select id, email from ${f.schema}.victim` }, { batchSize: 10 })))
    .flatMap((b) => b.rows)
    .map((r) => r.email);
  assert.deepEqual(rows, ['a@example.com', 'b@example.com']);
});

test('reader role: another table, a write through a function and a file read are refused by SQLSTATE', async (t) => {
  const f = await setup(t);
  if (f === null) return;
  const warehouse = createPostgresWarehouse({ url: f.readerUrl, mapping: MAPPING, orderBy: 'id' });
  const refusals: Record<string, string> = {
    [`select v.id, v.email from ${f.schema}.victim v where exists (select 1 from ${f.schema}.secrets)`]: '42501',
    [`select id, email, ${f.schema}.sneaky() as n from ${f.schema}.victim`]: '25006',
  };
  for (const [sql, sqlstate] of Object.entries(refusals)) {
    const err = (await collect(warehouse.stream({ sql }, { batchSize: 10 })).then(
      () => null,
      (e: unknown) => e,
    )) as { code: string; message: string; details?: { sqlstate?: string } } | null;
    assert.equal(err?.code, 'WAREHOUSE_QUERY_FAILED', sql);
    assert.equal(err?.details?.sqlstate, sqlstate, sql);
    assert.ok(!err!.message.includes(SECRET));
  }

  // past the adapter (no parser, no read-only transaction of ours): the role itself refuses
  const direct = new pg.Client({ connectionString: f.readerUrl });
  await direct.connect();
  try {
    const code = (sql: string): Promise<string | undefined> =>
      direct.query(sql).then(
        () => undefined,
        (e: { code?: string }) => e.code,
      );
    assert.equal(await code(`update ${f.schema}.victim set id = id + 100`), '25006', 'read-only by default');
    assert.equal(
      await code(`begin read write; update ${f.schema}.victim set id = id + 100`),
      '42501',
      'and no update privilege when the session asks for read-write',
    );
    await direct.query('rollback');
    assert.equal(await code(`select secret from ${f.schema}.secrets`), '42501');
    assert.equal(await code(`select pg_read_file('/etc/passwd')`), '42501');
    assert.equal(await code(`create table ${f.schema}.dropped (a int)`), '25006');
  } finally {
    await direct.end();
  }
  const { rows } = await f.admin.query(`select id from ${f.schema}.victim order by id`);
  assert.deepEqual(
    rows.map((r: { id: number }) => r.id),
    [1, 2],
  );
});
