/**
 * The PostgreSQL warehouse eraser (DSR step) on the real server: many erasures at once share its
 * few pooled connections (a connection each would exhaust the server's slots under a fan-out),
 * each runs its statements in one transaction, and a failing statement rolls its erasure back and
 * surfaces as a warehouse error code, the pool staying usable.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createPostgresWarehouseEraser } from '../../../src/connectors/warehouse/postgres/erase.ts';
import type { SwitchyardError } from '../../../src/core/errors.ts';
import { TEST_DATABASE_URL, postgresUnreachable, servicesRequired, uniqueName } from '../../support/databases.ts';

describe('postgres warehouse eraser', async () => {
  const reason = await postgresUnreachable();
  if (reason !== null && servicesRequired) throw new Error(reason);

  it('200 erasures at once over 3 pooled connections; a failing statement rolls back', {
    skip: reason ?? undefined,
  }, async (t) => {
    const schema = uniqueName('wh_erase');
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    t.after(async () => {
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    });
    await admin.query(`create schema ${schema}`);
    await admin.query(`create table ${schema}.contacts (email text, id text, note text)`);
    await admin.query(`insert into ${schema}.contacts select 'p' || i || '@x.example', 'c' || i, 'n'
      from generate_series(1, 300) i`);
    // the eraser's connections carry their own application name, so other sessions do not count
    const app = schema.slice(0, 60);
    const url = `${TEST_DATABASE_URL}${TEST_DATABASE_URL.includes('?') ? '&' : '?'}application_name=${app}`;
    const eraser = createPostgresWarehouseEraser({
      url,
      maxConnections: 3,
      statements: [
        `delete from ${schema}.contacts where email = any($1)`,
        `update ${schema}.contacts set note = null where id = any($2) or email = any($1)`,
      ],
    });
    let during = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await admin.query<{ n: string }>(
          'select count(*) as n from pg_stat_activity where application_name = $1',
          [app],
        );
        during = Math.max(during, Number(rows[0]!.n));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const counts = await Promise.all(
      Array.from({ length: 200 }, (_, i) => eraser.erase([`p${i + 1}@x.example`], [`c${i + 101}`])),
    );
    sampling = false;
    await sampler;
    assert.ok(during >= 1 && during <= 3, `at most the pool's 3 connections were open at once (${during})`);
    assert.ok(
      counts.every((c) => c.length === 2 && c[0] === 1),
      'each erasure deleted its own row',
    );
    const left = await admin.query<{ n: string }>(`select count(*) as n from ${schema}.contacts`);
    assert.equal(Number(left.rows[0]!.n), 100);

    const broken = createPostgresWarehouseEraser({
      url: TEST_DATABASE_URL,
      maxConnections: 1,
      statements: [`delete from ${schema}.contacts where email = any($1)`, `select 1 / 0`],
    });
    const err = (await broken.erase(['p250@x.example'], []).catch((e: unknown) => e)) as SwitchyardError;
    assert.match(err.code, /^WAREHOUSE_/);
    assert.doesNotMatch(err.message, /p250/);
    const still = await admin.query(`select 1 from ${schema}.contacts where email = 'p250@x.example'`);
    assert.equal(still.rows.length, 1, 'the delete before the failure was rolled back');
    // the pool is usable after a failure
    await assert.rejects(broken.erase(['p251@x.example'], []));
  });
});
