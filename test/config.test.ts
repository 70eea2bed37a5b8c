import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describeConfig, loadConfig, type Config } from '../src/config.ts';
import type { SwitchyardError } from '../src/core/errors.ts';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function errorsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    assert.equal((err as SwitchyardError).code, 'CONFIG_INVALID');
    return ((err as SwitchyardError).details as { errors: string[] }).errors;
  }
}

describe('config slices', () => {
  // env → the value a service receives, for representative keys of every slice
  const cases: [Record<string, string>, (c: Config) => unknown, unknown][] = [
    [
      {},
      (c) => [c.http.trustProxy, c.admin.trustProxy, c.admin.metricsToken, c.cli.apiKey],
      [undefined, undefined, undefined, undefined],
    ],
    [
      { SWITCHYARD_TRUST_PROXY: 'true', SWITCHYARD_ADMIN_TRUST_PROXY: '10.0.0.0/8, 10.1.0.1' },
      (c) => [c.http.trustProxy, c.admin.trustProxy],
      [true, '10.0.0.0/8, 10.1.0.1'],
    ],
    [{ SWITCHYARD_PUBLIC_URL: 'https://t.example.com/' }, (c) => c.http.publicUrl, 'https://t.example.com'],
    [{ SWITCHYARD_HOST: '0.0.0.0', PORT: '8080' }, (c) => c.http.publicUrl, 'http://0.0.0.0:8080'],
    [
      { SWITCHYARD_RATE_LIMIT_WEBHOOK_PER_MIN: '0', SWITCHYARD_RATE_LIMIT_MAX_TRACKED: '500' },
      (c) => [c.http.rateLimit.providers, c.http.rateLimit.maxTracked, c.admin.rateLimit.maxTracked],
      [{ perMinute: 0, burst: 5000 }, 500, 500],
    ],
    [
      { SWITCHYARD_WEBHOOK_MAX_BYTES: '2048', SWITCHYARD_JSON_MAX_DEPTH: '8' },
      (c) => [
        c.http.bodyLimitBytes,
        c.admin.bodyLimitBytes,
        c.webhooks.maxBodyBytes,
        c.http.jsonMaxDepth,
        c.admin.jsonMaxDepth,
      ],
      [2048, 2048, 2048, 8, 8],
    ],
    [
      { SWITCHYARD_ADMIN_ALLOWED_HOSTS: ' a.example.com, ,b.example.com:* ' },
      (c) => [c.admin.allowedHosts, c.admin.allowedOrigins],
      [['a.example.com', 'b.example.com:*'], undefined],
    ],
    [
      { SWITCHYARD_API_KEY: 'sk_x', SWITCHYARD_METRICS_TOKEN: 'm' },
      (c) => [c.cli.apiKey, c.admin.metricsToken],
      ['sk_x', 'm'],
    ],
    [{ SWITCHYARD_CSV_DIRS: 'a, /srv/b ,,c' }, (c) => c.csv.dirs, ['a', '/srv/b', 'c']],
    [
      { SWITCHYARD_WAREHOUSE_URL: 'postgres://w@h/db', SWITCHYARD_WAREHOUSE_LOCK_TIMEOUT_MS: '200' },
      (c) => c.warehouse,
      { url: 'postgres://w@h/db', statementTimeoutMs: 30_000, lockTimeoutMs: 200 },
    ],
    [{ SWITCHYARD_DEMO: 'false', SWITCHYARD_DEMO_SIZE: '10' }, (c) => c.demo, { enabled: false, size: 10 }],
    [{}, (c) => c.bus, { kind: 'postgres-log' }],
    [
      { SWITCHYARD_WORKER_BATCH: '7', SWITCHYARD_LEASE_MS: '5000' },
      (c) => c.worker,
      { batchSize: 7, concurrency: 8, maxAttempts: 5, leaseMs: 5000 },
    ],
    [{ SWITCHYARD_TRACKING_SECRET: 'new, old ,' }, (c) => c.tracking.secrets, ['new', 'old']],
    [{}, (c) => c.tracking, { secrets: undefined, returnPathDomain: undefined }],
    [{ SWITCHYARD_TEMPLATE_RENDER_LIMIT_MS: '50' }, (c) => c.templates, { renderMs: 50, memory: 10_000_000 }],
    [
      {
        SWITCHYARD_SMTP_POOL_SIZE: '3',
        SWITCHYARD_ESP: 'smtp',
        SWITCHYARD_SMTP_URL: 'smtps://us%40er:p%3Ass@relay.example.com',
      },
      (c) => c.esp.primary,
      {
        kind: 'smtp',
        host: 'relay.example.com',
        port: 465,
        secure: true,
        auth: { user: 'us@er', pass: 'p:ss' },
        poolSize: 3,
        commitWindow: 12,
        dkim: undefined,
      },
    ],
    [
      {
        SWITCHYARD_ESP: 'smtp',
        SWITCHYARD_SMTP_URL: 'smtp://127.0.0.1:2525',
        SWITCHYARD_SMTP_COMMIT_WINDOW: '7',
        SWITCHYARD_DKIM_DOMAIN: 'd.example',
        SWITCHYARD_DKIM_SELECTOR: 's1',
        SWITCHYARD_DKIM_PRIVATE_KEY: 'PEM',
      },
      (c) => c.esp.primary,
      {
        kind: 'smtp',
        host: '127.0.0.1',
        port: 2525,
        secure: false,
        auth: undefined,
        poolSize: 5,
        commitWindow: 7,
        dkim: { domainName: 'd.example', keySelector: 's1', privateKey: 'PEM' },
      },
    ],
    [
      { SWITCHYARD_ESP: 'smtp', SWITCHYARD_SMTP_URL: 'smtp://relay.example.com', SWITCHYARD_DKIM_DOMAIN: 'd.example' },
      (c) => c.esp.primary.kind === 'smtp' && [c.esp.primary.port, c.esp.primary.dkim],
      [587, undefined],
    ],
    [
      {
        SWITCHYARD_ESP: 'mailgun',
        SWITCHYARD_ESP_API_KEY: 'k',
        SWITCHYARD_MAILGUN_DOMAIN: 'mg.example.com',
        SWITCHYARD_ESP_SECONDARY: 'postmark',
        SWITCHYARD_ESP_SECONDARY_API_KEY: 'pm',
        SWITCHYARD_FAILOVER_THRESHOLD: '9',
      },
      (c) => c.esp,
      {
        primary: { kind: 'mailgun', apiKey: 'k', domain: 'mg.example.com', region: 'us' },
        secondary: { kind: 'postmark', serverToken: 'pm', messageStream: 'broadcast' },
        failover: { threshold: 9, coolDownMs: 300_000 },
      },
    ],
    [
      {
        SWITCHYARD_ESP: 'ses',
        SWITCHYARD_SES_REGION: 'eu-west-1',
        SWITCHYARD_SES_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
        SWITCHYARD_SES_SECRET_ACCESS_KEY: 'sec',
      },
      (c) => c.esp.primary,
      {
        kind: 'ses',
        region: 'eu-west-1',
        accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        secretAccessKey: 'sec',
        configurationSet: undefined,
      },
    ],
    [{ SWITCHYARD_ESP_RATE_PER_SEC: '20' }, (c) => c.deliverability, { providers: { sandbox: { ratePerSec: 20 } } }],
    [
      { SWITCHYARD_POSTMARK_WEBHOOK_AUTH: 'hook:pa:ss', SWITCHYARD_SES_TOPIC_ARNS: 'arn:a, arn:b' },
      (c) => [c.webhooks.postmark, c.webhooks.ses, c.webhooks.sendgrid],
      [{ username: 'hook', password: 'pa:ss' }, { topicArns: ['arn:a', 'arn:b'], certFile: undefined }, undefined],
    ],
    [
      { SWITCHYARD_RETURN_PATH_DOMAIN: 'Bounce.Example.com.' },
      (c) => [c.inbound.domains, c.tracking.returnPathDomain],
      [['bounce.example.com'], 'Bounce.Example.com.'],
    ],
    [
      {
        SWITCHYARD_RETURN_PATH_DOMAIN: 'b.example',
        SWITCHYARD_INBOUND_DOMAINS: '@R.example, r.example,b.example',
        SWITCHYARD_HOST: '0.0.0.0',
      },
      (c) => [c.inbound.domains, c.inbound.host, c.inbound.port],
      [['r.example', 'b.example'], '0.0.0.0', 2525],
    ],
  ];
  for (const [env, pick, expected] of cases) {
    it(`${JSON.stringify(env)} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(pick(loadConfig(env)), expected);
    });
  }

  it('comma lists: any spacing and empty entries give the same trimmed entries, in order', () => {
    const entry = fc.stringMatching(/^[a-z0-9/._-]{1,12}$/);
    const pad = fc.constantFrom('', ' ', '  ', '\t');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(pad, entry, pad), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(6), { maxLength: 3 }),
        (items, empties) => {
          const parts = items.map(([a, e, b]) => `${a}${e}${b}`);
          for (const at of empties) parts.splice(Math.min(at, parts.length), 0, ' ');
          const c = loadConfig({ SWITCHYARD_CSV_DIRS: parts.join(','), SWITCHYARD_TRACKING_SECRET: parts.join(',') });
          const want = items.map(([, e]) => e);
          assert.deepEqual(c.csv.dirs, want);
          assert.deepEqual(c.tracking.secrets, want);
        },
      ),
    );
  });

  it('the SMTP commit window defaults to 4 × the pool size, and an explicit one wins', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
        (pool, window) => {
          const c = loadConfig({
            SWITCHYARD_ESP: 'smtp',
            SWITCHYARD_SMTP_URL: 'smtp://127.0.0.1',
            SWITCHYARD_SMTP_POOL_SIZE: String(pool),
            ...(window === undefined ? {} : { SWITCHYARD_SMTP_COMMIT_WINDOW: String(window) }),
          });
          assert.equal(c.esp.primary.kind === 'smtp' && c.esp.primary.commitWindow, window ?? 4 * pool);
        },
      ),
    );
  });

  it('errors name the key and never show a secret value', () => {
    assert.deepEqual(errorsOf({ SWITCHYARD_ESP: 'smtp', SWITCHYARD_SMTP_URL: 'smtp://us:hunter2@[bad' }), [
      'SWITCHYARD_SMTP_URL: not a valid URL (got (hidden))',
    ]);
    assert.deepEqual(
      errorsOf({ SWITCHYARD_ESP: 'sandbox', SWITCHYARD_SMTP_URL: 'smtp://us:hunter2@[bad' }),
      [],
      'only the ESP in use parses its URL',
    );
    assert.deepEqual(
      errorsOf({ SWITCHYARD_ESP: 'smtp', SWITCHYARD_SMTP_URL: 'http://us:hunter2@relay' }).map((e) =>
        e.replace(/:.*?\(/, ': … ('),
      ),
      ['SWITCHYARD_SMTP_URL: … (got (hidden))'],
    );
    assert.deepEqual(errorsOf({ SWITCHYARD_ESP: 'smtp' }), ['SWITCHYARD_SMTP_URL: required when SWITCHYARD_ESP=smtp']);
    assert.match(errorsOf({ SWITCHYARD_TRUST_PROXY: 'yes please' })[0]!, /^SWITCHYARD_TRUST_PROXY: /);
    assert.match(errorsOf({ SWITCHYARD_DEMO: 'maybe' })[0]!, /^SWITCHYARD_DEMO: /);
    assert.match(errorsOf({ SWITCHYARD_SMTP_POOL_SIZE: '0' })[0]!, /^SWITCHYARD_SMTP_POOL_SIZE: /);
    assert.match(
      errorsOf({ SWITCHYARD_WAREHOUSE_URL: 'mysql://u:pw@h/db' })[0]!,
      /^SWITCHYARD_WAREHOUSE_URL: .*\(got \(hidden\)\)$/,
    );
    for (const e of [
      ...errorsOf({ SWITCHYARD_ESP: 'smtp', SWITCHYARD_SMTP_URL: 'smtp://us:hunter2@[bad' }),
      ...errorsOf({ SWITCHYARD_WAREHOUSE_URL: 'mysql://u:hunter2@h/db' }),
    ]) {
      assert.doesNotMatch(e, /hunter2/);
    }
  });
});

describe('config', () => {
  it('has embedded defaults: PGlite under ./.switchyard, port 3000, demo on', () => {
    const c = loadConfig({});
    assert.deepEqual(c.store, { kind: 'pglite', dataDir: './.switchyard/pglite' });
    assert.equal(c.http.publicUrl, 'http://127.0.0.1:3000');
    assert.deepEqual(c.demo, { enabled: true, size: 50_000 });
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.esp.primary) && Object.isFrozen(c.csv.dirs), 'every slice is frozen too');
  });

  it('DATABASE_URL selects the PostgreSQL store; env wins over the file', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://x@h/db', PORT: '8080' }, { PORT: 9090, SWITCHYARD_DEMO: false });
    assert.deepEqual(c.store, { kind: 'postgres', url: 'postgres://x@h/db' });
    assert.equal(c.http.port, 8080);
    assert.equal(c.demo.enabled, false);
  });

  it('reports every bad key at once, by name, without showing secrets', () => {
    assert.throws(
      () =>
        loadConfig(
          { PORT: 'eighty', LOG_LEVEL: 'loud', SWITCHYARD_ESP: 'sendgrid', SWITCHYARD_MAILGUN_SIGNING_KEY: '' },
          { NOPE: 1 },
        ),
      (e: SwitchyardError) => {
        assert.equal(e.code, 'CONFIG_INVALID');
        for (const needle of [
          'PORT: Expected integer',
          'LOG_LEVEL: must be one of',
          'NOPE: unknown key',
          'SWITCHYARD_ESP_API_KEY: required when SWITCHYARD_ESP=sendgrid',
        ]) {
          assert.ok(e.message.includes(needle), `${needle} in ${e.message}`);
        }
        return true;
      },
    );
  });

  it('docs/configuration.md lists exactly the schema keys', () => {
    const doc = readFileSync('docs/configuration.md', 'utf8');
    const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(
      documented.sort(),
      describeConfig()
        .map((k) => k.name)
        .sort(),
    );
  });

  it(
    'the admin listener defaults to 127.0.0.1:3001, never shares the public port, and is reached locally '
      + 'through loopback',
    () => {
      const c = loadConfig({});
      assert.deepEqual(
        [c.http.port, c.http.host, c.admin.port, c.admin.host, c.admin.url],
        [3000, '127.0.0.1', 3001, '127.0.0.1', 'http://127.0.0.1:3001'],
      );
      assert.equal(
        loadConfig({ SWITCHYARD_ADMIN_HOST: '0.0.0.0', SWITCHYARD_ADMIN_PORT: '9001' }).admin.url,
        'http://127.0.0.1:9001',
      );
      assert.throws(
        () => loadConfig({ PORT: '3001' }),
        (e: SwitchyardError) =>
          e.code === 'CONFIG_INVALID' && /SWITCHYARD_ADMIN_PORT: must differ from PORT/.test(e.message),
      );
      assert.throws(
        () => loadConfig({ SWITCHYARD_METRICS_TOKEN: 'x', SWITCHYARD_ADMIN_PORT: 'nope' }),
        (e: SwitchyardError) => !e.message.includes('"x"'),
      );
    },
  );

  it('process.env is read only in src/app.ts', () => {
    const offenders = walk('src').filter(
      (f) => f !== join('src', 'app.ts') && readFileSync(f, 'utf8').includes('process.env'),
    );
    assert.deepEqual(offenders, []);
  });

  it('configuration keys are read only in src/config.ts: everything else gets a slice', () => {
    // `config.raw`, `.raw.SOME_KEY` or the RawConfig type anywhere else is a key read past the slices
    const keyRead = /config\.raw\b|\.raw\.[A-Z][A-Z0-9_]+\b|\bRawConfig\b/;
    const offenders = walk('src').filter(
      (f) => f !== join('src', 'config.ts') && keyRead.test(readFileSync(f, 'utf8')),
    );
    assert.deepEqual(offenders, []);
    assert.ok(keyRead.test('const key = config.raw.SWITCHYARD_API_KEY;'), 'the check itself catches a key read');
  });
});
