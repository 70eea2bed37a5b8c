/**
 * Bounded fuzzing of every route the public listener serves, as app.ts wires it (real store,
 * every webhook vendor configured). The routes are read from the server itself, so a public
 * route added later is fuzzed without touching this file. Invariants: no response is ≥ 500,
 * the process survives, and every refused request is a 4xx whose JSON body names an error code.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

const config = loadConfig({
  SWITCHYARD_DEMO: 'false',
  SWITCHYARD_TRACKING_SECRET: 'fuzz-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
  SWITCHYARD_MAILGUN_SIGNING_KEY: 'mg-key',
  SWITCHYARD_POSTMARK_WEBHOOK_AUTH: 'pm:pw',
  SWITCHYARD_STRIPE_WEBHOOK_SECRET: 'whsec_fuzz',
  SWITCHYARD_SES_TOPIC_ARNS: 'arn:aws:sns:eu-west-1:123456789012:switchyard',
  SWITCHYARD_SENDGRID_WEBHOOK_PUBLIC_KEY:
    'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T2vQ9l5Jd5lbx0V/gNE3RkOA3+WsOI8MzWmPNKVlJ6AUCvXIIBB/1EKzCOG0Qi7k'
    + '+ajE4oakRjPMk6vV5Lqw==',
  SWITCHYARD_RATE_LIMIT_PUBLIC_PER_MIN: '0',
  SWITCHYARD_RATE_LIMIT_WEBHOOK_PER_MIN: '0',
});

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS' | 'PATCH';
interface Route {
  path: string;
  methods: Method[];
}

/** Every route of a Fastify instance, rebuilt from its printed radix tree (4 columns a level). */
function routesOf(app: App['publicServer']): Route[] {
  const parts: string[] = [];
  const routes: Route[] = [];
  for (const line of app.printRoutes().split('\n')) {
    const m = /^(.*?)[├└]── (\S*)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (m === null) continue;
    const depth = (m[1] as string).length / 4;
    parts.length = depth;
    parts.push(m[2] as string);
    if (m[3] !== undefined) routes.push({ path: parts.join(''), methods: m[3].split(', ') as Method[] });
  }
  return routes;
}

const segment = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }).map((s) => encodeURIComponent(s)),
  fc.constantFrom(
    '%00',
    '%zz',
    '%',
    '..',
    '%2e%2e',
    'a%00b',
    '0',
    '-1',
    '99999999999999999999',
    'A'.repeat(3000),
    '\u0000',
    '%ud800',
    'confirm',
  ),
  fc.base64String({ maxLength: 120 }).map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')),
);
const deepJson = fc.nat({ max: 100_000 }).map((n) => '['.repeat(n) + ']'.repeat(n));
const body = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
  fc.json({ maxDepth: 4 }),
  deepJson,
  fc.constantFrom(
    '{"timestamp":1e300,"token":"x","signature":"y"}',
    'List-Unsubscribe=One-Click',
    '{"event":"x\\u0000"}',
    '[',
    '\u0000',
    'x'.repeat(70_000),
  ),
);
const contentType = fc.option(
  fc.constantFrom(
    'application/json',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/json; charset=utf-16',
    '*/*',
    'x',
    'application/json\u0000',
  ),
  { nil: undefined },
);
const headerValue = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 60,
});
const extraHeaders = fc.dictionary(
  fc.constantFrom(
    'origin',
    'user-agent',
    'authorization',
    'x-mailgun-signature',
    'x-twilio-email-event-webhook-signature',
    'x-twilio-email-event-webhook-timestamp',
    'stripe-signature',
    'x-amz-sns-message-type',
    'accept',
    'cookie',
    'range',
  ),
  headerValue,
  { maxKeys: 4 },
);

describe('public listener fuzz', () => {
  let db: Db;
  let app: App;
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(config, {
      db,
      log: pino({ level: 'silent' }),
      clock: createManualClock(new Date('2026-06-01T10:00:00Z')),
    });
    await app.publicServer.ready();
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('answers every request to every public route below 500, refusals with an error code', async () => {
    const routes = routesOf(app.publicServer);
    assert.ok(
      routes.some((r) => r.path.startsWith('/webhooks/')) && routes.some((r) => r.path.startsWith('/t/')),
      JSON.stringify(routes),
    );
    const request = fc.record({
      route: fc.constantFrom(...routes),
      other: fc.constantFrom<Method>('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
      useOther: fc.boolean(),
      segments: fc.array(segment, { minLength: 1, maxLength: 4 }),
      query: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
      body,
      contentType,
      headers: extraHeaders,
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const method = r.useOther ? r.other : r.route.methods[0]!;
        let i = 0;
        const path = r.route.path.replace(/\*|:[A-Za-z]+/g, () => r.segments[i++ % r.segments.length]!);
        const url = `${path}${r.query === undefined ? '' : `?${encodeURIComponent(r.query)}`}`;
        const hasBody = r.body !== undefined && method !== 'GET' && method !== 'HEAD';
        const res = await app.publicServer.inject({
          method,
          url,
          headers: { ...r.headers, ...(r.contentType === undefined ? {} : { 'content-type': r.contentType }) },
          ...(hasBody ? { payload: r.body } : {}),
        });
        assert.ok(res.statusCode < 500, `${method} ${url.slice(0, 120)} → ${res.statusCode} ${res.body.slice(0, 300)}`);
        if (res.statusCode >= 400 && method !== 'HEAD') {
          const parsed = (() => {
            try {
              return JSON.parse(res.body) as { error?: unknown };
            } catch {
              return {};
            }
          })();
          assert.match(
            String(parsed.error),
            /^[A-Z][A-Z0-9_]+$/,
            `${method} ${url.slice(0, 120)} → ${res.statusCode} without an error code: ${res.body.slice(0, 200)}`,
          );
        }
      }),
      { numRuns: 400, seed: 20261206 },
    );
  });
});
