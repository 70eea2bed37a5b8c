import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';

function looseEntries(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((p) => join(dir, p))
    .filter((p) => (statSync(p).mode & 0o077) !== 0);
}

test('PGlite data files are readable and writable by their owner only', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sy-pglite-files-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dataDir = join(root, 'data', 'pglite');
  const db = await createPgliteDb({ dataDir });
  try {
    assert.equal(statSync(dataDir).mode & 0o777, 0o700, 'the directory is closed to others while open');
    assert.equal(statSync(join(root, 'data')).mode & 0o777, 0o700, 'so is the parent it created');
    await db.query('create table t (a int)');
    await db.query('insert into t select generate_series(1, 1000)');
  } finally {
    await db.close();
  }
  assert.deepEqual(looseEntries(dataDir), []);
});
