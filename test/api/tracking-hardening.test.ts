/**
 * The tracking routes against what the internet sends them: RFC 8058 one-click POSTs with any
 * content type or body (honoured; only an oversized body is refused, 413 with a code), a parser
 * that stays scoped to /t, and malformed tokens and paths that always get a 4xx with an error
 * code, never a 5xx or a redirect.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import Fastify from 'fastify';
import { Type } from '@sinclair/typebox';
import { registerTrackingRoutes } from '../../src/api/routes/tracking.ts';
import type { TrackingDeps } from '../../src/api/routes/tracking.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { isSwitchyardError, SwitchyardError } from '../../src/core/errors.ts';
import { createTokenCodec } from '../../src/core/tracking-token.ts';
import { httpStatusFor } from '../../src/api/http-status.ts';
import { compileTemplate } from '../../src/campaigns/render/compile.ts';

const SECRETS = ['hardening-secret'];
const LEDGER = 'camp-1:contact-9';
const codec = createTokenCodec(SECRETS);
const message = codec.signMessage({ ledgerId: LEDGER, sentAt: 1_780_000_000 });
const template = await compileTemplate({
  subject: 's',
  html: '<body><a href="https://shop.example/">x</a> {{ unsubscribe_url }} {{ postal_address }}</body>',
});

async function harness(t: { after(fn: () => Promise<void>): void }) {
  const app = Fastify();
  app.setErrorHandler((err, _req, reply) => {
    if (isSwitchyardError(err))
      return reply.status(httpStatusFor(err.code)).send({ error: err.code, message: err.message });
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    return reply
      .status(status)
      .send({ error: status < 500 ? 'VALIDATION_FAILED' : 'INTERNAL', message: (err as Error).message });
  });
  const unsubscribes: Parameters<TrackingDeps['unsubscribe']>[0][] = [];
  await registerTrackingRoutes(app, {
    secrets: SECRETS,
    clock: createManualClock(new Date('2026-06-01T00:00:00Z')),
    async record() {
      /* counted elsewhere */
    },
    async unsubscribe(input) {
      unsubscribes.push(input);
    },
    async template(campaignId) {
      if (campaignId !== 'camp-1') throw new SwitchyardError('NOT_FOUND', `campaign ${campaignId} not found`);
      return template;
    },
  });
  // A sibling JSON route: the tracking scope's catch-all parser must not reach it.
  app.post('/v1/echo', { schema: { body: Type.Object({ a: Type.String() }) } }, async (req) => req.body);
  await app.ready();
  t.after(() => app.close());
  return { app, unsubscribes };
}

const ONE_CLICK = 'List-Unsubscribe=One-Click';

/** The refusal's code: ours, or Fastify's own for a URL it cannot decode (answered before any
 *  route or scope sees it; the server's frameworkErrors option is what can restyle it). */
function refusalCode(body: string): string {
  const json = JSON.parse(body) as { error?: string; code?: string };
  return json.code === 'FST_ERR_BAD_URL' ? json.code : (json.error ?? '');
}

