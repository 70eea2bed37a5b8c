/**
 * PostgreSQL warehouse against the real server (TEST_DATABASE_URL or 127.0.0.1:5432/test), in a
 * private schema filled set-wise with 50k rows; the schema is dropped only when the file passed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import pg from 'pg';
import { createPostgresWarehouse } from '../../../src/connectors/warehouse/postgres/adapter.ts';
import type { SchemaMapping, WarehouseBatch } from '../../../src/connectors/warehouse/port.ts';
import { uniqueName } from '../../support/databases.ts';
import { requirePostgres } from '../../support/services.ts';

const ROWS = 50_000;
const MAPPING: SchemaMapping = {
  columns: { id: 'customer_id', email: 'email_address', firstName: 'first_name', timezone: 'tz', country: 'country_code' },
  fields: ['plan'],
};

async function collect(it: AsyncIterable<WarehouseBatch>): Promise<WarehouseBatch[]> {
  const out: WarehouseBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

test('postgres warehouse', async (t) => {
  const url = await requirePostgres(t);
  if (url === null) return;
  const schema = uniqueName('wh_test');
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  let passed = true;
  t.after(async () => {
    if (passed) await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  });
  await admin.query(`create schema ${schema}`);
  await admin.query(`create table ${schema}.customers (
      customer_id bigint primary key, email_address text, first_name text, tz text, country_code text, plan text)`);
  // Every 1000th row has an address without @ (50 rejects); every 7th has no time zone.
  await admin.query(`insert into ${schema}.customers
      select g, case when g % 1000 = 0 then 'broken-' || g else 'user' || g || '@example.com' end,
             'Name' || g, case when g % 7 = 0 then null else 'Europe/Berlin' end, 'de',
             (array['free','pro','enterprise'])[1 + g % 3]
      from generate_series(1, ${ROWS}) g`);
  const warehouse = createPostgresWarehouse({ url, mapping: MAPPING, orderBy: 'customer_id' });
  const table = `${schema}.customers`;

  const sub = (name: string, fn: () => Promise<void>) => t.test(name, async () => {
    try { await fn(); } catch (err) { passed = false; throw err; }
  });

  await sub('streams all 50k rows in order, in batches, with the bad ones rejected', async () => {
    const batches = await collect(warehouse.stream({ table }, { batchSize: 5000 }));
    assert.equal(batches.length, 10);
    assert.ok(batches.every((b) => b.rows.length + b.rejected.length === 5000));
    const ids = batches.flatMap((b) => b.rows.map((r) => Number(r.id)));
    assert.equal(ids.length, ROWS - 50);
    assert.ok(ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? 0)), 'ids ascend');
    assert.equal(batches[0]?.cursor, '5000');
    assert.equal(batches.at(-1)?.cursor, String(ROWS));
    const first = batches[0]?.rows[0];
    assert.deepEqual(first, { id: '1', email: 'user1@example.com', timezone: 'Europe/Berlin', country: 'DE', fields: { firstName: 'Name1', plan: 'pro' } });
    assert.equal(batches[0]?.rows[6]?.timezone, undefined, 'null time zone is absent, not rejected');
    const rejected = batches.flatMap((b) => b.rejected);
    assert.equal(rejected.length, 50);
    assert.equal(rejected[0]?.rowNumber, 1000);
    assert.match(rejected[0]?.reason ?? '', /column "email_address" \(email\) has no @: "broken-1000"/);
    assert.equal((rejected[0]?.raw as Record<string, unknown>).customer_id, '1000');
  });

  await sub('resumes after a key with a parameterised SQL query', async () => {
    const sql = `select * from ${schema}.customers where plan <> $1`;
    const batches = await collect(warehouse.stream({ sql, params: ['free'], afterKey: '30000' }, { batchSize: 4000 }));
    const ids = batches.flatMap((b) => [...b.rows.map((r) => Number(r.id)), ...b.rejected.map((r) => Number((r.raw as { customer_id: string }).customer_id))]);
    assert.equal(ids[0], 30001);
    assert.equal(ids.length, [...Array(ROWS - 30000).keys()].map((i) => i + 30001).filter((g) => g % 3 !== 0).length);
    // Resuming from a batch's cursor continues exactly after it.
    const again = await collect(warehouse.stream({ sql, params: ['free'], afterKey: batches[0]?.cursor }, { batchSize: 4000 }));
    assert.deepEqual(again[0]?.rows[0], batches[1]?.rows[0]);
  });

  await sub('holds at most about one batch ahead of a slow consumer', async () => {
    let fetched = 0;
    let consumed = 0;
    let maxAhead = 0;
    for await (const batch of warehouse.stream({ table }, { batchSize: 1000, onRowsRead: (n) => { fetched += n; } })) {
      // Give any eager read-ahead every chance to run before this consumer takes more.
      for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
      consumed += batch.rows.length + batch.rejected.length;
      maxAhead = Math.max(maxAhead, fetched - consumed);
    }
    assert.equal(consumed, ROWS);
    assert.ok(maxAhead <= 2 * 1000, `read ahead ${maxAhead} rows`);
  });

  await sub('breaking out early releases the connection', async () => {
    for await (const batch of warehouse.stream({ table }, { batchSize: 100 })) {
      assert.equal(batch.rows.length, 100);
      break;
    }
    const { rows } = await admin.query(`select count(*)::int as n from pg_stat_activity where application_name = 'switchyard-warehouse'`);
    assert.equal(rows[0].n, 0);
  });

  await sub('aborting stops the stream with the signal reason', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const err = await (async () => {
      for await (const batch of warehouse.stream({ table }, { batchSize: 100, signal: controller.signal })) {
        seen.push(batch.rows.length);
        controller.abort(new Error('stop now'));
      }
    })().catch((e: unknown) => e);
    assert.deepEqual(seen, [100]);
    assert.equal((err as Error).message, 'stop now');
  });

  await sub('a bad query is a non-retryable WAREHOUSE_UNREACHABLE with the server message', async () => {
    const err = await collect(warehouse.stream({ sql: 'selec * from nowhere' }, { batchSize: 10 })).catch((e: unknown) => e);
    assert.equal((err as { code: string }).code, 'WAREHOUSE_UNREACHABLE');
    assert.equal((err as { retryable: boolean }).retryable, false);
    assert.match((err as Error).message, /failed: syntax error at or near "from" \(SQLSTATE 42601\)/);
    const missing = await collect(warehouse.stream({ table: `${schema}.nope` }, { batchSize: 10 })).catch((e: unknown) => e);
    assert.match((missing as Error).message, /relation ".*nope" does not exist \(SQLSTATE 42P01\)/);
  });

  await sub('a source without the email column is fatal before streaming, naming it', async () => {
    const sql = `select customer_id, first_name from ${schema}.customers`;
    const err = await collect(warehouse.stream({ sql }, { batchSize: 10 })).catch((e: unknown) => e);
    assert.equal((err as { code: string }).code, 'WAREHOUSE_ROW_INVALID');
    assert.match((err as Error).message, /no column "email_address" \(mapped as email\)/);
    const noKey = await collect(warehouse.stream({ sql: `select email_address, customer_id as cid from ${schema}.customers` }, { batchSize: 10 })).catch((e: unknown) => e);
    assert.match((noKey as Error).message, /no column "customer_id" \(mapped as id\)/);
  });

  await sub('a query and a table together are refused', async () => {
    const err = await collect(warehouse.stream({ sql: 'select 1', table }, { batchSize: 10 })).catch((e: unknown) => e);
    assert.equal((err as { code: string }).code, 'VALIDATION_FAILED');
  });

  await sub('an unreachable server is a retryable WAREHOUSE_UNREACHABLE naming the host, not the password', async () => {
    const port = await closedPort();
    const down = createPostgresWarehouse({ url: `postgres://app:s3cret-pw@127.0.0.1:${port}/dw`, mapping: MAPPING, orderBy: 'customer_id' });
    const err = await collect(down.stream({ table: 'customers' }, { batchSize: 10 })).catch((e: unknown) => e);
    assert.equal((err as { code: string }).code, 'WAREHOUSE_UNREACHABLE');
    assert.equal((err as { retryable: boolean }).retryable, true);
    assert.match((err as Error).message, new RegExp(`127\\.0\\.0\\.1:${port}/dw`));
    assert.doesNotMatch((err as Error).message, /s3cret/);
  });
});
