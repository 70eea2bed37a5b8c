/**
 * Key and audit commands, and the first start, through the `switchyard` binary as a user runs
 * it, on temporary PGlite data directories.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServerProcess } from '../support/server-process.ts';
import { blasts } from '../support/campaign-list.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;
const KEY = /^sy_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/;

function run(
  args: string[],
  env: Record<string, string> = {},
): { code: number | null; stdout: string; stderr: string } {
  const base = { ...process.env };
  delete base.SWITCHYARD_API_KEY;
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...base, LOG_LEVEL: 'silent', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('switchyard keys and audit', () => {
  it('keys create prints the key once, alone on the last line; list, revoke and the audit log follow', () => {
    const env = { SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'sy-keys-')) };
    const created = run(['keys', 'create', '--role', 'marketer', '--name', 'ci'], env);
    assert.equal(created.code, 0, created.stderr);
    const lines = created.stdout.trimEnd().split('\n');
    const key = lines[lines.length - 1]!;
    assert.match(key, KEY);
    assert.equal(created.stdout.split(key).length, 2, 'the key appears exactly once');
    const id = /created (key_[0-9a-f]+) name=ci role=marketer/.exec(created.stdout)![1]!;

    const listed = run(['keys', 'list'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${id}\\tci\\tmarketer\\tsy_${key.slice(3, 11)}_…`));
    assert.equal(listed.stdout.includes(key.slice(12)), false, 'no secret in the listing');

    const revoked = run(['keys', 'revoke', id], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`revoked ${id} \\(ci, marketer\\) at 20`));

    const audit = run(['audit', 'list'], env);
    assert.equal(audit.code, 0, audit.stderr);
    assert.match(audit.stdout, new RegExp(`cli:[^\\t]+\\t-\\tkeys\\.revoke\\t\\{"keyId":"${id}"\\}\\t200`));
    assert.match(audit.stdout, new RegExp(`keys\\.create\\t\\{"keyId":"${id}","role":"marketer"\\}\\t201`));
    const verify = run(['audit', 'verify'], env);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /audit chain intact: 2 rows/);

    const bad = run(['keys', 'create', '--role', 'root', '--name', 'x'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown role "root"; roles: admin, marketer, analyst, compliance/);
  });

  it('with the embedded store held by a process that serves no admin API, key commands fail naming both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-keys-lock-'));
    assert.equal(run(['migrate'], { SWITCHYARD_DATA_DIR: dir }).code, 0);
    writeFileSync(join(dir, 'pglite', 'switchyard.lock'), String(process.pid));
    const r = run(['keys', 'create', '--role', 'analyst', '--name', 'x'], {
      SWITCHYARD_DATA_DIR: dir,
      SWITCHYARD_ADMIN_PORT: '1',
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /STORE_UNREACHABLE: the embedded database .* is in use by process \d+/);
    assert.match(r.stderr, /no admin API answers at http:\/\/127\.0\.0\.1:1/);
  });

  it(
    'first start creates an admin key file (0600 in a 0700 directory), never prints the key, and the CLI ' + 'uses it',
    async (t) => {
      const dataDir = join(mkdtempSync(join(tmpdir(), 'sy-start-')), 'data');
      const env: NodeJS.ProcessEnv = { ...process.env, SWITCHYARD_DATA_DIR: dataDir, LOG_LEVEL: 'info' };
      delete env.SWITCHYARD_API_KEY;
      const server = await startServerProcess(t, env);
      const { adminUrl } = server;
      const output = server.stdout() + server.stderr();
      const keyFile = join(dataDir, 'admin-key');
      assert.match(output, /Switchyard public listener on http:\/\/127\.0\.0\.1:\d+/);
      assert.match(
        output,
        new RegExp(
          `Created admin API key key_[0-9a-f]+; it is in ${keyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `
            + `\\(mode 0600\\)`,
        ),
      );
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      assert.equal(statSync(dataDir).mode & 0o777, 0o700);
      const key = readFileSync(keyFile, 'utf8').trim();
      assert.match(key, KEY);

      // the second command of "npm start, then npx switchyard campaign …": no key handling by hand
      const list = run(['campaign', 'list', '--json', '--url', adminUrl], { SWITCHYARD_DATA_DIR: dataDir });
      assert.equal(list.code, 0, list.stderr);
      // the demo workspace's journey has its message streams (jrn_…); no blast was created
      assert.deepEqual(blasts(list.stdout), []);
      const noKey = run(['campaign', 'list', '--url', adminUrl], {
        SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'sy-nokey-')),
      });
      assert.equal(noKey.code, 1);
      assert.match(noKey.stderr, /UNAUTHENTICATED: no API key: set SWITCHYARD_API_KEY, or run `npm start` once/);

      // the server holds the embedded store: key and audit commands go through its admin API
      const viaApi = { SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_ADMIN_PORT: new URL(adminUrl).port };
      const created = run(['keys', 'create', '--role', 'analyst', '--name', 'bob'], viaApi);
      assert.equal(created.code, 0, created.stderr);
      assert.match(created.stdout.trimEnd().split('\n').pop()!, KEY);
      const audit = run(['audit', 'list', '--limit', '5'], viaApi);
      assert.equal(audit.code, 0, audit.stderr);
      assert.match(
        audit.stdout,
        new RegExp(
          String.raw`local-admin \(key_[0-9a-f]+\)\tadmin\tPOST \/v1\/keys`
            + String.raw`\t\{"keyId":"key_[0-9a-f]+","role":"analyst"\}\t201\t127\.0\.0\.1`,
        ),
      );

      await server.stop('SIGTERM');
      const everything = server.stdout() + server.stderr();
      assert.equal(everything.includes(key), false, 'the key is in no log line and no output');
    },
  );
});
