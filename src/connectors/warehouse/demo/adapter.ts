/**
 * The demo warehouse: a synthetic customer table of `size` contacts for `seed`, served through
 * the warehouse port for `npm start`, demos and benchmarks. Rows are computed per batch as the
 * consumer pulls (never all at once), in id order; `afterKey` is a contact id. It is a clearly
 * named stand-in, never what a test of a real adapter talks to.
 */
import { SwitchyardError } from '../../../core/errors.ts';
import { checkBatchSize } from '../batch.ts';
import { createRowMapper, parseSchemaMapping } from '../mapping.ts';
import type { SchemaMapping, Warehouse, WarehouseBatch, WarehouseQuery, WarehouseStreamOptions } from '../port.ts';
import { DEMO_COLUMNS, DEMO_MAPPING, demoIndexOf, demoValues } from './generate.ts';

export interface DemoWarehouseOptions {
  /** Number of contacts; default 50 000. */
  size?: number;
  /** Same seed, same contacts; default 1. */
  seed?: number;
  /** Default DEMO_MAPPING. */
  mapping?: SchemaMapping;
}

export function createDemoWarehouse(options: DemoWarehouseOptions = {}): Warehouse {
  const size = options.size ?? 50_000;
  const seed = options.seed ?? 1;
  if (!Number.isInteger(size) || size < 0 || size > 99_999_999)
    throw new SwitchyardError('VALIDATION_FAILED', `demo warehouse size must be an integer 0…99 999 999, got ${size}`);
  const mapping = parseSchemaMapping(options.mapping ?? DEMO_MAPPING);
  // nothing to check: the source is generated and `sql`/`table` are ignored
  return {
    name: 'demo',
    check: async () => undefined,
    stream: (query, opts) => streamDemo(size, seed, mapping, query, opts),
  };
}

async function* streamDemo(
  size: number,
  seed: number,
  mapping: SchemaMapping,
  query: WarehouseQuery,
  opts: WarehouseStreamOptions,
): AsyncGenerator<WarehouseBatch> {
  const batchSize = checkBatchSize(opts.batchSize);
  let next = 0;
  if (query.afterKey !== undefined && query.afterKey !== '') {
    const index = demoIndexOf(query.afterKey);
    if (index === null)
      throw new SwitchyardError(
        'VALIDATION_FAILED',
        `a demo warehouse resume key is a contact id like cus_00000042, got "${query.afterKey}"`,
      );
    next = index + 1;
  }
  const mapper = createRowMapper(mapping, DEMO_COLUMNS, 'demo warehouse');
  let position = 0;
  while (next < size) {
    opts.signal?.throwIfAborted();
    const end = Math.min(size, next + batchSize);
    const batch: WarehouseBatch = { rows: [], rejected: [], cursor: '' };
    for (let i = next; i < end; i += 1) {
      position += 1;
      const values = demoValues(seed, i);
      const outcome = mapper.map(values);
      if (outcome.ok) batch.rows.push(outcome.contact);
      else batch.rejected.push({ rowNumber: position, reason: outcome.reason, raw: mapper.toObject(values) });
      batch.cursor = values[0]!;
    }
    opts.onRowsRead?.(end - next);
    next = end;
    yield batch;
  }
}
