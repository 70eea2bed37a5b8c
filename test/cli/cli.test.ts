/** The `switchyard` binary, spawned as a user would run it, on a temporary PGlite data dir. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;

function run(
  args: string[],
  env: Record<string, string> = {},
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, LOG_LEVEL: 'silent', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('switchyard CLI', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-cli-'));

  it('migrate applies the schema once, then reports it up to date', () => {
    const first = run(['migrate'], { SWITCHYARD_DATA_DIR: dataDir });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /applied 0001_bus/);
    const second = run(['migrate'], { SWITCHYARD_DATA_DIR: dataDir });
    assert.match(second.stdout, /schema up to date/);
  });

  it('dead-letters list works on an empty store', () => {
    const r = run(['dead-letters', 'list'], { SWITCHYARD_DATA_DIR: dataDir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no dead letters/);
  });

  it("the embedded database has one owner: a second process is refused, a dead owner's lock is taken over", () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-lock-'));
    const pgliteDir = join(dir, 'pglite');
    run(['migrate'], { SWITCHYARD_DATA_DIR: dir });
    writeFileSync(join(pgliteDir, 'switchyard.lock'), String(process.pid)); // a live owner (this test process)
    const refused = run(['migrate'], { SWITCHYARD_DATA_DIR: dir });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /STORE_UNREACHABLE: the embedded database in .* is in use by process \d+/);
    writeFileSync(join(pgliteDir, 'switchyard.lock'), '999999999'); // an owner that died
    const taken = run(['migrate'], { SWITCHYARD_DATA_DIR: dir });
    assert.equal(taken.code, 0, taken.stderr);
    assert.equal(existsSync(join(pgliteDir, 'switchyard.lock')), false, 'released on exit');
  });

  it('bad configuration exits 2 naming every bad key', () => {
    const r = run(['migrate'], { PORT: 'eighty', SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_ESP: 'pigeon' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /CONFIG_INVALID/);
    assert.match(r.stderr, /PORT: Expected integer/);
    assert.match(r.stderr, /SWITCHYARD_ESP: must be one of/);
  });

  it('worker --stage with an unknown stage exits 2 with CONFIG_INVALID listing the stages, starting nothing', () => {
    const r = run(['worker', '--stage', 'send', 'sned'], { SWITCHYARD_DATA_DIR: dataDir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^switchyard: CONFIG_INVALID: unknown stage sned; stages: (\w[\w-]*, )+\w[\w-]*\n$/);
    for (const stage of ['select', 'prepare', 'send', 'outbox'])
      assert.match(r.stderr, new RegExp(`[ ,]${stage}[,\n]`));
    assert.doesNotMatch(r.stdout, /worker running/);
  });

  it('an unreachable database exits 1 with STORE_UNREACHABLE and no password', () => {
    const r = run(['migrate'], { DATABASE_URL: 'postgres://me:hunter2@127.0.0.1:1/db' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /STORE_UNREACHABLE/);
    assert.ok(!r.stderr.includes('hunter2'));
  });
});
