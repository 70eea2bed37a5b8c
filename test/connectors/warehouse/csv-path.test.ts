/**
 * CSV audiences only from the allowed directories, on the real file system: the file-leak attacks
 * of issue 12 (procfs environ with a NUL delimiter, password files, `..`, the data directory's
 * tracking secret, a symlink out) are refused before a byte is read, and nothing of the target
 * file appears in the error. A file swapped for a symlink after its check is refused at open.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsvWarehouse } from '../../../src/connectors/warehouse/csv/adapter.ts';
import { checkCsvPath, resolveCsvDirs } from '../../../src/connectors/warehouse/csv/allowed-path.ts';
import type { SchemaMapping } from '../../../src/connectors/warehouse/port.ts';
import { collect } from './port.contract.ts';

const root = mkdtempSync(join(tmpdir(), 'sy-csvdirs-'));
after(() => rmSync(root, { recursive: true, force: true }));
const dataDir = join(root, 'data');
const allowed = join(dataDir, 'audiences');
mkdirSync(allowed, { recursive: true });
const secretFile = join(dataDir, 'tracking-secret');
writeFileSync(secretFile, 'tracking-secret-value-0123456789\n', { mode: 0o600 });
const outside = join(root, 'outside.csv');
writeFileSync(outside, 'id,email\nleak-id,leaked@example.com\n');
writeFileSync(join(allowed, 'good.csv'), 'id,email\n1,a@example.com\n');
const MAPPING: SchemaMapping = { columns: { id: 'id', email: 'email' } };
const dirs = { dirs: [allowed] };

/** The error a stream (or check) of `path` ends with, as everything a caller could see of it. */
async function refusal(path: string, delimiter?: string): Promise<{ code: string; text: string }> {
  const warehouse = createCsvWarehouse({
    path,
    allowedDirs: [allowed],
    mapping: MAPPING,
    ...(delimiter ? { delimiter } : {}),
  });
  const checked = await warehouse.check({}).then(
    () => null,
    (e: unknown) => e,
  );
  const streamed = await collect(warehouse.stream({}, { batchSize: 10 })).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(checked !== null && streamed !== null, `${path} was accepted`);
  const e = streamed as { code: string; message: string; details?: unknown };
  assert.equal((checked as { code: string }).code, e.code);
  return { code: e.code, text: `${(checked as Error).message}\n${e.message}\n${JSON.stringify(e.details ?? {})}` };
}

/** No line (of 4+ characters) of the target file appears in `text`. */
function assertNoLineOf(file: string, text: string): void {
  let content = '';
  try {
    content = readFileSync(file, 'latin1');
  } catch {
    return;
  } // unreadable here: nothing to compare
  for (const line of content
    .split(/[\n\0]/)
    .map((l) => l.trim())
    .filter((l) => l.length >= 4)) {
    assert.ok(!text.includes(line), `error text contains a line of ${file}`);
  }
}

test('csv dirs: the issue-12 file leaks are refused and their content never appears', async () => {
  const targets: [string, string | undefined][] = [
    ['/proc/self/environ', '\t'],
    ['/etc/passwd', ':'],
    ['/etc/shadow', ':'],
    ['../../../../../../../../etc/passwd', ':'],
    ['../tracking-secret', undefined],
    [secretFile, undefined],
    [outside, undefined],
  ];
  for (const [path, delimiter] of targets) {
    const { code, text } = await refusal(path, delimiter);
    assert.equal(code, 'AUDIENCE_PATH_NOT_ALLOWED', path);
    assert.match(text, new RegExp(`inside ${allowed.replaceAll('/', '\\/')}`));
    assertNoLineOf(path.startsWith('/') ? path : join(allowed, path), text);
  }
});

test('csv dirs: a NUL delimiter (the procfs environ trick) is refused before the path is looked at', () => {
  assert.throws(
    () =>
      createCsvWarehouse({ path: '/proc/self/environ', allowedDirs: [allowed], mapping: MAPPING, delimiter: '\u0000' }),
    (e: { code: string; message: string }) => e.code === 'VALIDATION_FAILED' && /delimiter/.test(e.message),
  );
  for (const bad of ['\n', '\r', '"', 'a', '7', ' ', ',,', '']) {
    assert.throws(
      () => createCsvWarehouse({ path: 'good.csv', allowedDirs: [allowed], mapping: MAPPING, delimiter: bad }),
      /delimiter/,
    );
  }
});

