/**
 * The guards on the admin listener as app.ts wires it (guards, then API keys, then routes): the
 * issue's attacks on a real state-changing route (dead-letter retry) are refused before the key
 * is even looked at, the docs UI still loads, and the deep-JSON 500 is now a 400.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createApp, type App } from '../../../src/app.ts';
import { createManualClock } from '../../../src/clock/manual.ts';
import { loadConfig } from '../../../src/config.ts';
import { createPgliteDb } from '../../../src/store/pglite/adapter.ts';
import type { Db } from '../../../src/store/port.ts';
import { authHeaders, type AuthHeaders } from '../../support/api-keys.ts';

const HOST = '127.0.0.1:3001';
const DEEP = '{"ids":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';

describe('admin guards on the admin listener', () => {
  let db: Db;
  let app: App;
  let guarded: FastifyInstance;
  let auth: AuthHeaders;
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(loadConfig({ SWITCHYARD_DEMO: 'false' }), {
      db,
      log: pino({ level: 'silent' }),
      clock: createManualClock(),
    });
    guarded = app.adminServer;
    await guarded.ready();
    auth = await authHeaders(app);
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('a cross-site text/plain retry and a rebinding Host are refused; the CLI shape is served', async () => {
    const evil = await guarded.inject({
      method: 'POST',
      url: '/v1/dead-letters/retry',
      payload: '{"ids":[1]}',
      headers: { ...auth, host: HOST, origin: 'https://evil.example', 'content-type': 'text/plain' },
    });
    assert.equal(evil.statusCode, 403);
    assert.equal(evil.json().error, 'ORIGIN_NOT_ALLOWED');
    const noOrigin = await guarded.inject({
      method: 'POST',
      url: '/v1/dead-letters/retry',
      payload: '{"ids":[1]}',
      headers: { ...auth, host: HOST, 'content-type': 'text/plain' },
    });
    assert.equal(noOrigin.statusCode, 415);
    const rebind = await guarded.inject({
      url: '/v1/dead-letters',
      headers: { ...auth, host: 'attacker.example:3001' },
    });
    assert.equal(rebind.statusCode, 421);
    const keyless = await guarded.inject({
      method: 'POST',
      url: '/v1/dead-letters/retry',
      payload: '{"ids":[1]}',
      headers: { host: HOST, 'content-type': 'application/json' },
    });
    assert.equal(keyless.statusCode, 401);
    const cli = await guarded.inject({
      method: 'POST',
      url: '/v1/dead-letters/retry',
      payload: '{"ids":[1]}',
      headers: { ...auth, host: HOST, 'content-type': 'application/json' },
    });
    assert.equal(cli.statusCode, 200, cli.body);
    assert.equal(cli.headers['cache-control'], 'no-store');
    assert.equal((await guarded.inject({ url: '/healthz', headers: { host: '10.0.0.9:3001' } })).statusCode, 200);
  });

  it(
    'what the guards refuse writes no audit row (a hostile page cannot grow the log); a refused key still ' + 'does',
    async () => {
      const rows = async (): Promise<number> => (await app.audit.list({ limit: 1000 })).entries.length;
      const before = await rows();
      for (let i = 0; i < 20; i++) {
        await guarded.inject({
          method: 'POST',
          url: '/v1/campaigns/x/cancel',
          payload: '{}',
          headers: { host: HOST, origin: 'https://evil.example', 'content-type': 'text/plain' },
        });
        await guarded.inject({
          method: 'POST',
          url: '/v1/campaigns/x/cancel',
          payload: '{}',
          headers: { host: 'attacker.example', 'content-type': 'application/json' },
        });
      }
      assert.equal(await rows(), before);
      const keyless = await guarded.inject({
        method: 'POST',
        url: '/v1/campaigns/x/cancel',
        payload: '{}',
        headers: { host: HOST, 'content-type': 'application/json' },
      });
      assert.equal(keyless.statusCode, 401);
      const [last] = (await app.audit.list({ limit: 1 })).entries;
      assert.equal(await rows(), before + 1);
      assert.deepEqual(
        [last?.action, last?.outcome, last?.actorName],
        ['POST /v1/campaigns/:id/cancel', 401, 'anonymous'],
      );
    },
  );

  it('JSON nested 100 000 deep: 400 JSON_TOO_DEEP, never a 5xx', async () => {
    const res = await guarded.inject({
      method: 'POST',
      url: '/v1/dead-letters/retry',
      payload: DEEP,
      headers: { ...auth, host: HOST, 'content-type': 'application/json' },
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'JSON_TOO_DEEP');
  });

  it('/docs and its scripts load under the admin CSP', async () => {
    let page = await guarded.inject({ url: '/docs', headers: { host: HOST } });
    if (page.statusCode >= 300 && page.statusCode < 400)
      page = await guarded.inject({
        url: String(page.headers.location).replace(/^\.\//, '/docs/'),
        headers: { host: HOST },
      });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self';/);
    const scripts = [...page.body.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1] as string);
    assert.ok(scripts.length >= 3);
    for (const src of scripts) {
      const res = await guarded.inject({
        url: src.startsWith('./') ? `/docs/${src.slice(2)}` : src,
        headers: { host: HOST },
      });
      assert.equal(res.statusCode, 200, src);
    }
    assert.equal((await guarded.inject({ url: '/openapi.json', headers: { host: HOST } })).statusCode, 200);
  });
});
