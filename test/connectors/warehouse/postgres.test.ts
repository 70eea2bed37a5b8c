/**
 * PostgreSQL warehouse against the real server (TEST_DATABASE_URL or 127.0.0.1:5432/test), in a
 * private schema filled set-wise with 50k rows; the schema is dropped only when the file passed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createPostgresWarehouse } from '../../../src/connectors/warehouse/postgres/adapter.ts';
import type { SchemaMapping } from '../../../src/connectors/warehouse/port.ts';
import { pgSchemaFixture } from '../../support/pg-schema.ts';
import { collect, warehouseContract } from './port.contract.ts';

const ROWS = 50_000;
const MAPPING: SchemaMapping = {
  columns: {
    id: 'customer_id',
    email: 'email_address',
    firstName: 'first_name',
    timezone: 'tz',
    country: 'country_code',
  },
  fields: ['plan'],
};

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** The shared 50k-row schema, created on first use; null (test skipped) when the server is down. */
const setup = pgSchemaFixture('wh_test', async ({ url, schema, admin }) => {
  await admin.query(`create table ${schema}.customers (
      customer_id bigint primary key, email_address text, first_name text, tz text, country_code text, plan text)`);
  // Every 1000th row has an address without @ (50 rejects); every 7th has no time zone.
  await admin.query(`insert into ${schema}.customers
      select g, case when g % 1000 = 0 then 'broken-' || g else 'user' || g || '@example.com' end,
             'Name' || g, case when g % 7 = 0 then null else 'Europe/Berlin' end, 'de',
             (array['free','pro','enterprise'])[1 + g % 3]
      from generate_series(1, ${ROWS}) g`);
  await admin.query(`create sequence ${schema}.rows_evaluated`);
  const warehouse = createPostgresWarehouse({ url, mapping: MAPPING, orderBy: 'customer_id' });
  return { warehouse, table: `${schema}.customers` };
});

warehouseContract('postgres', async (t) => {
  const f = await setup(t);
  return f === null ? null : { warehouse: f.warehouse, query: { table: f.table }, total: ROWS, rejected: 50 };
});

test('postgres: streams all 50k rows in order, in batches, with the bad ones rejected', async (t) => {
  const f = await setup(t);
  if (f === null) return;
  const { warehouse, table } = f;
  const batches = await collect(warehouse.stream({ table }, { batchSize: 5000 }));
  assert.equal(batches.length, 10);
  assert.ok(batches.every((b) => b.rows.length + b.rejected.length === 5000));
  const ids = batches.flatMap((b) => b.rows.map((r) => Number(r.id)));
  assert.equal(ids.length, ROWS - 50);
  assert.ok(
    ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? 0)),
    'ids ascend',
  );
  assert.equal(batches[0]?.cursor, '5000');
  assert.equal(batches.at(-1)?.cursor, String(ROWS));
  const first = batches[0]?.rows[0];
  assert.deepEqual(first, {
    id: '1',
    email: 'user1@example.com',
    timezone: 'Europe/Berlin',
    country: 'DE',
    fields: { firstName: 'Name1', plan: 'pro' },
  });
  assert.equal(batches[0]?.rows[6]?.timezone, undefined, 'null time zone is absent, not rejected');
  const rejected = batches.flatMap((b) => b.rejected);
  assert.equal(rejected.length, 50);
  assert.equal(rejected[0]?.rowNumber, 1000);
  assert.equal(rejected[0]?.reason, 'column "email_address" (email) has no @', 'the reason never quotes the value');
  assert.equal((rejected[0]!.raw as Record<string, unknown>).customer_id, '1000');
});

test('postgres: resumes after a key with a parameterised SQL query', async (t) => {
  const f = await setup(t);
  if (f === null) return;
  const { warehouse, schema } = f;
  const sql = `select * from ${schema}.customers where plan <> $1`;
  const batches = await collect(warehouse.stream({ sql, params: ['free'], afterKey: '30000' }, { batchSize: 4000 }));
  const ids = batches.flatMap((b) => [
    ...b.rows.map((r) => Number(r.id)),
    ...b.rejected.map((r) => Number((r.raw as { customer_id: string }).customer_id)),
  ]);
  assert.equal(ids[0], 30001);
  assert.equal(ids.length, [...Array(ROWS - 30000).keys()].map((i) => i + 30001).filter((g) => g % 3 !== 0).length);
  // Resuming from a batch's cursor continues exactly after it.
  const again = await collect(
    warehouse.stream({ sql, params: ['free'], afterKey: batches[0]?.cursor }, { batchSize: 4000 }),
  );
  assert.deepEqual(again[0]?.rows[0], batches[1]?.rows[0]);
});

