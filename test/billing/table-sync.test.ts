/**
 * The SQL billing table reader against a real PostgreSQL warehouse (TEST_DATABASE_URL or
 * 127.0.0.1:5432/test, a private schema), applying into the store (PGlite): keyset pages over
 * (updated_at, id) with ties, nothing skipped or repeated; bad rows dead-lettered and passed; a
 * later change (a refund) is read again by its new updated_at while the amount stays as first
 * written; rows still settling wait for the next poll; a bad query is refused with its code.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBillingService } from '../../src/billing/service.ts';
import { syncBillingTable } from '../../src/billing/table-sync.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { createSqlBillingTable } from '../../src/connectors/warehouse/postgres/billing-table.ts';
import type { SwitchyardError } from '../../src/core/errors.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { pgSchemaFixture } from '../support/pg-schema.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const ROWS = 2500;
const clock = createManualClock(NOW);
let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
});
after(() => db.close());

// 2500 payments, updated in groups of 10 at the same instant (ties on updated_at); every 500th
// has no currency (5 bad rows); every 100th carries our contact id
const setup = pgSchemaFixture('billing_tbl', async ({ url, schema, admin }) => {
  await admin.query(`create table ${schema}.payments (
      payment_id bigint primary key, amount numeric not null, cur text, paid_at timestamptz not null,
      updated_at timestamptz not null, customer text, email text, contact text, refunded bigint)`);
  await admin.query(
    `insert into ${schema}.payments
       select g, g * 10, case when g % 500 = 0 then null else 'EUR' end,
              $1::timestamptz - interval '10 days' + g * interval '1 second',
              $1::timestamptz - interval '2 days' + (g / 10) * interval '1 second',
              'cust' || (g % 300), 'Buyer' || g || '@Example.com', case when g % 100 = 0 then 'c-' || g end, null
       from generate_series(1, ${ROWS}) g`,
    [NOW],
  );
  const sql = `select payment_id as id, amount as amount_minor, cur as currency, paid_at as occurred_at, updated_at,
                      customer as customer_id, email, contact as contact_id, refunded as refunded_minor
               from ${schema}.payments`;
  return { url, sql, table: `${schema}.payments` };
});

function sync(url: string, sql: string, batchSize = 1000) {
  const bus = createPostgresLogBus({ db, clock });
  return syncBillingTable(
    {
      db,
      clock,
      billing: createBillingService({ db, clock }),
      source: createSqlBillingTable({ url, sql, name: 'payments' }),
      deadLetters: bus.deadLetters,
    },
    { batchSize, settleMs: 60_000 },
  );
}

async function count(sql: string): Promise<number> {
  return (await db.query<{ n: number }>(`select count(*)::int as n from (${sql}) x`)).rows[0]?.n ?? -1;
}

describe('SQL billing table', () => {
  it('reads every row once in keyset pages across updated_at ties, dead-letters bad rows', async (t) => {
    const f = await setup(t);
    if (f === null) return;
    const r = await sync(f.url, f.sql);
    assert.deepEqual(
      { pages: r.pages, rows: r.rows, conversions: r.conversions, rejected: r.rejected },
      { pages: 3, rows: ROWS, conversions: ROWS - 5, rejected: 5 },
    );
    assert.equal(await count(`select 1 from billing_conversions where source = 'sql'`), ROWS - 5);
    const sum = await db.query<{ s: string }>(
      `select sum(amount_minor)::text as s from billing_conversions where source = 'sql'`,
    );
    // Σ 10g over g = 1..2500 minus the five rows without currency (g = 500, 1000, …, 2500)
    assert.equal(Number(sum.rows[0]?.s), 10 * ((ROWS * (ROWS + 1)) / 2) - 10 * (500 + 1000 + 1500 + 2000 + 2500));
    const one = await db.query<{ email: string; customer_id: string; currency: string }>(
      `select email, customer_id, currency from billing_conversions where id = 'sql:7'`,
    );
    assert.deepEqual(one.rows[0], { email: 'buyer7@example.com', customer_id: 'sql:cust7', currency: 'eur' });
    // contact_id links directly, and teaches the customer (cust100 is also the customer of payment 400)
    assert.equal(
      await count(`select 1 from identity_links where key_kind = 'conversion' and key_value = 'sql:100'`),
      1,
    );
    assert.equal(
      (await db.query<{ contact_id: string }>(`select contact_id from identity_links where key_value = 'sql:400'`))
        .rows[0]?.contact_id,
      'c-400',
    );
    const dead = await createPostgresLogBus({ db, clock }).deadLetters.list({ stage: 'billing.sql' });
    assert.equal(dead.length, 5);
    assert.ok(dead.every((d) => d.code === 'BILLING_ROW_INVALID' && /column "currency"/.test(d.message)));
    assert.ok(
      dead.every((d) => !JSON.stringify(d.payload).includes('@')),
      'no row values in dead letters',
    );
  });

  it('caught up, a poll reads nothing; a later refund is read again, the amount stays as first written', async (t) => {
    const f = await setup(t);
    if (f === null) return;
    const idle = await sync(f.url, f.sql);
    assert.equal(idle.rows, 0);
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: f.url });
    await admin.connect();
    try {
      await admin.query(`update ${f.table} set refunded = 30, amount = 99999, updated_at = $1 where payment_id = 7`, [
        new Date(NOW.getTime() - 120_000),
      ]);
      // updated 10 s ago: still settling, left for a later poll
      await admin.query(`update ${f.table} set refunded = 5, updated_at = $1 where payment_id = 8`, [
        new Date(NOW.getTime() - 10_000),
      ]);
    } finally {
      await admin.end();
    }
    const r = await sync(f.url, f.sql);
    assert.equal(r.rows, 1);
    const refunds = await db.query<{ charge_id: string; refunded_minor: string }>(
      `select charge_id, refunded_minor::text from billing_refunds where charge_id in ('sql:7', 'sql:8')`,
    );
    assert.deepEqual(
      refunds.rows.map((x) => [x.charge_id, Number(x.refunded_minor)]),
      [['sql:7', 30]],
    );
    const amount = await db.query<{ a: string }>(
      `select amount_minor::text as a from billing_conversions where id = 'sql:7'`,
    );
    assert.equal(Number(amount.rows[0]?.a), 70);
    await clock.advance(60_000);
    const later = await sync(f.url, f.sql);
    assert.equal(later.rows, 1);
    assert.equal(await count(`select 1 from billing_refunds where charge_id = 'sql:8' and refunded_minor = 5`), 1);
  });

  it('a query without a required column, or not a SELECT, is refused with its code', async (t) => {
    const f = await setup(t);
    if (f === null) return;
    const missing = await sync(f.url, `select payment_id as id, updated_at from ${f.table}`).catch((e: unknown) => e);
    assert.equal((missing as SwitchyardError).code, 'VALIDATION_FAILED');
    assert.match((missing as SwitchyardError).message, /no column amount_minor, currency, occurred_at/);
    const write = await sync(f.url, `delete from ${f.table}`).catch((e: unknown) => e);
    assert.equal((write as SwitchyardError).code, 'AUDIENCE_SQL_INVALID');
  });
});
