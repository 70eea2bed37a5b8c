/**
 * The admin listener's access control, attacked as issue 12 did: no key, a bad key, a revoked
 * key and each role boundary; every state-changing request (refused ones too) is in the audit log
 * with who, role, route, target, source and outcome; tampering with that log is detected.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createAdminServer } from '../../src/api/admin-server.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { ROLES, roleAllows, type Role, type Scope } from '../../src/core/access-roles.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders, type AuthHeaders } from '../support/api-keys.ts';

type Method = 'GET' | 'HEAD' | 'POST' | 'DELETE';

describe('admin API access control and audit', () => {
  let db: Db;
  let app: App;
  let admin: FastifyInstance;
  const headers = {} as Record<Role, AuthHeaders>;
  const clock = createManualClock(new Date('2026-12-06T10:00:00Z'));
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(
      loadConfig({
        SWITCHYARD_DEMO: 'false',
        SWITCHYARD_TRACKING_SECRET: 's',
        SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN: '0',
      }),
      { db, clock, log: pino({ level: 'silent' }) },
    );
    admin = app.adminServer;
    for (const role of ROLES) headers[role] = await authHeaders(app, role);
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  const call = (method: Method, url: string, h: Record<string, string> = {}, payload?: unknown) =>
    admin.inject({
      method,
      url,
      headers: h,
      ...(payload === undefined
        ? method === 'GET' || method === 'HEAD'
          ? {}
          : { payload: {} }
        : { payload: payload as Record<string, unknown> }),
    });

  it(
    'no key, a malformed key, an unknown key and a wrong secret are 401 UNAUTHENTICATED, before the body is '
      + 'looked at',
    async () => {
      const { key } = await app.keys.create({ name: 'victim', role: 'admin' }, { by: 'test' });
      const wrongSecret = `${key.slice(0, 12)}${'A'.repeat(43)}`;
      const bad: Record<string, string>[] = [
        {},
        { authorization: 'Bearer' },
        { authorization: 'Basic YTpi' },
        { authorization: 'Bearer sy_nope' },
        { authorization: `Bearer sy_abcdefgh_${'x'.repeat(43)}` },
        { authorization: `Bearer ${wrongSecret}` },
        { authorization: key },
      ];
      for (const h of bad) {
        for (const [method, url] of [
          ['GET', '/v1/campaigns'],
          ['HEAD', '/v1/campaigns'],
          ['POST', '/v1/campaigns/x/cancel'],
          ['GET', '/v1/dead-letters'],
          ['GET', '/v1/no-such-route'],
          ['GET', '/v1/campaigns/'],
          ['GET', '/%761/campaigns'],
        ] as const) {
          const res = await call(method, url, h);
          assert.equal(res.statusCode, 401, `${method} ${url} with ${JSON.stringify(h)}`);
          if (method !== 'HEAD') assert.equal(res.json().error, 'UNAUTHENTICATED');
          assert.match(String(res.headers['www-authenticate']), /^Bearer/);
        }
      }
      // issue 12's critical finding needs a key now: the procfs environment file is never opened
      const leak = await call(
        'POST',
        '/v1/campaigns/validate',
        {},
        { audience: { source: 'csv', path: '/proc/self/environ', delimiter: '\u0000' } },
      );
      assert.equal(leak.statusCode, 401);
      assert.doesNotMatch(leak.body, /PATH=|columns are/);
    },
  );

  it(
    'each role gets exactly the scopes of core/access-roles.ts ' + 'on every /v1 route (403 FORBIDDEN otherwise)',
    async () => {
      const spec = (await admin.inject('/openapi.json')).json() as {
        paths: Record<string, Record<string, { description: string }>>;
      };
      let checked = 0;
      for (const [path, ops] of Object.entries(spec.paths)) {
        // a path item that names its own servers is on the public listener: no key, no scope
        // (openapi-public.test.ts)
        if (!path.startsWith('/v1') || 'servers' in ops) continue;
        for (const [method, op] of Object.entries(ops)) {
          const scope = /Requires scope `([^`]+)`/.exec(op.description)![1] as Scope;
          const url = path.replace(/\{[^}]+\}/g, 'nope-1');
          for (const role of ROLES) {
            if (method === 'post' && path === '/v1/keys/{id}/revoke') continue; // would revoke nothing; checked below
            const res = await call(method.toUpperCase() as Method, url, headers[role]);
            if (roleAllows(role, scope)) assert.notEqual(res.statusCode, 403, `${role} ${method} ${path}`);
            else {
              assert.equal(res.statusCode, 403, `${role} must not ${method} ${path}`);
              assert.equal(res.json().error, 'FORBIDDEN');
            }
            checked++;
          }
        }
      }
      assert.ok(checked >= 60, `checked ${checked}`);
    },
  );

  it('the role boundaries, spelled out', async () => {
    const table: [Role, Method, string, 'allowed' | 'forbidden'][] = [
      ['marketer', 'POST', '/v1/campaigns/validate', 'allowed'],
      ['marketer', 'GET', '/v1/deliverability/status', 'allowed'],
      ['marketer', 'POST', '/v1/deliverability/resume', 'forbidden'],
      ['marketer', 'GET', '/v1/suppressions/a@example.com', 'forbidden'],
      ['marketer', 'GET', '/v1/dead-letters', 'forbidden'],
      ['marketer', 'POST', '/v1/keys', 'forbidden'],
      ['marketer', 'GET', '/v1/audit', 'forbidden'],
      ['analyst', 'GET', '/v1/campaigns', 'allowed'],
      ['analyst', 'GET', '/v1/deliverability/status', 'allowed'],
      ['analyst', 'POST', '/v1/campaigns', 'forbidden'],
      ['analyst', 'POST', '/v1/campaigns/validate', 'forbidden'],
      ['analyst', 'POST', '/v1/campaigns/c1/preview', 'forbidden'],
      ['analyst', 'POST', '/v1/campaigns/c1/cancel', 'forbidden'],
      ['analyst', 'GET', '/v1/review-items', 'forbidden'],
      ['compliance', 'GET', '/v1/suppressions/a@example.com', 'allowed'],
      ['compliance', 'GET', '/v1/review-items', 'allowed'],
      ['compliance', 'GET', '/v1/dead-letters', 'allowed'],
      ['compliance', 'GET', '/v1/audit', 'allowed'],
      ['compliance', 'POST', '/v1/dead-letters/retry', 'forbidden'],
      ['compliance', 'GET', '/v1/campaigns', 'forbidden'],
      ['compliance', 'POST', '/v1/campaigns/c1/start', 'forbidden'],
      ['compliance', 'GET', '/v1/keys', 'forbidden'],
      ['admin', 'GET', '/v1/keys', 'allowed'],
      ['admin', 'POST', '/v1/deliverability/resume', 'allowed'],
    ];
    for (const [role, method, url, want] of table) {
      const status = (await call(method, url, headers[role])).statusCode;
      if (want === 'forbidden') assert.equal(status, 403, `${role} ${method} ${url}`);
      else assert.ok(status !== 401 && status !== 403, `${role} ${method} ${url}: ${status}`);
    }
  });

  it(
    'POST /v1/keys returns the key once; GET /v1/keys never shows it; a revoked key is refused on its next '
      + 'request',
    async () => {
      const created = await call('POST', '/v1/keys', headers.admin, { name: 'ci', role: 'marketer' });
      assert.equal(created.statusCode, 201);
      const { key, info } = created.json() as { key: string; info: { id: string; role: string; prefix: string } };
      assert.equal(info.role, 'marketer');
      const listed = await call('GET', '/v1/keys', headers.admin);
      assert.ok(listed.json().keys.some((k: { id: string }) => k.id === info.id));
      assert.equal(listed.body.includes(key.slice(12)), false, 'no secret in the listing');
      assert.doesNotMatch(listed.body, /salt|hash/i);
      assert.equal((await call('POST', '/v1/keys', headers.admin, { name: 'x', role: 'root' })).statusCode, 400);
      assert.equal(
        (await call('POST', '/v1/keys', headers.admin, { name: 'x\u0000', role: 'analyst' })).statusCode,
        400,
      );
      for (const q of ['action=%00', 'actorKeyId=%00', 'since=yesterday', 'limit=0', 'before=-1']) {
        const res = await call('GET', `/v1/audit?${q}`, headers.admin);
        assert.equal(res.statusCode, 400, q);
        assert.equal(res.json().error, 'VALIDATION_FAILED');
      }

      const mine = { authorization: `Bearer ${key}` };
      assert.equal((await call('GET', '/v1/campaigns', mine)).statusCode, 200);
      const revoked = await call('POST', `/v1/keys/${info.id}/revoke`, headers.admin);
      assert.equal(revoked.statusCode, 200);
      assert.ok(revoked.json().revokedAt);
      const after = await call('GET', '/v1/campaigns', mine);
      assert.equal(after.statusCode, 401);
      assert.equal(after.json().error, 'UNAUTHENTICATED');
      assert.equal((await call('POST', '/v1/keys/key_nope/revoke', headers.admin)).statusCode, 404);
    },
  );

  it(
    'a state change and refused ones are audited (who, ' + 'role, route, target, source, outcome); reads are not',
    async () => {
      await clock.set(new Date('2026-12-06T11:00:00Z'));
      const since = clock.now().toISOString();
      const ok = await call('POST', '/v1/dead-letters/retry', headers.admin, { ids: [987654] });
      assert.equal(ok.statusCode, 200);
      assert.equal((await call('POST', '/v1/campaigns/cmp_victim/cancel', {})).statusCode, 401);
      assert.equal((await call('POST', '/v1/campaigns/cmp_victim/start', headers.analyst)).statusCode, 403);
      await call('GET', '/v1/campaigns', headers.admin);
      const page = await call('GET', `/v1/audit?since=${encodeURIComponent(since)}&limit=10`, headers.compliance);
      assert.equal(page.statusCode, 200);
      const rows = (
        page.json() as {
          entries: {
            actorName: string;
            actorKeyId: string | null;
            role: string | null;
            action: string;
            target: Record<string, string>;
            sourceIp: string;
            outcome: number;
            at: string;
          }[];
        }
      ).entries;
      assert.deepEqual(
        rows.map((r) => [r.actorName, r.role, r.action, r.target, r.outcome]),
        [
          ['test-analyst', 'analyst', 'POST /v1/campaigns/:id/start', { id: 'cmp_victim' }, 403],
          ['anonymous', null, 'POST /v1/campaigns/:id/cancel', { id: 'cmp_victim' }, 401],
          ['test-admin', 'admin', 'POST /v1/dead-letters/retry', {}, 200],
        ],
      );
      assert.equal(rows[0]!.at, '2026-12-06T11:00:00.000Z', 'time from the injected clock');
      assert.equal(rows[0]!.sourceIp, '127.0.0.1');
      assert.ok(rows[2]!.actorKeyId?.startsWith('key_'));
      // a key created through the API is named in its audit row
      const created = (await call('POST', '/v1/keys', headers.admin, { name: 'audited', role: 'analyst' })).json() as {
        info: { id: string };
      };
      const last = (await call('GET', '/v1/audit?limit=1&action=POST%20%2Fv1%2Fkeys', headers.admin)).json();
      assert.deepEqual(last.entries[0].target, { keyId: created.info.id, role: 'analyst' });
    },
  );

  it('keyset paging walks the whole log newest first without repeats', async () => {
    const seen: number[] = [];
    let before: number | null = null;
    do {
      const res = await call('GET', `/v1/audit?limit=2${before === null ? '' : `&before=${before}`}`, headers.admin);
      const body = res.json() as { entries: { id: number }[]; next: number | null };
      seen.push(...body.entries.map((e) => e.id));
      before = body.next;
    } while (before !== null);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => b - a),
    );
    assert.equal(new Set(seen).size, seen.length);
    assert.ok(seen.length >= 5);
  });

  it(
    'a NUL in a path parameter is a 400, and it and a ' + 'huge unmatched path are audited cleaned, never a 500',
    async () => {
      const nul = await call('POST', '/v1/campaigns/%00/cancel', headers.marketer);
      assert.equal(nul.statusCode, 400);
      const long = await call('POST', `/v1/${'x'.repeat(5000)}`, headers.marketer);
      assert.equal(long.statusCode, 404);
      const last = (await call('GET', '/v1/audit?limit=2', headers.admin)).json() as {
        entries: { action: string; target: Record<string, string> }[];
      };
      assert.equal(last.entries[0]!.action, 'POST (no route)');
      assert.ok(last.entries[0]!.target.path!.length <= 201);
      assert.deepEqual(last.entries[1]!.target, { id: '\uFFFD' });
    },
  );

  it('GET /v1/audit/verify proves the chain, and names the row a direct SQL update changed', async () => {
    const intact = (await call('GET', '/v1/audit/verify', headers.compliance)).json();
    assert.equal(intact.ok, true);
    assert.ok(intact.rows >= 5);
    const {
      rows: [victim],
    } = await db.query<{ id: number }>(
      `select id from audit_log where action = 'POST /v1/campaigns/:id/start' order by id limit 1`,
    );
    await db.exec('alter table audit_log disable trigger audit_log_no_change');
    await db.query(`update audit_log set outcome = 200, actor_name = 'someone else' where id = $1`, [victim!.id]);
    await db.exec('alter table audit_log enable trigger audit_log_no_change');
    const broken = (await call('GET', '/v1/audit/verify', headers.admin)).json();
    assert.deepEqual([broken.ok, broken.brokenId, broken.reason], [false, Number(victim!.id), 'hash']);
  });

  it('/metrics needs the scrape token when SWITCHYARD_METRICS_TOKEN is set', async (t) => {
    const server = await createAdminServer({
      log: pino({ level: 'silent' }),
      db,
      bus: app.bus,
      metrics: createMetrics({ bus: app.bus }),
      version: 't',
      bodyLimit: 1024,
      keys: app.keys,
      audit: app.audit,
      metricsToken: 'scrape-me',
    });
    t.after(() => server.close());
    assert.equal((await server.inject('/metrics')).statusCode, 401);
    assert.equal(
      (await server.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-mE' } })).statusCode,
      401,
    );
    assert.equal(
      (await server.inject({ url: '/metrics', headers: headers.admin })).statusCode,
      401,
      'an API key is not the scrape token',
    );
    assert.equal(
      (await server.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-me' } })).statusCode,
      200,
    );
    assert.equal((await server.inject('/healthz')).statusCode, 200);
  });

  it('a /v1 route that declares no scope cannot be registered', async () => {
    const deps = {
      log: pino({ level: 'silent' }),
      db,
      bus: app.bus,
      metrics: createMetrics({ bus: app.bus }),
      version: 't',
      bodyLimit: 1024,
      keys: app.keys,
      audit: app.audit,
    };
    await assert.rejects(
      createAdminServer(deps, [
        (s) => {
          s.get('/v1/forgotten', async () => ({}));
        },
      ]),
      /must declare config\.scope/,
    );
    await assert.rejects(
      createAdminServer(deps, [
        (s) => {
          s.post('/v1/typo', { config: { scope: 'campaigns:wirte' as Scope } }, async () => ({}));
        },
      ]),
      /must declare config\.scope/,
    );
  });
});