test('postgres: the cursor runs read-only, so a query with side effects cannot write to the warehouse', async (t) => {
  const f = await setup(t);
  if (f === null) return;
  const { warehouse, schema } = f;
  const sql = `select c.*, nextval('${schema}.rows_evaluated') as n from ${schema}.customers c`;
  const err = await collect(warehouse.stream({ sql }, { batchSize: 100 })).catch((e: unknown) => e);
  assert.equal((err as { code: string }).code, 'WAREHOUSE_QUERY_FAILED');
  assert.equal((err as { retryable: boolean }).retryable, false);
  assert.match((err as Error).message, /^the audience query failed \(SQLSTATE 25006: read_only_sql_transaction\)/);
  assert.equal((err as { details: { sqlstate: string } }).details.sqlstate, '25006');
  const { rows } = await f.admin.query(`select last_value, is_called from ${schema}.rows_evaluated`);
  assert.equal(rows[0].is_called, false, 'the sequence never advanced');
});

test('postgres: breaking out early releases the connection', async (t) => {
  const f = await setup(t);
  if (f === null) return;
  const { warehouse, table, admin, schema } = f;
  for await (const batch of warehouse.stream({ table }, { batchSize: 100 })) {
    assert.equal(batch.rows.length, 100);
    break;
  }
  // only this file's connections: other test files stream from the same server concurrently
  const { rows } = await admin.query(
    `select count(*)::int as n from pg_stat_activity where application_name = 'switchyard-warehouse'
      and query like '%' || $1 || '%'`,
    [schema],
  );
  assert.equal(rows[0].n, 0);
});

test(
  'postgres: a query that does not parse is AUDIENCE_SQL_INVALID; one the server refuses is '
    + 'WAREHOUSE_QUERY_FAILED by SQLSTATE',
  async (t) => {
    const f = await setup(t);
    if (f === null) return;
    const { warehouse, schema } = f;
    const err = await collect(warehouse.stream({ sql: 'selec * from nowhere' }, { batchSize: 10 })).catch(
      (e: unknown) => e,
    );
    assert.equal((err as { code: string }).code, 'AUDIENCE_SQL_INVALID');
    assert.match((err as Error).message, /does not parse: syntax error at or near "selec" \(character 1\)/);
    const missing = await collect(warehouse.stream({ table: `${schema}.nope` }, { batchSize: 10 })).catch(
      (e: unknown) => e,
    );
    assert.equal((missing as { code: string }).code, 'WAREHOUSE_QUERY_FAILED');
    assert.equal((missing as { retryable: boolean }).retryable, false);
    assert.equal((missing as Error).message, 'the audience query failed (SQLSTATE 42P01: undefined_table)');
    const column = await collect(
      warehouse.stream({ sql: `select nope from ${schema}.customers` }, { batchSize: 10 }),
    ).catch((e: unknown) => e);
    assert.equal(
      (column as Error).message,
      'the audience query failed (SQLSTATE 42703: undefined_column) at character 8 of the query',
    );
  },
);

test('postgres: a source without the email column is fatal before streaming, naming it', async (t) => {
  const f = await setup(t);
  if (f === null) return;
  const { warehouse, schema } = f;
  const sql = `select customer_id, first_name from ${schema}.customers`;
  const err = await collect(warehouse.stream({ sql }, { batchSize: 10 })).catch((e: unknown) => e);
  assert.equal((err as { code: string }).code, 'WAREHOUSE_ROW_INVALID');
  assert.match((err as Error).message, /no column "email_address" \(mapped as email\)/);
  const noKey = await collect(
    warehouse.stream({ sql: `select email_address, customer_id as cid from ${schema}.customers` }, { batchSize: 10 }),
  ).catch((e: unknown) => e);
  assert.match((noKey as Error).message, /no column "customer_id" \(mapped as id\)/);
});

test('postgres: a query and a table together are refused', async (t) => {
  const f = await setup(t);
  if (f === null) return;
  const { warehouse, table } = f;
  const err = await collect(warehouse.stream({ sql: 'select 1', table }, { batchSize: 10 })).catch((e: unknown) => e);
  assert.equal((err as { code: string }).code, 'VALIDATION_FAILED');
});

test(
  'postgres: an unreachable server is a retryable ' + 'WAREHOUSE_UNREACHABLE naming the host, not the password',
  async () => {
    const port = await closedPort();
    const down = createPostgresWarehouse({
      url: `postgres://app:s3cret-pw@127.0.0.1:${port}/dw`,
      mapping: MAPPING,
      orderBy: 'customer_id',
    });
    const err = await collect(down.stream({ table: 'customers' }, { batchSize: 10 })).catch((e: unknown) => e);
    assert.equal((err as { code: string }).code, 'WAREHOUSE_UNREACHABLE');
    assert.equal((err as { retryable: boolean }).retryable, true);
    assert.match((err as Error).message, new RegExp(`127\\.0\\.0\\.1:${port}/dw`));
    assert.doesNotMatch((err as Error).message, /s3cret/);
  },
);
