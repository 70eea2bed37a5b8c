/** Demo warehouse: deterministic synthetic contacts through the warehouse port. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDemoWarehouse } from '../../../src/connectors/warehouse/demo/adapter.ts';
import { DEMO_COLUMNS, demoRow } from '../../../src/connectors/warehouse/demo/generate.ts';
import { collect, warehouseContract } from './port.contract.ts';

warehouseContract('demo', async () => ({
  warehouse: createDemoWarehouse({ size: 20_000, seed: 7 }),
  query: {},
  total: 20_000,
  rejected: 0,
}));

test('demo: the same seed gives the same contacts, another seed different ones', async () => {
  const a = await collect(createDemoWarehouse({ size: 500, seed: 3 }).stream({}, { batchSize: 100 }));
  const b = await collect(createDemoWarehouse({ size: 500, seed: 3 }).stream({}, { batchSize: 250 }));
  const c = await collect(createDemoWarehouse({ size: 500, seed: 4 }).stream({}, { batchSize: 500 }));
  assert.deepEqual(
    a.flatMap((x) => x.rows),
    b.flatMap((x) => x.rows),
  );
  assert.notDeepEqual(
    a.flatMap((x) => x.rows.map((r) => r.email)),
    c.flatMap((x) => x.rows.map((r) => r.email)),
  );
});

test('demo: 50k contacts with reserved example domains, valid zones and a realistic mix', async () => {
  const batches = await collect(createDemoWarehouse({ size: 50_000, seed: 1 }).stream({}, { batchSize: 5000 }));
  const rows = batches.flatMap((b) => b.rows);
  assert.equal(rows.length, 50_000);
  assert.equal(batches.flatMap((b) => b.rejected).length, 0);
  assert.ok(
    rows.every((r) => /@((mail\.)?example\.(com|org|net)|shop\.example)$/.test(r.email)),
    'only reserved domains',
  );
  assert.equal(new Set(rows.map((r) => r.email)).size, rows.length, 'emails are unique');
  const countries = new Set(rows.map((r) => r.country));
  for (const c of ['US', 'CA', 'DE', 'FR', 'GB']) assert.ok(countries.has(c), c);
  const plans = new Map<unknown, number>();
  for (const r of rows) plans.set(r.fields.plan, (plans.get(r.fields.plan) ?? 0) + 1);
  assert.deepEqual([...plans.keys()].sort(), ['enterprise', 'free', 'pro', 'starter']);
  assert.ok((plans.get('free') ?? 0) > (plans.get('enterprise') ?? 0));
  const first = rows[0];
  assert.equal(first?.id, 'cus_00000001');
  assert.match(String(first?.fields.signupDate), /^20(19|2[0-5])-\d\d-\d\d$/);
  assert.match(String(first?.fields.lifetimeValue), /^\d+\.\d\d$/);
});

test('demo: a row is computed from (seed, index) alone', () => {
  const row = demoRow(9, 41_234);
  assert.deepEqual(Object.keys(row), [...DEMO_COLUMNS]);
  assert.deepEqual(demoRow(9, 41_234), row);
  assert.equal(row.customer_id, 'cus_00041235');
});

test('demo: a resume key that is not a demo id is VALIDATION_FAILED', async () => {
  const err = await collect(createDemoWarehouse({ size: 10 }).stream({ afterKey: '17' }, { batchSize: 5 })).catch(
    (e: unknown) => e,
  );
  assert.equal((err as { code: string }).code, 'VALIDATION_FAILED');
  assert.match((err as Error).message, /cus_00000042/);
});
