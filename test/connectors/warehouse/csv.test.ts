/** CSV warehouse on real files: generated demo CSVs with broken rows, and small fixtures. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsvWarehouse } from '../../../src/connectors/warehouse/csv/adapter.ts';
import { generateDemoCsv } from '../../../src/connectors/warehouse/demo/csv-file.ts';
import { DEMO_MAPPING } from '../../../src/connectors/warehouse/demo/generate.ts';
import type { SchemaMapping } from '../../../src/connectors/warehouse/port.ts';
import { collect, warehouseContract } from './port.contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'sy-csv-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const FIXTURES = new URL('../../fixtures/warehouse/csv/', import.meta.url).pathname;
const ALLOWED = [dir, FIXTURES];
const SIMPLE: SchemaMapping = { columns: { id: 'id', email: 'email', name: 'name' } };

const demoFile = (async () => {
  const path = join(dir, 'demo-10k.csv');
  const result = await generateDemoCsv(path, { size: 10_000, seed: 5, brokenRows: 20 });
  return { path, result };
})();

warehouseContract('csv', async () => {
  const { path } = await demoFile;
  return {
    warehouse: createCsvWarehouse({ allowedDirs: ALLOWED, path, mapping: DEMO_MAPPING }),
    query: {},
    total: 10_000,
    rejected: 20,
  };
});

test('csv: each broken row is rejected with its line and a reason naming the column; the rest stream on', async () => {
  const { path, result } = await demoFile;
  const batches = await collect(
    createCsvWarehouse({ allowedDirs: ALLOWED, path, mapping: DEMO_MAPPING }).stream({}, { batchSize: 3000 }),
  );
  const rejected = batches.flatMap((b) => b.rejected);
  assert.deepEqual(
    rejected.map((r) => r.rowNumber),
    result.broken.map((b) => b.line),
  );
  const reasons = new Map(result.broken.map((b, i) => [b.kind, rejected[i]?.reason]));
  assert.equal(reasons.get('column-count'), 'record has 11 fields but the header has 12');
  assert.match(reasons.get('invalid-email') ?? '', /^column "email_address" \(email\) contains whitespace/);
  assert.equal(reasons.get('missing-id'), 'column "customer_id" (id) is empty');
  assert.equal(reasons.get('bad-utf8'), 'column "first_name" is not valid UTF-8');
  assert.equal(batches.flatMap((b) => b.rows).length, 10_000 - 20);
});

test('csv: quoted fields keep delimiters and doubled quotes', async () => {
  const { path } = await demoFile;
  const rows = (
    await collect(
      createCsvWarehouse({ allowedDirs: ALLOWED, path, mapping: DEMO_MAPPING }).stream({}, { batchSize: 10_000 }),
    )
  ).flatMap((b) => b.rows);
  const companies = new Set(rows.map((r) => r.fields.company));
  assert.ok(companies.has('Umbrella, Inc.'));
  assert.ok(companies.has('Wayne "Enterprises"'));
});

test('csv: an unclosed quote is one rejected record naming the lines it swallowed; later rows survive', async () => {
  const path = join(FIXTURES, 'unclosed-quote-mid-file.csv');
  const [batch, ...rest] = await collect(
    createCsvWarehouse({ allowedDirs: ALLOWED, path, mapping: SIMPLE }).stream({}, { batchSize: 100 }),
  );
  assert.equal(rest.length, 0);
  assert.deepEqual(
    batch?.rows.map((r) => r.id),
    ['1', '5', '7', '8'],
  );
  assert.equal(batch?.rows[2]?.fields.name, 'Gus\nthe second line');
  assert.deepEqual(
    batch?.rejected.map((r) => [r.rowNumber, r.reason]),
    [
      [
        3,
        'unclosed or misplaced quote: a quoted field is followed by text before the delimiter (lines 3–5 '
          + 'were consumed by it)',
      ],
      [7, 'misplaced quote: a quote inside an unquoted field'],
    ],
  );
  assert.match(String(batch?.rejected[0]?.raw), /^2,"b@example\.com,Bob\n3,c@example\.com,Cat\n4,"/);
  assert.equal(batch?.cursor, '10');
});

test('csv: an unclosed quote at the end of the file is rejected, not thrown', async () => {
  const path = join(FIXTURES, 'unclosed-quote-at-end.csv');
  const [batch] = await collect(
    createCsvWarehouse({ allowedDirs: ALLOWED, path, mapping: SIMPLE }).stream({}, { batchSize: 100 }),
  );
  assert.deepEqual(
    batch?.rows.map((r) => r.id),
    ['1'],
  );
  assert.equal(batch?.rejected.length, 1);
  assert.equal(batch?.rejected[0]?.rowNumber, 3);
  assert.match(batch?.rejected[0]?.reason ?? '', /^unclosed quote: the file ends inside a quoted field/);
});

test('csv: semicolons, BOM and CRLF, with value rejections naming the column', async () => {
  const path = join(FIXTURES, 'semicolon-bom-crlf.csv');
  const mapping: SchemaMapping = { columns: { id: 'kundennummer', email: 'e_mail', timezone: 'zeitzone' } };
  const [batch] = await collect(
    createCsvWarehouse({ allowedDirs: ALLOWED, path, mapping, delimiter: ';' }).stream({}, { batchSize: 100 }),
  );
  assert.deepEqual(batch?.rows, [
    { id: '10', email: 'anna@example.com', timezone: 'Europe/Berlin', fields: {} },
    { id: '13', email: 'clara@example.com', fields: {} },
  ]);
  assert.deepEqual(
    batch?.rejected.map((r) => [r.rowNumber, r.reason]),
    [
      [3, 'column "zeitzone" (timezone) is not a known IANA time zone'],
      [4, 'column "e_mail" (email) is empty'],
    ],
  );
  assert.deepEqual(batch?.rejected[1]?.raw, { kundennummer: '12', e_mail: '', zeitzone: 'Europe/Vienna' });
});

test('csv: resumes after a line number', async () => {
  const path = join(FIXTURES, 'unclosed-quote-mid-file.csv');
  const [batch] = await collect(
    createCsvWarehouse({ allowedDirs: ALLOWED, path, mapping: SIMPLE }).stream({ afterKey: '6' }, { batchSize: 100 }),
  );
  assert.deepEqual(
    batch?.rows.map((r) => r.id),
    ['5', '7', '8'].slice(1),
  );
  assert.deepEqual(
    batch?.rejected.map((r) => r.rowNumber),
    [7],
  );
  const bad = await collect(
    createCsvWarehouse({ allowedDirs: ALLOWED, path, mapping: SIMPLE }).stream({ afterKey: 'cus_1' }, { batchSize: 1 }),
  ).catch((e: unknown) => e);
  assert.equal((bad as { code: string }).code, 'VALIDATION_FAILED');
});

test('csv: a missing email column, an empty file and a missing file are fatal and named', async () => {
  const noEmail = await collect(
    createCsvWarehouse({ allowedDirs: ALLOWED, path: join(FIXTURES, 'no-email-column.csv'), mapping: SIMPLE }).stream(
      {},
      { batchSize: 10 },
    ),
  ).catch((e: unknown) => e);
  assert.equal((noEmail as { code: string }).code, 'WAREHOUSE_ROW_INVALID');
  assert.match((noEmail as Error).message, /has no column "email" \(mapped as email\)/);
  const empty = await collect(
    createCsvWarehouse({ allowedDirs: ALLOWED, path: join(FIXTURES, 'empty.csv'), mapping: SIMPLE }).stream(
      {},
      { batchSize: 10 },
    ),
  ).catch((e: unknown) => e);
  assert.equal((empty as { code: string }).code, 'VALIDATION_FAILED');
  assert.match((empty as Error).message, /is empty: a header row is required/);
  const missingPath = join(dir, 'nope.csv');
  const missing = await collect(
    createCsvWarehouse({ allowedDirs: ALLOWED, path: missingPath, mapping: SIMPLE }).stream({}, { batchSize: 10 }),
  ).catch((e: unknown) => e);
  assert.equal((missing as { code: string }).code, 'WAREHOUSE_UNREACHABLE');
  assert.equal((missing as { retryable: boolean }).retryable, false);
  assert.match((missing as Error).message, new RegExp(`cannot read CSV file ${missingPath}: ENOENT`));
});

test('csv: a mapping without an email is refused before any file is read', () => {
  assert.throws(
    () =>
      createCsvWarehouse({
        allowedDirs: ALLOWED,
        path: 'x.csv',
        mapping: { columns: { id: 'id' } } as unknown as SchemaMapping,
      }),
    /"columns.email" is required/,
  );
});
