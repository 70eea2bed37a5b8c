/**
 * New PGlite data directories start from a shared pristine cluster (src/store/pglite/adapter.ts):
 * each must still be a database of its own, and survive being closed and opened again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';

test('two new data directories are independent databases that reopen with their data', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sy-pglite-new-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const first = await createPgliteDb({ dataDir: join(root, 'a') });
  await first.query('create table only_in_a (n int)');
  await first.query('insert into only_in_a values (1), (2)');
  await first.close();

  const second = await createPgliteDb({ dataDir: join(root, 'b') });
  try {
    const { rows } = await second.query<{ t: string | null }>(`select to_regclass('only_in_a')::text as t`);
    assert.deepEqual(rows, [{ t: null }], 'a table made in one directory is not in the next new one');
  } finally {
    await second.close();
  }

  const reopened = await createPgliteDb({ dataDir: join(root, 'a') });
  try {
    const { rows } = await reopened.query<{ n: number }>('select count(*)::int as n from only_in_a');
    assert.deepEqual(rows, [{ n: 2 }]);
  } finally {
    await reopened.close();
  }
});
