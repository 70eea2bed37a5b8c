import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { PUBLIC_LISTENER_TAG } from '../../src/api/public-openapi.ts';
import { createBaseServer } from '../../src/api/server.ts';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders, type AuthHeaders } from '../support/api-keys.ts';

describe('HTTP servers (public and admin)', () => {
  let db: Db;
  let app: App;
  let admin: AuthHeaders;
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(loadConfig({ SWITCHYARD_DEMO: 'false' }), {
      db,
      clock: createManualClock(),
      log: pino({ level: 'silent' }),
    });
    admin = await authHeaders(app);
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('/healthz and /readyz answer on both listeners, with no key; /readyz checks store and bus', async () => {
    for (const server of [app.publicServer, app.adminServer]) {
      assert.deepEqual((await server.inject('/healthz')).json(), { status: 'ok' });
      const ready = await server.inject('/readyz');
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json().checks, { store: 'ok', bus: 'ok' });
    }
  });

  it('/readyz names a failed check by its code, never by the driver message', async () => {
    const closed = await createPgliteDb({});
    await closed.close();
    const server = createBaseServer({
      log: pino({ level: 'silent' }),
      db: closed,
      bus: app.bus,
      metrics: app.metrics,
      version: 'test',
      bodyLimit: 1024,
    });
    const ready = await server.inject('/readyz');
    assert.equal(ready.statusCode, 503);
    assert.deepEqual(ready.json().checks, { store: 'STORE_UNREACHABLE', bus: 'ok' });
    await server.close();
  });

  it('/metrics (admin, no key when no scrape token is set) exposes bus depth, lag and dead letters', async () => {
    await app.bus.publish('demo.metrics', [
      { id: 'a', payload: {} },
      { id: 'b', payload: {} },
    ]);
    await app.bus.ensureGroup({ topic: 'demo.metrics', group: 'watcher' });
    await app.bus.deadLetters.add({
      stage: 'webhook.test',
      payload: {},
      code: 'WEBHOOK_PAYLOAD_INVALID',
      message: 'bad',
    });
    const res = await app.adminServer.inject('/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /switchyard_bus_pending_messages\{topic="demo.metrics",group="watcher"\} 2/);
    assert.match(res.body, /switchyard_bus_consumer_lag_seconds\{topic="demo.metrics",group="watcher"\}/);
    assert.match(res.body, /switchyard_dead_letters 1/);
    assert.match(res.body, /switchyard_http_request_duration_seconds_bucket/);
  });

  it(
    'serves an OpenAPI document (bearer scheme, security and scope on every /v1 route) and the docs UI, with '
      + 'no key',
    async () => {
      const spec = (await app.adminServer.inject('/openapi.json')).json();
      assert.equal(spec.openapi, '3.0.3');
      assert.deepEqual(spec.components.securitySchemes.bearerAuth, {
        type: 'http',
        scheme: 'bearer',
        description: spec.components.securitySchemes.bearerAuth.description,
      });
      const v1 = Object.entries(
        spec.paths as Record<string, Record<string, { security?: unknown; description?: string }>>,
        // path items that name their own servers live on the public listener and take no key
        // (their own test: openapi-public)
      ).filter(([p, item]) => p.startsWith('/v1') && !('servers' in item));
      assert.ok(v1.length >= 15);
      for (const [path, ops] of v1) {
        for (const [method, op] of Object.entries(ops)) {
          assert.deepEqual(op.security, [{ bearerAuth: [] }], `${method} ${path}`);
          assert.equal(
            (op.description ?? '').match(/Requires scope `[a-z-]+:[a-z]+`/g)?.length,
            1,
            `${method} ${path}`,
          );
        }
      }
      assert.equal((await app.adminServer.inject('/docs/')).statusCode, 200);
    },
  );

  it('lists and retries dead letters with a key; bad input is a 400 naming the problem', async () => {
    const list = (await app.adminServer.inject({ url: '/v1/dead-letters?stage=webhook.test', headers: admin })).json();
    assert.equal(list.deadLetters[0].code, 'WEBHOOK_PAYLOAD_INVALID');
    const retry = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/dead-letters/retry',
      payload: { ids: [list.deadLetters[0].id] },
      headers: admin,
    });
    assert.deepEqual(retry.json(), { retried: [] });
    const bad = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/dead-letters/retry',
      payload: { ids: 'all' },
      headers: admin,
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error, 'VALIDATION_FAILED');
    assert.match(bad.json().message, /ids/);
  });

  it(
    'the public listener serves no admin route: every /v1, /docs, /openapi.json and /metrics path is a 404, '
      + 'even with a key',
    async () => {
      const spec = (await app.adminServer.inject('/openapi.json')).json() as {
        paths: Record<string, Record<string, { tags?: string[] }>>;
      };
      const probes: { method: string; url: string }[] = [];
      for (const [path, ops] of Object.entries(spec.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          // the document also lists the public listener's own routes (src/api/public-openapi.ts)
          if (method === 'servers' || op.tags?.includes(PUBLIC_LISTENER_TAG)) continue;
          probes.push({ method: method.toUpperCase(), url: path.replace(/\{[^}]+\}|:[a-zA-Z]+/g, 'x1') });
        }
      }
      probes.push(
        ...['/docs', '/docs/', '/docs/static/index.html', '/docs/json', '/openapi.json', '/metrics', '/v1', '/v1/'].map(
          (url) => ({ method: 'GET', url }),
        ),
      );
      assert.ok(probes.length >= 20);
      for (const p of probes) {
        for (const headers of [{}, admin]) {
          const res = await app.publicServer.inject({
            method: p.method as 'GET',
            url: p.url,
            headers,
            ...(p.method === 'GET' ? {} : { payload: {} }),
          });
          assert.equal(res.statusCode, 404, `${p.method} ${p.url} on the public listener`);
        }
      }
      const routes = app.publicServer.printRoutes({ commonPrefix: false });
      // POST /v1/changes is the one /v1 path on the public listener: signed change intake from other
      // systems (HMAC, like a webhook), named by issue 17; it takes no API key and serves no admin action
      assert.doesNotMatch(routes.replace('/v1/changes (POST)', ''), /v1|docs|openapi|metrics/);
    },
  );
});