describe('tracking routes: hardening', () => {
  it('one-click POST unsubscribes whatever the content type or body (RFC 8058: honour the POST)', async (t) => {
    const h = await harness(t);
    const cases: [Record<string, string>, string | Buffer][] = [
      [{ 'content-type': 'text/plain' }, ONE_CLICK],
      [{}, ONE_CLICK],
      [{}, ''],
      [{ 'content-type': 'application/json' }, ONE_CLICK],
      [{ 'content-type': 'application/json' }, ''],
      [{ 'content-type': 'multipart/form-data' }, ONE_CLICK],
      [{ 'content-type': 'application/octet-stream' }, Buffer.from([0, 1, 2, 255])],
      [{ 'content-type': 'not a type;;' }, ONE_CLICK],
      [
        { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        `${ONE_CLICK}&pad=${'x'.repeat(5 * 1024)}`,
      ],
      [{ 'content-type': 'text/plain' }, 'y'.repeat(60 * 1024)],
    ];
    for (const [headers, payload] of cases) {
      const res = await h.app.inject({ method: 'POST', url: `/t/u/${message.unsubscribe}`, headers, payload });
      assert.equal(res.statusCode, 200, `${JSON.stringify(headers)} ${payload.length} bytes: ${res.body}`);
    }
    const confirm = await h.app.inject({
      method: 'POST',
      url: `/t/u/${message.unsubscribe}/confirm`,
      headers: { 'content-type': 'application/json' },
      payload: '{',
    });
    assert.equal(confirm.statusCode, 200);
    assert.equal(h.unsubscribes.length, cases.length + 1);
  });

  it('a body over 64 KB is 413 TRACKING_PAYLOAD_TOO_LARGE and unsubscribes nobody', async (t) => {
    const h = await harness(t);
    const res = await h.app.inject({
      method: 'POST',
      url: `/t/u/${message.unsubscribe}`,
      headers: { 'content-type': 'text/plain' },
      payload: 'z'.repeat(64 * 1024 + 1),
    });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error, 'TRACKING_PAYLOAD_TOO_LARGE');
    assert.equal(h.unsubscribes.length, 0);
  });

  it('GET and HEAD still never unsubscribe, whatever they carry', async (t) => {
    const h = await harness(t);
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await h.app.inject({ method, url: `/t/u/${message.unsubscribe}?List-Unsubscribe=One-Click` });
      assert.equal(res.statusCode, 200);
    }
    assert.equal(h.unsubscribes.length, 0);
  });

  it('the permissive parser is scoped to /t: other routes keep their content types', async (t) => {
    const h = await harness(t);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/echo',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'a=b',
    });
    assert.equal(res.statusCode, 415);
    const ok = await h.app.inject({
      method: 'POST',
      url: '/v1/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"a":"b"}',
    });
    assert.deepEqual(ok.json(), { a: 'b' });
  });

  it('a click link signed for a non-http(s) URL never redirects', async (t) => {
    const h = await harness(t);
    for (const url of ['javascript:alert(1)', 'data:text/html,x', ' https://evil.example/', 'HTTPS:\\\\evil.example']) {
      const res = await h.app.inject({
        method: 'GET',
        url: `/t/c/${message.track}/0/${codec.signLink('camp-1', 0, url)}`,
      });
      assert.ok(
        res.statusCode === 400 || (res.statusCode === 302 && /^https:\/\//.test(String(res.headers.location))),
        `${url}: ${res.statusCode}`,
      );
      if (res.statusCode === 400) assert.equal(res.headers.location, undefined);
    }
  });

  it('malformed tokens and odd paths are 4xx with an error code, never 5xx or a redirect', async (t) => {
    const h = await harness(t);
    const paths = [
      '/t/c/%00',
      `/t/c/${message.track}%00/0`,
      `/t/c/${message.track}/0%00`,
      '/t/u/%00abc',
      '/t/u/abc%00/confirm',
      '/t/o/%00',
      `/t/c/${'A'.repeat(100_000)}`,
      `/t/u/${'A'.repeat(100_000)}`,
      '/t/c/%zz',
      '/t/u/%E0%A4%A',
      '/t/c/',
      '/t/u/',
      '/t/u//confirm',
      '/t/x/abc',
      '/t/',
      '/t',
      `/t/c/${message.track}/0/${'%2F'.repeat(50)}`,
      '/t/c/..%2F..%2Fetc%2Fpasswd',
      `/t/c/${message.track}/１`,
    ];
    for (const url of paths) {
      for (const method of ['GET', 'POST'] as const) {
        const res = await h.app.inject({
          method,
          url,
          headers: { 'content-type': 'text/plain' },
          payload: method === 'POST' ? ONE_CLICK : undefined,
        });
        assert.ok(res.statusCode < 500, `${method} ${url.slice(0, 80)}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        assert.equal(res.headers.location, undefined, url);
        if (res.statusCode >= 400)
          assert.match(
            refusalCode(res.body),
            /^[A-Z][A-Z_]+$/,
            `${method} ${url.slice(0, 80)}: ${res.body.slice(0, 200)}`,
          );
      }
    }
    const put = await h.app.inject({ method: 'PUT', url: `/t/u/${message.unsubscribe}` });
    assert.equal(put.statusCode, 404);
    assert.equal(put.json().error, 'NOT_FOUND');
    assert.equal(h.unsubscribes.length, 0);
  });

  it('fuzz: any path under /t answers < 500, with an error code whenever it refuses', async (t) => {
    const h = await harness(t);
    // Dot segments are resolved before routing, to paths outside /t (the server's 404, not ours).
    const segment = fc
      .oneof(
        fc.string({ maxLength: 40 }),
        fc.constantFrom(message.track, message.unsubscribe, '0', 'confirm', '%00', '%', '%2e%2e%2f'),
      )
      .map((p) => (p === '.' || p === '..' ? `${p}x` : p));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('c', 'o', 'u', 'x'),
        fc.array(segment, { maxLength: 4 }),
        fc.constantFrom('GET', 'POST', 'HEAD', 'DELETE'),
        async (kind, parts, method) => {
          const path = parts.map((p) =>
            p.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)).replace(/[?#]/g, '%3F'),
          );
          const url = `/t/${kind}/${path.join('/')}`;
          const res = await h.app.inject({
            method: method as 'GET',
            url,
            headers: { 'content-type': 'text/plain' },
            payload: method === 'POST' ? ONE_CLICK : undefined,
          });
          assert.ok(res.statusCode < 500, `${method} ${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
          if (res.statusCode >= 400 && method !== 'HEAD')
            assert.match(refusalCode(res.body), /^[A-Z][A-Z_]+$/, `${method} ${url}: ${res.body.slice(0, 200)}`);
        },
      ),
      { numRuns: 300 },
    );
    // Only the real unsubscribe token, POSTed as-is, can have unsubscribed anyone.
    assert.ok(h.unsubscribes.every((u) => u.ledgerId === LEDGER));
  });
});
