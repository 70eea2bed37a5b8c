import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeConfig, loadConfig } from '../src/config.ts';
import type { SwitchyardError } from '../src/core/errors.ts';

describe('config', () => {
  it('has embedded defaults: PGlite under ./.switchyard, port 3000, demo on', () => {
    const c = loadConfig({});
    assert.deepEqual(c.store, { kind: 'pglite', dataDir: './.switchyard/pglite' });
    assert.equal(c.http.publicUrl, 'http://127.0.0.1:3000');
    assert.equal(c.demo, true);
    assert.ok(Object.isFrozen(c));
  });

  it('DATABASE_URL selects the PostgreSQL store; env wins over the file', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://x@h/db', PORT: '8080' }, { PORT: 9090, SWITCHYARD_DEMO: false });
    assert.deepEqual(c.store, { kind: 'postgres', url: 'postgres://x@h/db' });
    assert.equal(c.http.port, 8080);
    assert.equal(c.demo, false);
  });

  it('reports every bad key at once, by name, without showing secrets', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', SWITCHYARD_ESP: 'sendgrid', SWITCHYARD_MAILGUN_SIGNING_KEY: '' }, { NOPE: 1 }),
      (e: SwitchyardError) => {
        assert.equal(e.code, 'CONFIG_INVALID');
        for (const needle of ['PORT: Expected integer', 'LOG_LEVEL: must be one of', 'NOPE: unknown key', 'SWITCHYARD_ESP_API_KEY: required when SWITCHYARD_ESP=sendgrid']) {
          assert.ok(e.message.includes(needle), `${needle} in ${e.message}`);
        }
        return true;
      });
  });

  it('docs/configuration.md lists exactly the schema keys', () => {
    const doc = readFileSync('docs/configuration.md', 'utf8');
    const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(documented.sort(), describeConfig().map((k) => k.name).sort());
  });

  it('the admin listener defaults to 127.0.0.1:3001, never shares the public port, and is reached locally through loopback', () => {
    const c = loadConfig({});
    assert.deepEqual([c.http.port, c.http.host, c.admin.port, c.admin.host, c.admin.url], [3000, '127.0.0.1', 3001, '127.0.0.1', 'http://127.0.0.1:3001']);
    assert.equal(loadConfig({ SWITCHYARD_ADMIN_HOST: '0.0.0.0', SWITCHYARD_ADMIN_PORT: '9001' }).admin.url, 'http://127.0.0.1:9001');
    assert.throws(() => loadConfig({ PORT: '3001' }), (e: SwitchyardError) => e.code === 'CONFIG_INVALID' && /SWITCHYARD_ADMIN_PORT: must differ from PORT/.test(e.message));
    assert.throws(() => loadConfig({ SWITCHYARD_METRICS_TOKEN: 'x', SWITCHYARD_ADMIN_PORT: 'nope' }), (e: SwitchyardError) => !e.message.includes('"x"'));
  });

  it('process.env is read only in src/app.ts', () => {
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
    });
    const offenders = walk('src').filter((f) => f !== join('src', 'app.ts') && readFileSync(f, 'utf8').includes('process.env'));
    assert.deepEqual(offenders, []);
  });
});
