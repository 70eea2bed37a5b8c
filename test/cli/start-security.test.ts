/**
 * Issue 12's "what to build" for `npm start`, on a real process and real sockets: two listeners
 * whose admin one stays on loopback even when the public one faces the network, the public one
 * serving no admin route; data files owner-only; and the CLI's key from SWITCHYARD_API_KEY taking
 * precedence over the first-start key file, a revoked key refused on its next use.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServerProcess } from '../support/server-process.ts';
import { blasts } from '../support/campaign-list.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;

function run(args: string[], env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const base = { ...process.env };
  delete base.SWITCHYARD_API_KEY;
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...base, LOG_LEVEL: 'silent', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('switchyard start: listeners, files and keys', () => {
  it(
    'the admin listener stays on 127.0.0.1 when the public one binds 0.0.0.0; the public one serves no admin '
      + 'route; files are owner-only; SWITCHYARD_API_KEY wins over the key file',
    async (t) => {
      const dataDir = join(mkdtempSync(join(tmpdir(), 'sy-startsec-')), 'data');
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        SWITCHYARD_DATA_DIR: dataDir,
        SWITCHYARD_HOST: '0.0.0.0',
        LOG_LEVEL: 'info',
      };
      delete env.SWITCHYARD_API_KEY;
      delete env.SWITCHYARD_TRACKING_SECRET;
      delete env.SWITCHYARD_ADMIN_HOST;
      delete env.DATABASE_URL;
      const server = await startServerProcess(t, env);
      const publicPort = Number(new URL(server.publicUrl).port);
      const adminPort = Number(new URL(server.adminUrl).port);
      assert.notEqual(publicPort, adminPort);
      assert.equal(new URL(server.adminUrl).hostname, '127.0.0.1');

      // a non-loopback address of this machine reaches the public listener, never the admin one
      const external = Object.values(networkInterfaces())
        .flat()
        .find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;
      if (external !== undefined) {
        assert.equal(await accepts(external, publicPort), true, `public on ${external}`);
        assert.equal(await accepts(external, adminPort), false, `admin must not listen on ${external}`);
      } else t.diagnostic('no non-loopback IPv4 address here: the bind check was skipped');

      for (const [method, path] of [
        ['GET', '/v1/campaigns'],
        ['POST', '/v1/keys'],
        ['GET', '/openapi.json'],
        ['GET', '/docs/'],
        ['GET', '/metrics'],
      ] as const) {
        const res = await fetch(`${server.publicUrl}${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          ...(method === 'POST' ? { body: '{"name":"x","role":"admin"}' } : {}),
        });
        assert.equal(res.status, 404, `public ${method} ${path}`);
      }
      const keyless = await fetch(`${server.adminUrl}/v1/campaigns`);
      assert.equal(keyless.status, 401);
      assert.equal(((await keyless.json()) as { error: string }).error, 'UNAUTHENTICATED');
      assert.equal((await fetch(`${server.adminUrl}/openapi.json`)).status, 200, 'the API description needs no key');
      assert.equal((await fetch(`${server.adminUrl}/t/o/x`)).status, 404, 'tracking is not on the admin listener');
      assert.equal(
        (
          await fetch(`${server.adminUrl}/webhooks/mailgun`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{}',
          })
        ).status,
        404,
        'webhooks are not on the admin listener',
      );

      // data at rest: the directory 0700, the generated secrets and every database file 0600
      assert.equal(statSync(dataDir).mode & 0o777, 0o700);
      for (const name of ['admin-key', 'tracking-secret'])
        assert.equal(statSync(join(dataDir, name)).mode & 0o777, 0o600, name);
      const loose = readdirSync(join(dataDir, 'pglite'), { recursive: true, encoding: 'utf8' })
        .map((p) => join(dataDir, 'pglite', p))
        .filter((p) => (statSync(p).mode & 0o077) !== 0);
      assert.deepEqual(loose, [], 'PGlite files open to group or others');

      // the CLI: a key in the environment is used, and it wins over the first-start key file
      const viaApi = { SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_ADMIN_PORT: String(adminPort) };
      const created = run(['keys', 'create', '--role', 'analyst', '--name', 'env-key'], viaApi);
      assert.equal(created.code, 0, created.stderr);
      const key = created.stdout.trimEnd().split('\n').pop()!;
      const id = /created (key_[0-9a-f]+)/.exec(created.stdout)?.[1];
      assert.ok(id, created.stdout);
      const elsewhere = mkdtempSync(join(tmpdir(), 'sy-nokeyfile-'));
      const list = (apiKey: string, dir: string) =>
        run(['campaign', 'list', '--json', '--url', server.adminUrl], {
          SWITCHYARD_DATA_DIR: dir,
          SWITCHYARD_API_KEY: apiKey,
        });
      const withEnv = list(key, elsewhere);
      assert.equal(withEnv.code, 0, withEnv.stderr);
      // the demo workspace's journey has its message streams (jrn_…); no blast was created
      assert.deepEqual(blasts(withEnv.stdout), []);
      const bogus = list(`sy_abcdefgh_${'x'.repeat(43)}`, dataDir);
      assert.equal(bogus.code, 1, 'the valid admin key file is not used when SWITCHYARD_API_KEY is set');
      assert.match(bogus.stderr, /UNAUTHENTICATED/);
      // the server holds the store, so `keys list` goes through the admin API with the env key
      const forbidden = run(['keys', 'list'], { ...viaApi, SWITCHYARD_API_KEY: key });
      assert.notEqual(forbidden.code, 0, 'an analyst key cannot list keys');
      assert.match(forbidden.stderr, /FORBIDDEN/);

      const revoked = run(['keys', 'revoke', id!], viaApi);
      assert.equal(revoked.code, 0, revoked.stderr);
      const after = list(key, elsewhere);
      assert.equal(after.code, 1);
      assert.match(after.stderr, /UNAUTHENTICATED/);

      await server.stop('SIGTERM');
      assert.equal((server.stdout() + server.stderr()).includes(key), false, 'the env key is in no server output');
    },
  );
});
