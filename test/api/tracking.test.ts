import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { registerTrackingRoutes } from '../../src/api/routes/tracking.ts';
import type { TrackingDeps } from '../../src/api/routes/tracking.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import type { ManualClock } from '../../src/clock/manual.ts';
import { isSwitchyardError, SwitchyardError } from '../../src/core/errors.ts';
import type { EngagementEvent } from '../../src/core/events.ts';
import { createTokenCodec, signToken } from '../../src/core/tracking-token.ts';
import { httpStatusFor } from '../../src/api/http-status.ts';
import { compileTemplate } from '../../src/campaigns/render/compile.ts';
import { renderMessage } from '../../src/campaigns/render/render-message.ts';
import type { RenderCampaign } from '../../src/campaigns/render/campaign-types.ts';

const SECRETS = ['current-secret', 'previous-secret'];
const LEDGER = 'camp-1:contact-9';
const SENT = new Date('2026-03-02T10:00:00Z');
const HUMAN_UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';

interface Harness {
  app: FastifyInstance;
  clock: ManualClock;
  events: EngagementEvent[];
  unsubscribes: Parameters<TrackingDeps['unsubscribe']>[0][];
  /** Campaign ids the routes asked a template for, in order. */
  templateLookups: string[];
}

/** camp-1's template: links 0 and 2 are static, link 1 is built by Liquid per recipient. */
const template = await compileTemplate({
  subject: 's',
  html:
    '<body><a href="https://shop.example/deals?a=1&amp;b=2">deals</a> <a href="https://shop.example/u/{{ '
    + 'contact.id }}">you</a>'
    + ' <a href="https://shop.example/café">café</a> {{ unsubscribe_url }} {{ postal_address }}</body>',
});

/** A bare Fastify app with the server's error mapping (codes → statuses via http-status.ts). */
async function harness(
  t: { after(fn: () => Promise<void>): void },
  overrides: Partial<TrackingDeps> = {},
): Promise<Harness> {
  const app = Fastify();
  app.setErrorHandler((err, _req, reply) => {
    if (isSwitchyardError(err))
      return reply.status(httpStatusFor(err.code)).send({ error: err.code, message: err.message });
    return reply.status(500).send({ error: 'INTERNAL', message: (err as Error).message });
  });
  const clock = createManualClock(new Date(SENT.getTime() + 3600_000));
  const events: EngagementEvent[] = [];
  const unsubscribes: Harness['unsubscribes'] = [];
  const templateLookups: string[] = [];
  await registerTrackingRoutes(app, {
    secrets: SECRETS,
    clock,
    async record(e) {
      events.push(e);
    },
    async unsubscribe(input) {
      unsubscribes.push(input);
    },
    async template(campaignId) {
      templateLookups.push(campaignId);
      if (campaignId !== 'camp-1') throw new SwitchyardError('NOT_FOUND', `campaign ${campaignId} not found`);
      return template;
    },
    ...overrides,
  });
  await app.ready();
  t.after(() => app.close());
  return { app, clock, events, unsubscribes, templateLookups };
}

const sentAt = Math.floor(SENT.getTime() / 1000);
// What a message rendered now carries: one track token (pixel, static links), one unsubscribe token.
const message = createTokenCodec(SECRETS).signMessage({ ledgerId: LEDGER, sentAt });
// Per-link (version 0) tokens: what Liquid-built links use and every email sent before carries.
const clickToken = signToken(SECRETS, {
  kind: 'c',
  ledgerId: LEDGER,
  url: 'https://shop.example/deals?a=1&b=2',
  linkIndex: 3,
  sentAt,
});
const openToken = signToken(SECRETS, { kind: 'o', ledgerId: LEDGER, sentAt });
const unsubToken = signToken(SECRETS, { kind: 'u', ledgerId: LEDGER });

function tamper(token: string): string {
  const i = Math.floor(token.length / 2);
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
}

