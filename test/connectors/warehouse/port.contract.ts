/**
 * The warehouse port's contract, written from its doc comment: every adapter must pass it.
 * A harness gives the warehouse, a query over a known source, and what that source holds.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Warehouse, WarehouseBatch, WarehouseQuery } from '../../../src/connectors/warehouse/port.ts';

export interface WarehouseHarness {
  warehouse: Warehouse;
  query: WarehouseQuery;
  /** Rows in the source (accepted + rejected). */
  total: number;
  /** How many of them are rejected. */
  rejected: number;
}

export async function collect(it: AsyncIterable<WarehouseBatch>): Promise<WarehouseBatch[]> {
  const out: WarehouseBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

const keyOf = (b: WarehouseBatch): string[] => [
  ...b.rows.map((r) => `ok:${r.id}`),
  ...b.rejected.map((r) => `rej:${r.reason}:${JSON.stringify(r.raw)}`),
];

/** `setup(t)` resolves to null after skipping `t` with a reason (e.g. its server is unreachable). */
export function warehouseContract(label: string, setup: (t: TestContext) => Promise<WarehouseHarness | null>): void {
  test(`${label}: streams every row once, in batches of at most batchSize`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const batches = await collect(h.warehouse.stream(h.query, { batchSize: 997 }));
    assert.ok(batches.slice(0, -1).every((b) => b.rows.length + b.rejected.length === 997));
    assert.equal(
      batches.reduce((n, b) => n + b.rows.length + b.rejected.length, 0),
      h.total,
    );
    assert.equal(
      batches.reduce((n, b) => n + b.rejected.length, 0),
      h.rejected,
    );
    const ids = batches.flatMap((b) => b.rows.map((r) => r.id));
    assert.equal(new Set(ids).size, ids.length, 'no contact twice');
    assert.ok(batches.every((b) => b.rejected.every((r) => r.reason.length > 0 && Number.isInteger(r.rowNumber))));
  });

  test(`${label}: resuming from any batch cursor yields exactly the remaining rows`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const all = await collect(h.warehouse.stream(h.query, { batchSize: 5000 }));
    const pick = all[Math.floor(all.length / 2)] as WarehouseBatch;
    const expected = all.slice(all.indexOf(pick) + 1).flatMap(keyOf);
    const resumed = await collect(h.warehouse.stream({ ...h.query, afterKey: pick.cursor }, { batchSize: 5000 }));
    const got = resumed.flatMap(keyOf);
    assert.equal(got.length, expected.length);
    assert.deepEqual(got, expected);
  });

  test(`${label}: reads at most about one batch ahead of the consumer`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    let read = 0;
    let consumed = 0;
    let maxAhead = 0;
    for await (const b of h.warehouse.stream(h.query, {
      batchSize: 1000,
      onRowsRead: (n) => {
        read += n;
      },
    })) {
      for (let i = 0; i < 5; i += 1) await new Promise<void>((r) => setImmediate(r));
      consumed += b.rows.length + b.rejected.length;
      maxAhead = Math.max(maxAhead, read - consumed);
    }
    assert.equal(consumed, h.total);
    assert.ok(maxAhead <= 2 * 1000, `read ahead ${maxAhead} rows`);
  });

  test(`${label}: an aborted signal stops the stream with its reason`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const controller = new AbortController();
    let batches = 0;
    const err = await (async () => {
      for await (const _ of h.warehouse.stream(h.query, { batchSize: 10, signal: controller.signal })) {
        batches += 1;
        controller.abort(new Error('operator cancelled'));
      }
    })().catch((e: unknown) => e);
    assert.equal(batches, 1);
    assert.equal((err as Error).message, 'operator cancelled');
  });

  test(`${label}: check() accepts the source it streams, without reading a row`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    await h.warehouse.check(h.query);
  });

  test(`${label}: a bad batchSize is VALIDATION_FAILED`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const err = await collect(h.warehouse.stream(h.query, { batchSize: 0 })).catch((e: unknown) => e);
    assert.equal((err as { code: string }).code, 'VALIDATION_FAILED');
  });
}
