/**
 * The admin listener's /openapi.json also describes the public listener's routes (tracking,
 * one-click unsubscribe, webhooks, health): each with a purpose, tagged `public listener`, saying
 * it is served on the public port, and matching what the public server really registers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { PUBLIC_LISTENER_TAG } from '../../src/api/public-openapi.ts';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

interface Op {
  tags?: string[];
  summary?: string;
  description?: string;
  security?: unknown[];
}
type Spec = { paths: Record<string, Record<string, Op>>; tags?: { name: string }[] };

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** `/t/u/{token}/confirm` → the Fastify route that serves it (`/t/u/*`: tokens span segments). */
function routeOf(path: string): string {
  const t = path.match(/^\/t\/([ocu])\//);
  return t ? `/t/${t[1]}/*` : path.replace(/\{(\w+)\}/g, ':$1');
}

describe('OpenAPI document: public listener routes', () => {
  let db: Db;
  let app: App;
  let spec: Spec;
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(loadConfig({ SWITCHYARD_DEMO: 'false' }), {
      db,
      clock: createManualClock(),
      log: pino({ level: 'silent' }),
    });
    spec = (await app.adminServer.inject('/openapi.json')).json() as Spec;
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  function publicOps(): { path: string; method: string; op: Op }[] {
    const out: { path: string; method: string; op: Op }[] = [];
    for (const [path, item] of Object.entries(spec.paths))
      for (const [method, op] of Object.entries(item))
        if (METHODS.includes(method) && op.tags?.includes(PUBLIC_LISTENER_TAG)) out.push({ path, method, op });
    return out;
  }

  it('lists tracking, both unsubscribe forms, every webhook vendor and the health probes', () => {
    const listed = new Set(publicOps().map((o) => `${o.method.toUpperCase()} ${o.path}`));
    for (const expected of [
      'GET /t/o/{token}',
      'GET /t/c/{token}',
      'GET /t/u/{token}',
      'POST /t/u/{token}',
      'POST /t/u/{token}/confirm',
      'POST /webhooks/sendgrid',
      'POST /webhooks/mailgun',
      'POST /webhooks/ses',
      'POST /webhooks/postmark',
      'GET /healthz',
      'GET /readyz',
    ])
      assert.ok(listed.has(expected), expected);
    assert.ok(spec.tags?.some((t) => t.name === PUBLIC_LISTENER_TAG));
  });

  it('gives each public route a purpose, no key requirement, and says which listener serves it', () => {
    for (const { path, method, op } of publicOps()) {
      const at = `${method} ${path}`;
      assert.ok((op.summary ?? '').length > 5, at);
      assert.ok((op.description ?? '').length > 40, at);
      assert.deepEqual(op.security, [], at);
      if (path === '/healthz' || path === '/readyz') assert.match(op.description ?? '', /both listeners/, at);
      else assert.match(op.description ?? '', /public listener.*not on the admin port/, at);
    }
    assert.match(spec.paths['/t/u/{token}']?.post?.summary ?? '', /One-click unsubscribe \(RFC 8058\)/);
  });

  it('every documented public route is served by the public listener and not by the admin one', async () => {
    for (const { path, method } of publicOps()) {
      const route = { method: method.toUpperCase() as 'GET', url: routeOf(path) };
      assert.ok(app.publicServer.hasRoute(route), `public ${route.method} ${route.url}`);
      if (path !== '/healthz' && path !== '/readyz')
        assert.equal(app.adminServer.hasRoute(route), false, `admin ${route.method} ${route.url}`);
    }
  });

  it('every named route the public listener registers is in the document', () => {
    const documented = new Set(publicOps().map((o) => `${o.method.toUpperCase()} ${routeOf(o.path)}`));
    const lines = app.publicServer.printRoutes({ commonPrefix: false }).split('\n');
    let seen = 0;
    for (const line of lines) {
      const m = line.match(/(\/\S*) \(([A-Z, ]+)\)/);
      if (!m?.[1] || !m[2]) continue;
      for (const method of m[2].split(', ').filter((x) => x !== 'HEAD')) {
        assert.ok(documented.has(`${method} ${m[1]}`), `${method} ${m[1]} is not in /openapi.json`);
        seen++;
      }
    }
    assert.ok(seen >= 6);
    for (const prefix of ['o', 'c', 'u'])
      assert.ok(
        [...documented].some((d) => d.endsWith(`/t/${prefix}/*`)),
        `/t/${prefix}/*`,
      );
  });
});