describe('tracking routes', () => {
  it('open pixel: 1x1 GIF, no-store, records a human open', async (t) => {
    const h = await harness(t);
    const res = await h.app.inject({ method: 'GET', url: `/t/o/${openToken}`, headers: { 'user-agent': HUMAN_UA } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'image/gif');
    assert.match(String(res.headers['cache-control']), /no-store/);
    assert.equal(res.rawPayload.subarray(0, 6).toString(), 'GIF89a');
    assert.equal(res.rawPayload.readUInt16LE(6), 1, 'width 1');
    assert.equal(res.rawPayload.readUInt16LE(8), 1, 'height 1');
    assert.equal(h.events.length, 1);
    const e = h.events[0] as EngagementEvent;
    assert.equal(e.type, 'opened');
    assert.equal(e.provider, 'tracking');
    assert.equal(e.ledgerId, LEDGER);
    assert.equal(e.campaignId, 'camp-1');
    assert.equal(e.contactId, 'contact-9');
    assert.equal(e.isMachine, false);
    assert.equal(e.userAgent, HUMAN_UA);
    assert.deepEqual(e.occurredAt, h.clock.now());
  });

  it('open pixel: still a GIF for a bad token, but nothing is recorded', async (t) => {
    const h = await harness(t);
    for (const token of [tamper(openToken), 'garbage', clickToken]) {
      const res = await h.app.inject({ method: 'GET', url: `/t/o/${token}` });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'image/gif');
    }
    assert.equal(h.events.length, 0);
  });

  it('open pixel: an Apple-proxy fetch or a fetch right after sending is a machine open', async (t) => {
    const h = await harness(t);
    await h.app.inject({
      method: 'GET',
      url: `/t/o/${openToken}`,
      headers: { 'user-agent': 'Mozilla/5.0' },
      remoteAddress: '17.58.1.2',
    });
    assert.equal(h.events[0]?.isMachine, true);
    assert.deepEqual((h.events[0]!.raw as { machineReasons: string[] }).machineReasons, ['apple-proxy']);
    const justSent = signToken(SECRETS, {
      kind: 'o',
      ledgerId: LEDGER,
      sentAt: Math.floor(h.clock.now().getTime() / 1000) - 20,
    });
    await h.app.inject({ method: 'GET', url: `/t/o/${justSent}`, headers: { 'user-agent': HUMAN_UA } });
    assert.deepEqual((h.events[1]!.raw as { machineReasons: string[] }).machineReasons, ['prefetch-soon-after-send']);
  });

  it('open pixel: a retried request in the same minute dedups, a later open counts again', async (t) => {
    const h = await harness(t);
    const get = () => h.app.inject({ method: 'GET', url: `/t/o/${openToken}`, headers: { 'user-agent': HUMAN_UA } });
    await get();
    await h.clock.advance(5_000);
    await get();
    await h.clock.advance(10 * 60_000);
    await get();
    const ids = h.events.map((e) => e.sourceId);
    assert.equal(ids[0], ids[1], 'a retry within the minute has the same sourceId');
    assert.notEqual(ids[1], ids[2], 'a real repeat open later is a new event');
  });

  it('open pixel: a failing record still serves the GIF', async (t) => {
    const h = await harness(t, {
      async record() {
        throw new Error('store down');
      },
    });
    const res = await h.app.inject({ method: 'GET', url: `/t/o/${openToken}` });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'image/gif');
  });

  it('click: 302 to exactly the signed URL and records the click', async (t) => {
    const h = await harness(t);
    const res = await h.app.inject({ method: 'GET', url: `/t/c/${clickToken}`, headers: { 'user-agent': HUMAN_UA } });
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, 'https://shop.example/deals?a=1&b=2');
    assert.match(String(res.headers['cache-control']), /no-store/);
    assert.equal(h.events.length, 1);
    const e = h.events[0] as EngagementEvent;
    assert.equal(e.type, 'clicked');
    assert.equal(e.url, 'https://shop.example/deals?a=1&b=2');
    assert.equal(e.isMachine, false);
    assert.match(e.sourceId, /^tracking:c:camp-1:contact-9:3:\d+:h$/);
  });

  it('click: tampered, wrong-kind or query-smuggled tokens get 400 with a reason, never a redirect', async (t) => {
    const h = await harness(t);
    const bad = await h.app.inject({ method: 'GET', url: `/t/c/${tamper(clickToken)}` });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.headers.location, undefined);
    assert.deepEqual(bad.json().error, 'TRACKING_SIGNATURE_INVALID');
    assert.match(bad.json().message, /signature did not verify/);
    const wrongKind = await h.app.inject({ method: 'GET', url: `/t/c/${unsubToken}` });
    assert.equal(wrongKind.statusCode, 400);
    assert.match(wrongKind.json().message, /'u' token, not a 'c' token/);
    const foreign = signToken('attacker-secret', { kind: 'c', ledgerId: LEDGER, url: 'https://evil.example/' });
    const evil = await h.app.inject({ method: 'GET', url: `/t/c/${foreign}` });
    assert.equal(evil.statusCode, 400);
    const smuggled = await h.app.inject({ method: 'GET', url: `/t/c/${clickToken}?url=https://evil.example/` });
    assert.equal(smuggled.headers.location, 'https://shop.example/deals?a=1&b=2');
    const js = signToken(SECRETS, { kind: 'c', ledgerId: LEDGER, url: 'javascript:alert(1)' });
    assert.equal((await h.app.inject({ method: 'GET', url: `/t/c/${js}` })).statusCode, 400);
    assert.equal(h.events.length, 1, 'only the smuggled-but-valid click was recorded');
  });

  it('click: HEAD requests, scanner user agents and clicks seconds after sending are machine clicks', async (t) => {
    const h = await harness(t);
    const head = await h.app.inject({ method: 'HEAD', url: `/t/c/${clickToken}`, headers: { 'user-agent': HUMAN_UA } });
    assert.equal(head.statusCode, 302);
    await h.app.inject({
      method: 'GET',
      url: `/t/c/${clickToken}`,
      headers: { 'user-agent': 'Mozilla/5.0 HeadlessChrome/120.0' },
    });
    await h.clock.set(new Date(SENT.getTime() + 2 * 3600_000));
    const fresh = signToken(SECRETS, {
      kind: 'c',
      ledgerId: LEDGER,
      url: 'https://shop.example/',
      linkIndex: 0,
      sentAt: Math.floor(h.clock.now().getTime() / 1000) - 3,
    });
    await h.app.inject({ method: 'GET', url: `/t/c/${fresh}`, headers: { 'user-agent': HUMAN_UA } });
    assert.deepEqual(
      h.events.map((e) => [e.isMachine, (e.raw as { machineReasons: string[] }).machineReasons]),
      [
        [true, ['head-request']],
        [true, ['scanner-user-agent']],
        [true, ['click-soon-after-send']],
      ],
    );
    assert.match(h.events[0]?.sourceId ?? '', /:m$/, 'a machine hit never shares a sourceId with a human one');
  });

  it('click: long and non-ASCII destinations redirect (no 100-character param limit, valid Location)', async (t) => {
    const h = await harness(t);
    const long = `https://shop.example/p?q=${'x'.repeat(1500)}`;
    const res = await h.app.inject({
      method: 'GET',
      url: `/t/c/${signToken(SECRETS, { kind: 'c', ledgerId: LEDGER, url: long, linkIndex: 0 })}`,
    });
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, long);
    const unicode = signToken(SECRETS, { kind: 'c', ledgerId: LEDGER, url: 'https://shop.example/café?n=Jo & "Al"' });
    const res2 = await h.app.inject({ method: 'GET', url: `/t/c/${unicode}` });
    assert.equal(res2.statusCode, 302);
    assert.equal(res2.headers.location, 'https://shop.example/caf%C3%A9?n=Jo%20&%20%22Al%22');
  });

  it('click: tokens signed with a previous secret still work (rotation)', async (t) => {
    const h = await harness(t);
    const old = signToken(['previous-secret'], { kind: 'c', ledgerId: LEDGER, url: 'https://shop.example/old' });
    const res = await h.app.inject({ method: 'GET', url: `/t/c/${old}` });
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, 'https://shop.example/old');
  });

  it('one-click unsubscribe: RFC 8058 POST answers 200 without redirect and is idempotent', async (t) => {
    const h = await harness(t);
    for (const contentType of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const payload = contentType.startsWith('multipart')
        ? '--x\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--x--\r\n'
        : 'List-Unsubscribe=One-Click';
      const res = await h.app.inject({
        method: 'POST',
        url: `/t/u/${unsubToken}`,
        headers: { 'content-type': contentType },
        payload,
      });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers.location, undefined);
    }
    assert.deepEqual(h.unsubscribes, [
      { ledgerId: LEDGER, source: 'one_click', at: h.clock.now() },
      { ledgerId: LEDGER, source: 'one_click', at: h.clock.now() },
    ]);
  });

  it('one-click unsubscribe: a tampered token is 400 and unsubscribes nobody', async (t) => {
    const h = await harness(t);
    const res = await h.app.inject({
      method: 'POST',
      url: `/t/u/${tamper(unsubToken)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'TRACKING_SIGNATURE_INVALID');
    assert.equal(h.unsubscribes.length, 0);
  });

  it('preference page: GET never unsubscribes; the form POST does, then confirms', async (t) => {
    const h = await harness(t);
    const get = await h.app.inject({ method: 'GET', url: `/t/u/${unsubToken}` });
    assert.equal(get.statusCode, 200);
    assert.match(String(get.headers['content-type']), /^text\/html/);
    assert.ok(get.body.includes(`<form method="post" action="${unsubToken}/confirm">`));
    await h.app.inject({ method: 'HEAD', url: `/t/u/${unsubToken}` });
    assert.equal(h.unsubscribes.length, 0, 'link scanners (GET/HEAD) unsubscribe nobody');
    const confirm = await h.app.inject({
      method: 'POST',
      url: `/t/u/${unsubToken}/confirm`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'confirm=yes',
    });
    assert.equal(confirm.statusCode, 200);
    assert.match(confirm.body, /You are unsubscribed/);
    assert.deepEqual(h.unsubscribes, [{ ledgerId: LEDGER, source: 'preference_page', at: h.clock.now() }]);
    const getConfirm = await h.app.inject({ method: 'GET', url: `/t/u/${unsubToken}/confirm` });
    assert.equal(getConfirm.statusCode, 200);
    assert.ok(
      getConfirm.body.includes('<form method="post" action="confirm">'),
      'a GET on the confirm URL only shows the page',
    );
    assert.equal(h.unsubscribes.length, 1);
  });

  it('unsubscribe: a failing service is an error response, not a false 200', async (t) => {
    const h = await harness(t, {
      async unsubscribe() {
        throw new Error('store down');
      },
    });
    const res = await h.app.inject({
      method: 'POST',
      url: `/t/u/${unsubToken}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    assert.equal(res.statusCode, 500);
  });

  it('message token: tokens in emails sent before message tokens (per-link format) still work', async (t) => {
    const h = await harness(t);
    const click = await h.app.inject({ method: 'GET', url: `/t/c/${clickToken}`, headers: { 'user-agent': HUMAN_UA } });
    assert.equal(click.headers.location, 'https://shop.example/deals?a=1&b=2');
    await h.app.inject({ method: 'GET', url: `/t/o/${openToken}`, headers: { 'user-agent': HUMAN_UA } });
    const unsub = await h.app.inject({
      method: 'POST',
      url: `/t/u/${unsubToken}`,
      headers: { 'content-type': 'text/plain' },
      payload: 'List-Unsubscribe=One-Click',
    });
    assert.equal(unsub.statusCode, 200);
    assert.deepEqual(
      h.events.map((e) => [e.type, e.ledgerId, (e.raw as { sentAt?: number }).sentAt]),
      [
        ['clicked', LEDGER, sentAt],
        ['opened', LEDGER, sentAt],
      ],
    );
    assert.deepEqual(
      h.unsubscribes.map((u) => u.ledgerId),
      [LEDGER],
    );
    assert.deepEqual(h.templateLookups, [], 'per-link tokens carry their URL; no template is needed');
  });

  it('message token: /t/c/<token>/<index> redirects to that static link of the template and records it', async (t) => {
    const h = await harness(t);
    const res = await h.app.inject({
      method: 'GET',
      url: `/t/c/${message.track}/0`,
      headers: { 'user-agent': HUMAN_UA },
    });
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, 'https://shop.example/deals?a=1&b=2');
    assert.match(String(res.headers['cache-control']), /no-store/);
    const other = await h.app.inject({
      method: 'GET',
      url: `/t/c/${message.track}/2`,
      headers: { 'user-agent': HUMAN_UA },
    });
    assert.equal(other.headers.location, 'https://shop.example/caf%C3%A9');
    const e = h.events[0] as EngagementEvent;
    assert.deepEqual(
      [e.type, e.url, e.ledgerId, e.campaignId, e.contactId, e.isMachine],
      ['clicked', 'https://shop.example/deals?a=1&b=2', LEDGER, 'camp-1', 'contact-9', false],
    );
    assert.deepEqual(e.raw, { method: 'GET', machineReasons: [], linkIndex: 0, sentAt });
    assert.match(
      e.sourceId,
      /^tracking:c:camp-1:contact-9:0:\d+:h$/,
      'same sourceId shape as a per-link click of that link',
    );
    assert.equal(h.events[1]?.url, 'https://shop.example/caf%C3%A9');
    assert.deepEqual(h.templateLookups, ['camp-1'], 'the template is looked up once per campaign, not per click');
  });

  it('message token: scanner detection still sees HEAD requests and clicks seconds after sending', async (t) => {
    const h = await harness(t);
    const head = await h.app.inject({
      method: 'HEAD',
      url: `/t/c/${message.track}/0`,
      headers: { 'user-agent': HUMAN_UA },
    });
    assert.equal(head.statusCode, 302);
    const fresh = createTokenCodec(SECRETS).signMessage({
      ledgerId: LEDGER,
      sentAt: Math.floor(h.clock.now().getTime() / 1000) - 3,
    });
    await h.app.inject({ method: 'GET', url: `/t/c/${fresh.track}/2`, headers: { 'user-agent': HUMAN_UA } });
    assert.deepEqual(
      h.events.map((e) => (e.raw as { machineReasons: string[] }).machineReasons),
      [['head-request'], ['click-soon-after-send']],
    );
  });

  it(
    'message token: an index that is not a static link of the template is 400 with the reason, never a ' + 'redirect',
    async (t) => {
      const h = await harness(t);
      const cases: [string, RegExp][] = [
        [`${message.track}/1`, /link 1 is not a static link of campaign camp-1's template/],
        [`${message.track}/3`, /link 3 is not a static link of campaign camp-1's template/],
        [`${message.track}/9999999`, /link 9999999 is not a static link/],
        [`${message.track}/-1`, /link index is not a non-negative integer/],
        [`${message.track}/01`, /link index is not a non-negative integer/],
        [`${message.track}/0/extra`, /link tag did not verify for link 0 of campaign camp-1/],
        [`${message.track}/`, /link index is not a non-negative integer/],
        [`${message.track}/https:%2F%2Fevil.example`, /link index is not a non-negative integer/],
      ];
      for (const [path, reason] of cases) {
        const res = await h.app.inject({ method: 'GET', url: `/t/c/${path}` });
        assert.equal(res.statusCode, 400, path);
        assert.equal(res.headers.location, undefined, path);
        assert.equal(res.json().error, 'TRACKING_SIGNATURE_INVALID');
        assert.match(res.json().message, reason, path);
      }
      assert.equal(h.events.length, 0);
    },
  );

  it(
    'message token: tampered, foreign, wrong-use or ' + 'index-less click tokens are 400 and look nothing up',
    async (t) => {
      const h = await harness(t);
      const cases: [string, RegExp][] = [
        [`${tamper(message.track)}/0`, /signature did not verify/],
        [
          `${createTokenCodec('attacker-secret').signMessage({ ledgerId: LEDGER }).track}/0`,
          /signature did not verify/,
        ],
        [`${message.unsubscribe}/0`, /signature did not verify .*another use/],
        [`${clickToken}/0`, /'c' token; only a message token takes a link index/],
        [message.track, /message token needs a link index/],
      ];
      for (const [path, reason] of cases) {
        const res = await h.app.inject({ method: 'GET', url: `/t/c/${path}` });
        assert.equal(res.statusCode, 400, path);
        assert.equal(res.headers.location, undefined, path);
        assert.match(res.json().message, reason, path);
      }
      assert.deepEqual(h.templateLookups, []);
      assert.equal(h.events.length, 0);
    },
  );

  /** camp-1's message for contact-9 (or another campaign's), rendered as the send stage does. */
  function rendered(campaignId = 'camp-1', secrets: readonly string[] = SECRETS): { links: string[]; track: string } {
    const campaign: RenderCampaign = {
      id: campaignId,
      name: 'n',
      from: { address: 'news@shop.example' },
      postalAddress: '1 Main St',
      listUnsubscribeMailto: 'unsub@shop.example',
      trackingBaseUrl: 'https://t.shop.example',
      trackingSecret: secrets,
      returnPathDomain: 'bounce.shop.example',
      messageIdDomain: 'shop.example',
      sendingDomain: 'shop.example',
    };
    const msg = renderMessage(template, {
      contact: { id: 'contact-9', email: 'ann@example.com' },
      campaign,
      sendAt: SENT,
    });
    const links = [...(msg.html ?? '').matchAll(/href="https:\/\/t\.shop\.example(\/t\/c\/[^"]+)"/g)].map((m) =>
      (m[1] as string).replaceAll('&#x2F;', '/'),
    );
    return { links, track: /\/t\/c\/([A-Za-z0-9_-]+)\//.exec(links[0] ?? '')?.[1] ?? '' };
  }
  const tagOf = (path: string): string => path.split('/')[5] ?? '';

  it(
    'link tag: a rendered Liquid-built link redirects ' + 'through the route to its URL and records the click',
    async (t) => {
      const h = await harness(t);
      const { links, track } = rendered();
      assert.equal(links.length, 3);
      assert.match(
        links[1] ?? '',
        new RegExp(`^/t/c/${track}/1/[A-Za-z0-9_-]+$`),
        'the message track token, the link index, the tag',
      );
      const res = await h.app.inject({ method: 'GET', url: links[1] ?? '', headers: { 'user-agent': HUMAN_UA } });
      assert.equal(res.statusCode, 302);
      assert.equal(res.headers.location, 'https://shop.example/u/contact-9');
      const e = h.events[0] as EngagementEvent;
      assert.deepEqual(
        [e.type, e.url, e.ledgerId, e.campaignId, e.contactId, e.isMachine],
        ['clicked', 'https://shop.example/u/contact-9', LEDGER, 'camp-1', 'contact-9', false],
      );
      assert.deepEqual(e.raw, { method: 'GET', machineReasons: [], linkIndex: 1, sentAt });
      assert.deepEqual(h.templateLookups, [], 'the tag carries its URL: no template lookup');
      // the static links of the same message still resolve through the template
      const deals = await h.app.inject({ method: 'GET', url: links[0] ?? '', headers: { 'user-agent': HUMAN_UA } });
      assert.equal(deals.headers.location, 'https://shop.example/deals?a=1&b=2');
    },
  );

  it(
    'link tag: a tampered URL, a tag from another campaign or link, a track token from another campaign are '
      + '400, never a redirect',
    async (t) => {
      const h = await harness(t);
      const mine = rendered();
      const other = rendered('camp-2');
      const path = mine.links[1] as string;
      const raw = Buffer.from(tagOf(path), 'base64url');
      const evilTag = Buffer.concat([raw.subarray(0, 16), Buffer.from('https://evil.example/u/contact-9')]).toString(
        'base64url',
      );
      const cases: [string, RegExp][] = [
        [`${mine.track}/1/${evilTag}`, /link tag did not verify for link 1 of campaign camp-1/],
        [`${mine.track}/1/${tagOf(other.links[1] as string)}`, /link tag did not verify for link 1 of campaign camp-1/],
        [`${other.track}/1/${tagOf(path)}`, /link tag did not verify for link 1 of campaign camp-2/],
        [`${mine.track}/0/${tagOf(path)}`, /link tag did not verify for link 0/],
        [
          `${mine.track}/1/${tagOf(rendered('camp-1', ['attacker-secret']).links[1] as string)}`,
          /link tag did not verify/,
        ],
        [`${mine.track}/1/${tamper(tagOf(path))}`, /link tag did not verify/],
        [`${mine.track}/1/${tagOf(path)}x`, /link tag did not verify/],
        [`${tamper(mine.track)}/1/${tagOf(path)}`, /signature did not verify/],
        [`${message.unsubscribe}/1/${tagOf(path)}`, /signature did not verify/],
      ];
      for (const [p, reason] of cases) {
        const res = await h.app.inject({ method: 'GET', url: `/t/c/${p}` });
        assert.equal(res.statusCode, 400, p);
        assert.equal(res.headers.location, undefined, p);
        assert.match(res.json().message, reason, p);
      }
      assert.equal(h.events.length, 0);
      // camp-2's own pieces together are fine (the harness has no camp-2 template: none is needed)
      assert.equal(
        (await h.app.inject({ method: 'GET', url: other.links[1] as string })).headers.location,
        'https://shop.example/u/contact-9',
      );
    },
  );

  it('link tag: tags signed with a previous secret still work (rotation)', async (t) => {
    const h = await harness(t);
    const old = rendered('camp-1', ['previous-secret']);
    const res = await h.app.inject({ method: 'GET', url: old.links[1] as string });
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, 'https://shop.example/u/contact-9');
  });

  it(
    'message token: an unknown campaign is 400; a failing ' + 'template lookup is 500 and is retried next time',
    async (t) => {
      const ghost = createTokenCodec(SECRETS).signMessage({ ledgerId: 'camp-gone:contact-9' });
      const h = await harness(t);
      const res = await h.app.inject({ method: 'GET', url: `/t/c/${ghost.track}/0` });
      assert.equal(res.statusCode, 400);
      assert.match(res.json().message, /campaign camp-gone does not exist/);
      let fail = true;
      const h2 = await harness(t, {
        async template() {
          if (fail) throw new Error('store down');
          return template;
        },
      });
      assert.equal((await h2.app.inject({ method: 'GET', url: `/t/c/${message.track}/0` })).statusCode, 500);
      fail = false;
      assert.equal(
        (await h2.app.inject({ method: 'GET', url: `/t/c/${message.track}/0` })).statusCode,
        302,
        'a failure is not cached',
      );
    },
  );

  it(
    'message token: the track token is the open pixel (sentAt for prefetch detection); the unsubscribe token '
      + 'is not',
    async (t) => {
      const h = await harness(t);
      const res = await h.app.inject({
        method: 'GET',
        url: `/t/o/${message.track}`,
        headers: { 'user-agent': HUMAN_UA },
      });
      assert.equal(res.headers['content-type'], 'image/gif');
      const justSent = Math.floor(h.clock.now().getTime() / 1000) - 20;
      const fresh = createTokenCodec(SECRETS).signMessage({ ledgerId: LEDGER, sentAt: justSent });
      await h.app.inject({ method: 'GET', url: `/t/o/${fresh.track}`, headers: { 'user-agent': HUMAN_UA } });
      await h.app.inject({ method: 'GET', url: `/t/o/${message.unsubscribe}`, headers: { 'user-agent': HUMAN_UA } });
      assert.deepEqual(
        h.events.map((e) => [
          e.type,
          e.ledgerId,
          (e.raw as { sentAt?: number; machineReasons: string[] }).sentAt,
          (e.raw as { machineReasons: string[] }).machineReasons,
        ]),
        [
          ['opened', LEDGER, sentAt, []],
          ['opened', LEDGER, justSent, ['prefetch-soon-after-send']],
        ],
      );
      assert.match(h.events[0]?.sourceId ?? '', /^tracking:o:camp-1:contact-9:\d+:h$/);
    },
  );

  it(
    'message token: the unsubscribe token does one-click, the preference page and confirm; the track token ' + 'cannot',
    async (t) => {
      const h = await harness(t);
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const refused = await h.app.inject({
        method: 'POST',
        url: `/t/u/${message.track}`,
        headers: form,
        payload: 'List-Unsubscribe=One-Click',
      });
      assert.equal(refused.statusCode, 400, 'a link or pixel URL from the message cannot unsubscribe');
      assert.equal((await h.app.inject({ method: 'GET', url: `/t/u/${message.track}` })).statusCode, 400);
      const page = await h.app.inject({ method: 'GET', url: `/t/u/${message.unsubscribe}` });
      assert.ok(page.body.includes(`<form method="post" action="${message.unsubscribe}/confirm">`));
      assert.equal(h.unsubscribes.length, 0);
      const oneClick = await h.app.inject({
        method: 'POST',
        url: `/t/u/${message.unsubscribe}`,
        headers: form,
        payload: 'List-Unsubscribe=One-Click',
      });
      assert.equal(oneClick.statusCode, 200);
      const confirm = await h.app.inject({
        method: 'POST',
        url: `/t/u/${message.unsubscribe}/confirm`,
        headers: form,
        payload: 'confirm=yes',
      });
      assert.match(confirm.body, /You are unsubscribed/);
      assert.deepEqual(h.unsubscribes, [
        { ledgerId: LEDGER, source: 'one_click', at: h.clock.now() },
        { ledgerId: LEDGER, source: 'preference_page', at: h.clock.now() },
      ]);
    },
  );
});
