/** The store port contract: PGlite and PostgreSQL must behave the same for what services rely on. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { Db } from '../../src/store/port.ts';
import { uniqueName } from '../support/databases.ts';

export function storeContract(label: string, open: () => Promise<Db>): void {
  it(`${label}: parses int8 as number, timestamptz as Date, jsonb as objects`, async () => {
    const db = await open();
    const {
      rows: [r],
    } = await db.query<{ n: number; t: Date; j: unknown }>(
      `select 9007199254740::int8 as n, '2026-01-02T03:04:05Z'::timestamptz as t, '{"a":[1,2]}'::jsonb as j`,
    );
    assert.deepEqual(r, { n: 9007199254740, t: new Date('2026-01-02T03:04:05Z'), j: { a: [1, 2] } });
  });

  it(`${label}: a transaction commits when its function resolves and rolls back when it throws`, async () => {
    const db = await open();
    const table = uniqueName('tx');
    await db.exec(`create table ${table} (id int primary key)`);
    await db.transaction(async (tx) => {
      await tx.query(`insert into ${table} values (1)`);
    });
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(`insert into ${table} values (2)`);
        throw new Error('abort');
      }),
      /abort/,
    );
    // a failed statement inside a transaction must not poison later queries
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(`insert into ${table} values (1)`);
      }),
      /duplicate key/,
    );
    const { rows } = await db.query<{ id: number }>(`select id from ${table} order by id`);
    assert.deepEqual(
      rows.map((r) => r.id),
      [1],
    );
  });

  it(`${label}: rowCount counts affected rows; arrays and jsonb parameters work set-wise`, async () => {
    const db = await open();
    const table = uniqueName('sets');
    await db.exec(`create table ${table} (id text primary key, v jsonb)`);
    const res = await db.query(
      `insert into ${table} (id, v) select * from jsonb_to_recordset($1::jsonb) as x(id text, v jsonb)
        on conflict do nothing`,
      [
        JSON.stringify([
          { id: 'a', v: { x: 1 } },
          { id: 'b', v: null },
        ]),
      ],
    );
    assert.equal(res.rowCount, 2);
    const del = await db.query(`delete from ${table} where id = any($1::text[])`, [['a', 'zz']]);
    assert.equal(del.rowCount, 1);
  });

  it(`${label}: listen receives notifications`, async () => {
    const db = await open();
    const channel = uniqueName('chan');
    const got = new Promise<string>((resolve) => {
      void db.listen(channel, resolve).then(async () => db.query('select pg_notify($1, $2)', [channel, 'hello']));
    });
    assert.equal(await got, 'hello');
  });

  it(`${label}: ping succeeds on an open database`, async () => {
    await (await open()).ping();
  });
}
