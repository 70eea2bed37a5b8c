import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import {
  registerAdminSecurityHeaders,
  registerPublicSecurityHeaders,
} from '../../../src/api/guards/security-headers.ts';
import { addDummyRoutes, createGuardedApp, type GuardedApp } from '../../support/guarded-app.ts';

const TRACKING_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

async function adminApp(): Promise<GuardedApp> {
  const g = createGuardedApp();
  await registerAdminSecurityHeaders(g.app);
  await g.app.register(swagger, { openapi: { info: { title: 'test', version: '0' } } });
  await g.app.register(swaggerUi, { routePrefix: '/docs' });
  addDummyRoutes(g);
  await g.app.ready();
  return g;
}

/** The CSP as directive → sources. */
function csp(header: unknown): Map<string, string[]> {
  return new Map(
    String(header)
      .split(';')
      .map((d) => d.trim())
      .filter((d) => d !== '')
      .map((d) => {
        const [name = '', ...sources] = d.split(/\s+/);
        return [name, sources];
      }),
  );
}

describe('security headers', () => {
  it('admin: /v1 answers carry nosniff, no referrer, DENY framing, a strict CSP and no-store', async (t) => {
    const g = await adminApp();
    t.after(() => g.app.close());
    const res = await g.app.inject('/v1/campaigns');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['strict-transport-security'], undefined, 'HSTS belongs to the TLS proxy');
    assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(res.headers['cross-origin-resource-policy'], 'same-origin');
    const policy = csp(res.headers['content-security-policy']);
    assert.deepEqual(policy.get('frame-ancestors'), ["'none'"]);
    assert.deepEqual(policy.get('script-src'), ["'self'"]);
    assert.deepEqual(policy.get('object-src'), ["'none'"]);
    assert.equal(policy.has('upgrade-insecure-requests'), false, 'the default listener is plain http on loopback');
    assert.equal((await g.app.inject('/healthz')).headers['cache-control'], undefined, 'no-store is for /v1');
  });

  it('admin: the Swagger UI at /docs still loads under the CSP (no inline script, same-origin assets)', async (t) => {
    const g = await adminApp();
    t.after(() => g.app.close());
    let page = await g.app.inject('/docs');
    if (page.statusCode >= 300 && page.statusCode < 400)
      page = await g.app.inject(String(page.headers.location).replace(/^\.\//, '/docs/'));
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    const policy = csp(page.headers['content-security-policy']);
    const scripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length > 0);
    for (const [, attrs, inline] of scripts) {
      assert.match(attrs ?? '', /\bsrc="/, 'every script is a file, since script-src has no unsafe-inline');
      assert.equal((inline ?? '').trim(), '');
    }
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((m) => m[1] as string);
    assert.ok(assets.length >= 4);
    for (const asset of assets) {
      assert.ok(asset.startsWith('/docs/') || asset.startsWith('./'), `${asset} is same-origin`);
      const res = await g.app.inject(asset.startsWith('./') ? `/docs/${asset.slice(2)}` : asset);
      assert.equal(res.statusCode, 200, asset);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    assert.deepEqual(policy.get('script-src'), ["'self'"]);
    assert.ok(policy.get('style-src')?.includes("'unsafe-inline'"), 'swagger-ui sets inline style attributes');
    assert.ok(policy.get('img-src')?.includes('data:'), 'swagger-ui icons are data: URIs');
    assert.deepEqual(policy.get('connect-src'), ["'self'"], 'the UI fetches the spec from this origin');
    assert.equal((await g.app.inject('/docs/json')).statusCode, 200);
  });

  it("public: nosniff, no referrer and no framing, without overriding a route's own CSP", async (t) => {
    const g = createGuardedApp();
    registerPublicSecurityHeaders(g.app);
    addDummyRoutes(g);
    g.app.get('/t/u/:token', async (_req, reply) =>
      reply.header('content-security-policy', TRACKING_PAGE_CSP).type('text/html').send('<p>unsubscribe?</p>'),
    );
    g.app.get('/t/c/:token', async (_req, reply) =>
      reply.status(302).header('referrer-policy', 'origin').header('location', 'https://example.com/').send(),
    );
    t.after(() => g.app.close());
    const pixel = await g.app.inject('/t/o/abc');
    assert.equal(pixel.headers['x-content-type-options'], 'nosniff');
    assert.equal(pixel.headers['referrer-policy'], 'no-referrer');
    assert.equal(pixel.headers['x-frame-options'], 'DENY');
    assert.equal(pixel.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
    const page = await g.app.inject('/t/u/abc');
    assert.equal(page.headers['content-security-policy'], TRACKING_PAGE_CSP);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    const click = await g.app.inject('/t/c/abc');
    assert.equal(click.statusCode, 302);
    assert.equal(click.headers['referrer-policy'], 'origin', "a route's own referrer policy is kept");
  });
});
