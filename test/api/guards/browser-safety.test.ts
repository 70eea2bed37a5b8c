import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../../src/clock/manual.ts';
import { loadConfig } from '../../../src/config.ts';
import {
  defaultAdminHosts,
  defaultAdminOrigins,
  registerBrowserSafety,
} from '../../../src/api/guards/browser-safety.ts';
import { adminGuardOptions, registerAdminGuards } from '../../../src/api/guards/register.ts';
import { addDummyRoutes, callsTo, createGuardedApp, type GuardedApp } from '../../support/guarded-app.ts';

const HOST = '127.0.0.1:3001';
const SAME_ORIGIN = 'http://127.0.0.1:3001';

async function setup(): Promise<GuardedApp> {
  const g = createGuardedApp();
  registerBrowserSafety(g.app, { allowedHosts: defaultAdminHosts(3001), allowedOrigins: defaultAdminOrigins(3001) });
  addDummyRoutes(g);
  await g.app.ready();
  return g;
}

const json = { 'content-type': 'application/json' };

describe('browser safety guard (admin listener)', () => {
  it('attack: a text/plain POST from https://evil.example cannot cancel a campaign', async (t) => {
    const g = await setup();
    t.after(() => g.app.close());
    // What a hostile page's <form enctype="text/plain"> or fetch(no-cors) sends to 127.0.0.1.
    const res = await g.app.inject({
      method: 'POST',
      url: '/v1/campaigns/c1/cancel',
      payload: '{"x":1}',
      headers: {
        host: HOST,
        origin: 'https://evil.example',
        'content-type': 'text/plain',
        'sec-fetch-site': 'cross-site',
      },
    });
    assert.equal(res.statusCode, 403);
    assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'message']);
    assert.equal(res.json().error, 'ORIGIN_NOT_ALLOWED');
    assert.doesNotMatch(res.body, /evil/, 'the refused origin is not echoed');
    assert.equal(callsTo(g, '/v1/campaigns/:id/cancel'), 0);
  });

  it('attack: DNS rebinding (Host: attacker.example) is refused with 421 HOST_NOT_ALLOWED', async (t) => {
    const g = await setup();
    t.after(() => g.app.close());
    for (const req of [
      { method: 'GET' as const, url: '/v1/campaigns', headers: { host: 'attacker.example' } },
      { method: 'GET' as const, url: '/v1/campaigns', headers: { host: 'attacker.example:3001' } },
      {
        method: 'POST' as const,
        url: '/v1/campaigns/c1/cancel',
        payload: '{}',
        headers: { host: 'attacker.example:3001', ...json },
      },
      { method: 'GET' as const, url: '/v1/campaigns', headers: { host: '127.0.0.1.evil.example' } },
    ]) {
      const res = await g.app.inject(req);
      assert.equal(res.statusCode, 421, req.headers.host);
      assert.equal(res.json().error, 'HOST_NOT_ALLOWED');
      assert.doesNotMatch(res.body, /attacker|evil/);
    }
    assert.equal(callsTo(g, '/v1/campaigns'), 0);
    assert.equal(callsTo(g, '/v1/campaigns/:id/cancel'), 0);
  });

  it(
    'every loopback name is served, with any port or ' + 'none, case-insensitively; probes skip the Host check',
    async (t) => {
      const g = await setup();
      t.after(() => g.app.close());
      for (const host of ['127.0.0.1:3001', 'localhost:3001', '[::1]:3001', '127.0.0.1', 'LOCALHOST', '[::1]']) {
        assert.equal((await g.app.inject({ url: '/v1/campaigns', headers: { host } })).statusCode, 200, host);
      }
      assert.equal((await g.app.inject({ url: '/healthz', headers: { host: '10.4.2.7:3001' } })).statusCode, 200);
      assert.equal(
        (await g.app.inject({ url: '/v1/campaigns', headers: { host: 'localhost:3002' } })).statusCode,
        200,
        'a locally forwarded port keeps working',
      );
      assert.equal(
        (await g.app.inject({ url: '/v1/campaigns', headers: { host: 'localhost.attacker.example:3001' } })).statusCode,
        421,
        'the name decides',
      );
    },
  );

  it('port 0 (tests) allows any port on the loopback names only', async (t) => {
    const g = createGuardedApp();
    registerBrowserSafety(g.app, { allowedHosts: defaultAdminHosts(0), allowedOrigins: defaultAdminOrigins(0) });
    addDummyRoutes(g);
    t.after(() => g.app.close());
    const get = (host: string, origin?: string) =>
      g.app.inject({ url: '/v1/campaigns', headers: { host, ...(origin ? { origin } : {}) } });
    assert.equal((await get('127.0.0.1:45678', 'http://127.0.0.1:45678')).statusCode, 200);
    assert.equal((await get('[::1]:1')).statusCode, 200);
    assert.equal((await get('attacker.example:45678')).statusCode, 421);
    assert.equal((await get('127.0.0.1:45678', 'http://evil.example:45678')).statusCode, 403);
    assert.equal((await get('127.0.0.1:45678', 'https://127.0.0.1:45678')).statusCode, 403);
  });

  it('state changes need Content-Type: application/json (forms, text/plain, none → 415)', async (t) => {
    const g = await setup();
    t.after(() => g.app.close());
    const cases: [string, Record<string, string>, string | undefined][] = [
      ['text/plain', { 'content-type': 'text/plain' }, '{"a":1}'],
      ['urlencoded form', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=1'],
      ['multipart form', { 'content-type': 'multipart/form-data; boundary=x' }, '--x--'],
      ['no content type, no body', {}, undefined],
      ['json lookalike', { 'content-type': 'application/jsonp' }, '{}'],
    ];
    for (const [name, headers, payload] of cases) {
      for (const method of ['POST', 'DELETE'] as const) {
        const url = method === 'POST' ? '/v1/campaigns/c1/cancel' : '/v1/things/1';
        const res = await g.app.inject({
          method,
          url,
          headers: { host: HOST, ...headers },
          ...(payload === undefined ? {} : { payload }),
        });
        assert.equal(res.statusCode, 415, `${method} ${name}`);
        assert.equal(res.json().error, 'CONTENT_TYPE_NOT_ALLOWED');
      }
    }
    assert.equal(callsTo(g, '/v1/campaigns/:id/cancel') + callsTo(g, '/v1/things/:id'), 0);
  });

  it('the CLI and the admin UI get through: JSON from no origin or the admin origin', async (t) => {
    const g = await setup();
    t.after(() => g.app.close());
    const cli = await g.app.inject({
      method: 'POST',
      url: '/v1/campaigns/c1/cancel',
      payload: '{}',
      headers: { host: HOST, 'content-type': 'application/json; charset=utf-8' },
    });
    assert.equal(cli.statusCode, 200);
    const ui = await g.app.inject({
      method: 'POST',
      url: '/v1/campaigns',
      payload: '{"name":"x"}',
      headers: { host: HOST, origin: SAME_ORIGIN, 'sec-fetch-site': 'same-origin', ...json },
    });
    assert.equal(ui.statusCode, 200);
    assert.equal(
      (await g.app.inject({ url: '/v1/campaigns', headers: { host: HOST, origin: 'http://localhost:3001/' } }))
        .statusCode,
      200,
    );
  });

  it(
    'origins: a foreign or "null" origin, or a cross-/same-site fetch without one, is refused; a GET '
      + 'navigation is not',
    async (t) => {
      const g = await setup();
      t.after(() => g.app.close());
      const get = (headers: Record<string, string>) =>
        g.app.inject({ url: '/v1/campaigns', headers: { host: HOST, ...headers } });
      assert.equal((await get({ origin: 'null' })).statusCode, 403);
      assert.equal(
        (await get({ origin: 'http://127.0.0.1:3000' })).statusCode,
        403,
        'the public listener is another origin',
      );
      assert.equal((await get({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' })).statusCode, 403);
      assert.equal((await get({ 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors' })).statusCode, 403);
      assert.equal(
        (await get({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' })).statusCode,
        200,
        'following a link to the admin UI works',
      );
      const navPost = await g.app.inject({
        method: 'POST',
        url: '/v1/campaigns/c1/cancel',
        payload: 'a=1',
        headers: {
          host: HOST,
          'sec-fetch-site': 'cross-site',
          'sec-fetch-mode': 'navigate',
          'content-type': 'application/x-www-form-urlencoded',
        },
      });
      assert.equal(navPost.statusCode, 403, 'a cross-site form navigation is no exception');
      assert.equal((await get({ 'sec-fetch-site': 'none' })).statusCode, 200, 'typed into the address bar');
    },
  );

  it('configured names replace the defaults', async (t) => {
    const admin = loadConfig({
      SWITCHYARD_ADMIN_ALLOWED_HOSTS: 'admin.example.com, admin.example.com:443',
      SWITCHYARD_ADMIN_ALLOWED_ORIGINS: 'https://admin.example.com',
    }).admin;
    const g = createGuardedApp();
    await registerAdminGuards(g.app, adminGuardOptions(admin), { clock: createManualClock() });
    addDummyRoutes(g);
    t.after(() => g.app.close());
    assert.equal((await g.app.inject({ url: '/v1/campaigns', headers: { host: '127.0.0.1:3001' } })).statusCode, 421);
    const ok = await g.app.inject({
      method: 'POST',
      url: '/v1/campaigns',
      payload: '{}',
      headers: { host: 'admin.example.com', origin: 'https://admin.example.com', ...json },
    });
    assert.equal(ok.statusCode, 200);
    const other = await g.app.inject({
      method: 'POST',
      url: '/v1/campaigns',
      payload: '{}',
      headers: { host: 'admin.example.com', origin: 'http://admin.example.com', ...json },
    });
    assert.equal(other.statusCode, 403, 'http is not the https origin');
    assert.deepEqual(adminGuardOptions(loadConfig({}).admin).browser.allowedOrigins, [
      'http://127.0.0.1:3001',
      'http://localhost:3001',
      'http://[::1]:3001',
    ]);
  });

  it(
    'all admin guards together: the refusal carries the security headers and does not spend the rate-limit ' + 'budget',
    async (t) => {
      const admin = loadConfig({
        SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN: '60',
        SWITCHYARD_RATE_LIMIT_ADMIN_BURST: '2',
      }).admin;
      const g = createGuardedApp();
      await registerAdminGuards(g.app, adminGuardOptions(admin), { clock: createManualClock() });
      addDummyRoutes(g);
      t.after(() => g.app.close());
      for (let i = 0; i < 10; i++) {
        const evil = await g.app.inject({
          method: 'POST',
          url: '/v1/campaigns/c1/cancel',
          payload: 'x',
          headers: { host: HOST, origin: 'https://evil.example', 'content-type': 'text/plain' },
        });
        assert.equal(evil.statusCode, 403);
        assert.equal(evil.headers['x-content-type-options'], 'nosniff');
        assert.equal(evil.headers['x-frame-options'], 'DENY');
      }
      assert.equal((await g.app.inject({ url: '/v1/campaigns', headers: { host: HOST } })).statusCode, 200);
      assert.equal((await g.app.inject({ url: '/v1/campaigns', headers: { host: HOST } })).statusCode, 200);
      const limited = await g.app.inject({ url: '/v1/campaigns', headers: { host: HOST } });
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.headers['cache-control'], 'no-store');
    },
  );
});
