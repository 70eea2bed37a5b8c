/**
 * Issue 12's attacks replayed through app.ts's two listeners (the guards, access control and
 * routes as wired for `npm start`), for findings whose other tests use a dummy server or call a
 * service directly: every /v1 operation without a key, a cross-site `text/plain` cancel of a
 * running campaign, rate limits on both listeners, a preview's links minted over HTTP, a template
 * loop previewed over HTTP, the public listener asked for admin routes, and a Mailgun signature
 * timestamp of 1e300.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders, type AuthHeaders } from '../support/api-keys.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const HOST = '127.0.0.1:3001';
const JSON_TYPE = { 'content-type': 'application/json' };
const MAILGUN_KEY = 'mg-signing-key';

async function openApp(env: Record<string, string>): Promise<{ app: App; db: Db }> {
  const db = await createPgliteDb({});
  const app = await createApp(
    loadConfig({
      SWITCHYARD_TRACKING_SECRET: 'attack-secret',
      SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
      SWITCHYARD_MAILGUN_SIGNING_KEY: MAILGUN_KEY,
      ...env,
    }),
    { db, log: pino({ level: 'silent' }), clock: createManualClock(new Date('2026-06-01T10:00:00Z')) },
  );
  return { app, db };
}

describe('issue 12 attacks through both listeners, unlimited rates', () => {
  let app: App;
  let db: Db;
  let marketer: AuthHeaders;
  let campaignId: string;
  before(async () => {
    ({ app, db } = await openApp({
      SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN: '0',
      SWITCHYARD_RATE_LIMIT_PUBLIC_PER_MIN: '0',
      SWITCHYARD_RATE_LIMIT_WEBHOOK_PER_MIN: '0',
    }));
    marketer = await authHeaders(app, 'marketer');
    const created = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/campaigns',
      headers: { ...marketer, host: HOST },
      payload: demoCampaign({ audience: { source: 'demo', size: 1 } }) as unknown as Record<string, unknown>,
    });
    assert.equal(created.statusCode, 201, created.body);
    campaignId = created.json().id as string;
    const started = await app.adminServer.inject({
      method: 'POST',
      url: `/v1/campaigns/${campaignId}/start`,
      headers: { ...marketer, host: HOST, ...JSON_TYPE },
      payload: '{}',
    });
    assert.equal(started.statusCode, 200, started.body);
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  const statusOf = async (): Promise<string> =>
    (await app.adminServer.inject({ url: `/v1/campaigns/${campaignId}`, headers: { ...marketer, host: HOST } })).json()
      .status as string;

  it(
    'every /v1 operation of the OpenAPI document is 401 UNAUTHENTICATED without a key, and changes ' + 'nothing',
    async () => {
      const spec = (await app.adminServer.inject({ url: '/openapi.json', headers: { host: HOST } })).json() as {
        paths: Record<string, Record<string, unknown>>;
      };
      const before = await statusOf();
      const keysBefore = (await app.keys.list()).length;
      const tried: string[] = [];
      for (const [path, ops] of Object.entries(spec.paths)) {
        // a path item that names its own servers is on the public listener (signed intake, no key)
        if (!path.startsWith('/v1') || 'servers' in ops) continue;
        for (const method of Object.keys(ops)) {
          const url = path
            .replace('{id}', path.startsWith('/v1/campaigns') ? campaignId : '1')
            .replace('{email}', 'victim@example.com');
          const upper = method.toUpperCase() as Method;
          const res = await app.adminServer.inject({
            method: upper,
            url,
            headers: { host: HOST, ...(upper === 'GET' ? {} : JSON_TYPE) },
            ...(upper === 'GET' ? {} : { payload: JSON.stringify({ name: 'x', role: 'admin', ids: [1] }) }),
          });
          assert.equal(res.statusCode, 401, `${upper} ${url}: ${res.body}`);
          assert.equal(res.json().error, 'UNAUTHENTICATED');
          tried.push(`${upper} ${path}`);
        }
      }
      // the finding's list: create, start, pause, cancel, resume deliverability, retry dead letters,
      // claim a review item, read a suppression
      for (const op of [
        'POST /v1/campaigns',
        'POST /v1/campaigns/{id}/start',
        'POST /v1/campaigns/{id}/pause',
        'POST /v1/campaigns/{id}/cancel',
        'POST /v1/deliverability/resume',
        'POST /v1/dead-letters/retry',
        'POST /v1/review-items/{id}/claim',
        'GET /v1/suppressions/{email}',
      ])
        assert.ok(tried.includes(op), `${op} is in the document and was tried`);
      assert.equal(await statusOf(), before, 'the campaign is untouched');
      assert.equal((await app.keys.list()).length, keysBefore, 'no key was created');
    },
  );

  it(
    'a cross-site text/plain cancel (with or without a key) and a rebinding Host leave a running campaign ' + 'running',
    async () => {
      const before = await statusOf();
      assert.notEqual(before, 'cancelled');
      for (const headers of [
        { host: HOST, origin: 'https://evil.example', 'content-type': 'text/plain' },
        { host: HOST, origin: 'https://evil.example', 'content-type': 'text/plain', ...marketer },
        { host: HOST, 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site', ...marketer },
        { host: 'attacker.example', ...JSON_TYPE, ...marketer },
        { host: HOST, 'content-type': 'application/x-www-form-urlencoded', ...marketer },
      ]) {
        const res = await app.adminServer.inject({
          method: 'POST',
          url: `/v1/campaigns/${campaignId}/cancel`,
          headers,
          payload: '{}',
        });
        assert.ok([403, 415, 421].includes(res.statusCode), `${JSON.stringify(headers)}: ${res.statusCode}`);
        assert.match(res.json().error, /^(ORIGIN_NOT_ALLOWED|CONTENT_TYPE_NOT_ALLOWED|HOST_NOT_ALLOWED)$/);
        assert.equal(await statusOf(), before);
      }
      // the same request as the CLI sends it does cancel: the refusals above were not vacuous
      const cli = await app.adminServer.inject({
        method: 'POST',
        url: `/v1/campaigns/${campaignId}/cancel`,
        headers: { host: HOST, ...JSON_TYPE, ...marketer },
        payload: '{}',
      });
      assert.equal(cli.statusCode, 200, cli.body);
      assert.equal(await statusOf(), 'cancelled');
    },
  );

  it('a preview over HTTP mints links for any contact that neither unsubscribe nor redirect', async () => {
    const created = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/campaigns',
      headers: { ...marketer, host: HOST },
      payload: demoCampaign({
        audience: { source: 'demo', size: 1 },
        template: { html: '<body><a href="https://evil.example/phish">x</a></body>' },
      }) as unknown as Record<string, unknown>,
    });
    assert.equal(created.statusCode, 201, created.body);
    const victim = { id: 'cus_victim', email: 'victim@example.com' };
    const preview = await app.adminServer.inject({
      method: 'POST',
      url: `/v1/campaigns/${created.json().id}/preview`,
      headers: { ...marketer, host: HOST, ...JSON_TYPE },
      payload: JSON.stringify(victim),
    });
    assert.equal(preview.statusCode, 200, preview.body);
    const text = JSON.stringify(preview.json());
    const paths = [...text.matchAll(/https:\/\/t\.example\.com(\/t\/[cu]\/[\w/-]+)/g)].map((m) => m[1] as string);
    assert.ok(paths.some((p) => p.startsWith('/t/c/')) && paths.some((p) => p.startsWith('/t/u/')), text);
    for (const path of new Set(paths)) {
      for (const method of ['GET', 'POST'] as const) {
        const res = await app.publicServer.inject({
          method,
          url: path,
          ...(method === 'POST'
            ? {
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
                payload: 'List-Unsubscribe=One-Click',
              }
            : {}),
        });
        if (res.statusCode === 404 || res.statusCode === 405) continue; // a method the route does not have
        assert.equal(res.statusCode, 400, `${method} ${path}: ${res.body}`);
        assert.equal(res.json().error, 'TRACKING_PREVIEW_TOKEN');
        assert.equal(res.headers.location, undefined, 'no redirect');
      }
    }
    const { rows } = await db.query('select 1 from suppressions where email = $1', [victim.email]);
    assert.equal(rows.length, 0);
  });

  it('a preview of a 2 000 000-step template loop over HTTP is 422 TEMPLATE_LIMIT_EXCEEDED, not a 500', async () => {
    const created = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/campaigns',
      headers: { ...marketer, host: HOST },
      payload: demoCampaign({
        audience: { source: 'demo', size: 1 },
        template: { html: '<body>{% for i in (1..2000000) %}x{% endfor %}</body>' },
      }) as unknown as Record<string, unknown>,
    });
    assert.equal(created.statusCode, 201, created.body);
    const res = await app.adminServer.inject({
      method: 'POST',
      url: `/v1/campaigns/${created.json().id}/preview`,
      headers: { ...marketer, host: HOST, ...JSON_TYPE },
      payload: JSON.stringify({ id: 'cus_1', email: 'ann@example.com' }),
    });
    assert.equal(res.statusCode, 422, res.body);
    assert.equal(res.json().error, 'TEMPLATE_LIMIT_EXCEEDED');
  });

  it('the public listener serves no admin route, with or without a key', async () => {
    const admin = await authHeaders(app, 'admin', 'public-probe');
    for (const [method, url] of [
      ['GET', '/v1/campaigns'],
      ['POST', '/v1/keys'],
      ['POST', `/v1/campaigns/${campaignId}/cancel`],
      ['GET', '/v1/audit'],
      ['GET', '/openapi.json'],
      ['GET', '/docs'],
      ['GET', '/docs/'],
      ['GET', '/metrics'],
    ] as const) {
      for (const headers of [{}, admin]) {
        const res = await app.publicServer.inject({
          method,
          url,
          headers: { ...headers, ...(method === 'POST' ? JSON_TYPE : {}) },
          ...(method === 'POST' ? { payload: '{"name":"x","role":"admin"}' } : {}),
        });
        assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
        assert.equal(res.json().error, 'NOT_FOUND');
      }
    }
  });

  it('a Mailgun signature timestamp of 1e300, signed or not, is a 4xx with a code and suppresses nobody', async () => {
    const token = 't'.repeat(50);
    const eventData = {
      event: 'unsubscribed',
      id: 'mg-1e300',
      timestamp: 1780308000,
      recipient: 'victim@example.org',
    };
    const bodies = [
      { signature: { timestamp: 1e300, token, signature: 'y'.repeat(64) }, 'event-data': eventData },
      {
        signature: {
          timestamp: 1e300,
          token,
          signature: createHmac('sha256', MAILGUN_KEY)
            .update(String(1e300) + token)
            .digest('hex'),
        },
        'event-data': eventData,
      },
      { signature: { timestamp: '1e300', token, signature: 'y' }, 'event-data': eventData },
    ];
    for (const body of bodies) {
      const res = await app.publicServer.inject({
        method: 'POST',
        url: '/webhooks/mailgun',
        headers: JSON_TYPE,
        payload: JSON.stringify(body),
      });
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} ${res.body}`);
      assert.match(res.json().error, /^[A-Z][A-Z0-9_]+$/);
    }
    const { rows } = await db.query('select 1 from suppressions where email = $1', ['victim@example.org']);
    assert.equal(rows.length, 0);
  });
});

describe('issue 12: rate limits on both listeners as app.ts wires them', () => {
  let app: App;
  let db: Db;
  before(async () => {
    ({ app, db } = await openApp({
      SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN: '60',
      SWITCHYARD_RATE_LIMIT_ADMIN_BURST: '5',
      SWITCHYARD_RATE_LIMIT_PUBLIC_PER_MIN: '60',
      SWITCHYARD_RATE_LIMIT_PUBLIC_BURST: '5',
      SWITCHYARD_RATE_LIMIT_WEBHOOK_PER_MIN: '60',
      SWITCHYARD_RATE_LIMIT_WEBHOOK_BURST: '5',
    }));
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('admin: a flood from one address and one key spread over addresses both end in 429 with Retry-After', async () => {
    const key = await authHeaders(app, 'analyst');
    const codes: number[] = [];
    for (let i = 0; i < 20; i++)
      codes.push(
        (
          await app.adminServer.inject({
            url: '/v1/campaigns',
            headers: { ...key, host: HOST },
            remoteAddress: '203.0.113.7',
          })
        ).statusCode,
      );
    assert.deepEqual(codes, [...Array(5).fill(200), ...Array(15).fill(429)]);
    const refused = await app.adminServer.inject({
      url: '/v1/campaigns',
      headers: { host: HOST },
      remoteAddress: '203.0.113.7',
    });
    assert.equal(refused.statusCode, 429, 'no key: still the address limit');
    assert.equal(refused.json().error, 'RATE_LIMITED');
    assert.match(String(refused.headers['retry-after']), /^[1-9]\d*$/);
    // the key's own bucket is spent too: from fresh addresses it is refused after its burst
    const other = await authHeaders(app, 'analyst', 'spread');
    const spread: number[] = [];
    for (let i = 0; i < 8; i++)
      spread.push(
        (
          await app.adminServer.inject({
            url: '/v1/campaigns',
            headers: { ...other, host: HOST },
            remoteAddress: `198.51.100.${i + 1}`,
          })
        ).statusCode,
      );
    assert.deepEqual(spread, [...Array(5).fill(200), ...Array(3).fill(429)]);
    assert.equal((await app.adminServer.inject({ url: '/healthz', remoteAddress: '203.0.113.7' })).statusCode, 200);
  });

  it('public: a flood of tracking and webhook requests from one address ends in 429 with Retry-After', async () => {
    for (const url of ['/t/o/not-a-token', '/webhooks/mailgun']) {
      const codes: number[] = [];
      let last: Awaited<ReturnType<App['publicServer']['inject']>> | undefined;
      for (let i = 0; i < 10; i++) {
        last = await app.publicServer.inject({
          method: url.startsWith('/webhooks') ? 'POST' : 'GET',
          url,
          remoteAddress: '192.0.2.44',
          ...(url.startsWith('/webhooks') ? { headers: JSON_TYPE, payload: '{}' } : {}),
        });
        codes.push(last.statusCode);
      }
      assert.ok(
        codes.slice(0, 5).every((c) => c !== 429),
        `${url}: ${codes.join(',')}`,
      );
      assert.deepEqual(codes.slice(5), Array(5).fill(429), url);
      assert.equal(last?.json().error, 'RATE_LIMITED');
      assert.match(String(last?.headers['retry-after']), /^[1-9]\d*$/);
    }
  });
});