test('csv dirs: a symlink inside the directory that points out is refused; one that stays inside is read', async () => {
  const link = join(allowed, 'innocent.csv');
  symlinkSync(outside, link);
  const { code, text } = await refusal(link);
  assert.equal(code, 'AUDIENCE_PATH_NOT_ALLOWED');
  assert.match(text, /after resolving symlinks/);
  assertNoLineOf(outside, text);
  symlinkSync('/proc/self/environ', join(allowed, 'env.csv'));
  assert.equal((await refusal(join(allowed, 'env.csv'), '\t')).code, 'AUDIENCE_PATH_NOT_ALLOWED');
  symlinkSync(join(allowed, 'good.csv'), join(allowed, 'alias.csv'));
  const rows = (
    await collect(
      createCsvWarehouse({ path: 'alias.csv', allowedDirs: [allowed], mapping: MAPPING }).stream({}, { batchSize: 10 }),
    )
  ).flatMap((b) => b.rows);
  assert.deepEqual(
    rows.map((r) => r.id),
    ['1'],
  );
});

test('csv dirs: directories, devices and FIFOs are not regular files', async () => {
  mkdirSync(join(allowed, 'sub.csv'));
  assert.match((await refusal(join(allowed, 'sub.csv'))).text, /a directory, not a regular file/);
  symlinkSync('/dev/zero', join(allowed, 'zero.csv'));
  assert.equal((await refusal(join(allowed, 'zero.csv'))).code, 'AUDIENCE_PATH_NOT_ALLOWED');
  const fifo = join(allowed, 'pipe.csv');
  try {
    execFileSync('mkfifo', [fifo]);
  } catch {
    return;
  } // no mkfifo here: the other kinds still ran
  assert.match((await refusal(fifo)).text, /a FIFO, not a regular file/);
});

test('csv dirs: a file swapped for a symlink after it was checked is refused when it is opened', async () => {
  const path = join(allowed, 'swap.csv');
  writeFileSync(path, 'id,email\n1,a@example.com\n');
  const warehouse = createCsvWarehouse({ path, allowedDirs: [allowed], mapping: MAPPING });
  await warehouse.check({});
  unlinkSync(path);
  symlinkSync(secretFile, path);
  const err = (await collect(warehouse.stream({}, { batchSize: 10 })).then(
    () => null,
    (e: unknown) => e,
  )) as { code: string; message: string } | null;
  assert.equal(err?.code, 'AUDIENCE_PATH_NOT_ALLOWED');
  assertNoLineOf(secretFile, err?.message ?? '');
});

test('csv dirs: a missing file inside the directory is named; outside, missing and present look the same', async () => {
  const missing = (await checkCsvPath(join(allowed, 'nope.csv'), dirs).catch((e: unknown) => e)) as {
    code: string;
    message: string;
  };
  assert.equal(missing.code, 'WAREHOUSE_UNREACHABLE');
  assert.match(missing.message, /ENOENT/);
  // a campaign may be created before its file is uploaded: check() lets a missing allowed file pass
  await createCsvWarehouse({ path: 'later.csv', allowedDirs: [allowed], mapping: MAPPING }).check({});
  const a = (await checkCsvPath('/etc/passwd', dirs).catch((e: unknown) => e)) as Error;
  const b = (await checkCsvPath('/etc/no-such-file-here', dirs).catch((e: unknown) => e)) as Error;
  assert.equal(a.message.replace('/etc/passwd', 'X'), b.message.replace('/etc/no-such-file-here', 'X'));
});

test('csv dirs: configuration refuses the root, system trees, the data directory and its other parts', () => {
  for (const bad of ['/', '/proc', '/dev/shm', dataDir, root, join(dataDir, 'pglite'), '.']) {
    assert.throws(
      () => resolveCsvDirs([bad], dataDir),
      (e: { code: string }) => e.code === 'CONFIG_INVALID',
      bad,
    );
  }
  assert.deepEqual(resolveCsvDirs(['audiences', join(root, 'exports')], dataDir).dirs, [
    allowed,
    join(root, 'exports'),
  ]);
  assert.ok(existsSync(allowed));
});
