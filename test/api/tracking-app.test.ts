/**
 * The tracking routes as app.ts wires them: a static link of a real campaign's rendered message
 * (`/t/c/<message token>/<index>`) is resolved through the campaign store and the template cache,
 * the Liquid-built link through its own token, and the open pixel reaches the ingest. A preview's
 * links look the same but no route honours them. In-memory PGlite, manual clock, nothing sent.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { compileTemplate } from '../../src/campaigns/render/compile.ts';
import { renderMessage } from '../../src/campaigns/render/render-message.ts';
import { renderCampaignOf } from '../../src/campaigns/template-cache.ts';
import type { Campaign } from '../../src/campaigns/types.ts';
import { decodeVerpAddress } from '../../src/core/bounce/verp.ts';
import { httpStatusFor } from '../../src/api/http-status.ts';
import type { OutboundMessage } from '../../src/connectors/esp/port.ts';
import { loadConfig } from '../../src/config.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

const config = loadConfig({ SWITCHYARD_TRACKING_SECRET: 'app-secret', SWITCHYARD_PUBLIC_URL: 'https://t.example.com' });
/** The message the send stage would render: the app's own settings and secret. */
async function sentMessage(
  c: Campaign,
  contact: { id: string; email: string; [field: string]: unknown },
): Promise<OutboundMessage> {
  const compiled = await compileTemplate(
    { subject: c.definition.subject, ...c.definition.template },
    { postalAddress: c.definition.postalAddress },
  );
  const campaign = renderCampaignOf(c, { trackingBaseUrl: 'https://t.example.com', trackingSecrets: ['app-secret'] });
  return renderMessage(compiled, { contact, campaign, sendAt: new Date('2026-06-01T09:00:00Z') });
}

/** Every tracking path in a message: click links, the pixel, the unsubscribe link, the header's. */
function trackingPaths(msg: OutboundMessage): {
  clicks: string[];
  pixel: string;
  unsubscribe: string;
  headerUnsubscribe: string;
} {
  const html = msg.html ?? '';
  return {
    clicks: [...html.matchAll(/href="https:\/\/t\.example\.com(\/t\/c\/[^"]+)"/g)].map((m) => m[1] as string),
    pixel: /src="https:\/\/t\.example\.com(\/t\/o\/[\w-]+)"/.exec(html)?.[1] as string,
    unsubscribe: /href="https:\/\/t\.example\.com(\/t\/u\/[\w-]+)"/.exec(html)?.[1] as string,
    headerUnsubscribe: /<https:\/\/t\.example\.com(\/t\/u\/[\w-]+)>/.exec(
      msg.headers?.['List-Unsubscribe'] ?? '',
    )?.[1] as string,
  };
}

const HUMAN_UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';

describe('tracking routes wired by app.ts', () => {
  let db: Db;
  let app: App;
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(config, {
      db,
      log: pino({ level: 'silent' }),
      clock: createManualClock(new Date('2026-06-01T10:00:00Z')),
      newId: () => 'cmp-track-1',
    });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('resolves a static link of the campaign template, a Liquid-built link by its tag, and the pixel', async () => {
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 1 } }));
    const msg = await sentMessage(c, { id: 'cus_00000001', email: 'ann@example.com', firstName: 'Ann', plan: 'pro' });
    const links = [...(msg.html ?? '').matchAll(/href="https:\/\/t\.example\.com(\/t\/c\/[^"]+)"/g)].map(
      (m) => m[1] as string,
    );
    assert.equal(links.length, 2, msg.html);
    const [dynamic, fixed] = links as [string, string];
    assert.match(fixed, /^\/t\/c\/[\w-]+\/1$/, 'the static pricing link is the message token and its index');
    assert.match(
      dynamic,
      /^\/t\/c\/[\w-]+\/0\/[\w-]+$/,
      'the Liquid-built button is the message token, its index and a link tag',
    );

    const pricing = await app.publicServer.inject({ method: 'GET', url: fixed, headers: { 'user-agent': HUMAN_UA } });
    assert.equal(pricing.statusCode, 302, pricing.body);
    assert.equal(pricing.headers.location, 'https://demo.example.com/pricing');
    const button = await app.publicServer.inject({ method: 'GET', url: dynamic, headers: { 'user-agent': HUMAN_UA } });
    assert.equal(button.headers.location, 'https://demo.example.com/whats-new?plan=pro');
    const wrong = await app.publicServer.inject({ method: 'GET', url: fixed.replace(/\/1$/, '/0') });
    assert.equal(wrong.statusCode, 400);
    assert.match(wrong.json().message, /link 0 is not a static link of campaign cmp-track-1's template/);
    const pixel = /src="https:\/\/t\.example\.com(\/t\/o\/[\w-]+)"/.exec(msg.html ?? '')?.[1] as string;
    assert.equal(
      (await app.publicServer.inject({ method: 'GET', url: pixel, headers: { 'user-agent': HUMAN_UA } })).statusCode,
      200,
    );

    const { rows } = await db.query<{ type: string; url: string | null }>(
      `select type, url from engagement_events where campaign_id = $1 and provider = 'tracking' order by type, url`,
      [c.id],
    );
    assert.deepEqual(
      rows.map((r) => [r.type, r.url]),
      [
        ['clicked', 'https://demo.example.com/pricing'],
        ['clicked', 'https://demo.example.com/whats-new?plan=pro'],
        ['opened', null],
      ],
    );
  });

  it(
    "a preview of any contact yields links that neither unsubscribe, redirect nor record; the sent message's " + 'do',
    async () => {
      const c = await app.campaigns.create(
        demoCampaign({ id: 'cmp-preview-1', audience: { source: 'demo', size: 1 } }),
      );
      const victim = { id: 'cus_victim', email: 'victim@example.com', firstName: 'Vic', plan: 'pro' };
      // The victim really was sent this campaign, so a working unsubscribe token would suppress them.
      await db.query(
        `insert into send_ledger (campaign_id, contact_id, email, state, chunk, updated_at)
          values ($1, $2, $3, 'sent', 0, now())`,
        [c.id, victim.id, victim.email],
      );
      const preview = await app.campaigns.preview(c.id, victim);
      const p = trackingPaths(preview);
      assert.equal(p.clicks.length, 2, 'a preview still shows tracked links');
      for (const path of [...p.clicks, p.unsubscribe, p.headerUnsubscribe]) assert.ok(path !== undefined, preview.html);

      for (const path of p.clicks) {
        const res = await app.publicServer.inject({ method: 'GET', url: path, headers: { 'user-agent': HUMAN_UA } });
        assert.equal(res.statusCode, 400, path);
        assert.equal(res.headers.location, undefined, 'no redirect from a preview link');
        assert.equal(res.json().error, 'TRACKING_PREVIEW_TOKEN');
      }
      for (const path of [p.unsubscribe, p.headerUnsubscribe, `${p.unsubscribe}/confirm`]) {
        const post = await app.publicServer.inject({
          method: 'POST',
          url: path,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: 'List-Unsubscribe=One-Click',
        });
        assert.equal(post.statusCode, 400, path);
        assert.equal(post.json().error, 'TRACKING_PREVIEW_TOKEN');
      }
      assert.equal(
        (await app.publicServer.inject({ method: 'GET', url: p.unsubscribe })).json().error,
        'TRACKING_PREVIEW_TOKEN',
      );
      const pixel = await app.publicServer.inject({ method: 'GET', url: p.pixel, headers: { 'user-agent': HUMAN_UA } });
      assert.equal(pixel.headers['content-type'], 'image/gif', 'the pixel still loads in a preview');
      assert.equal(
        decodeVerpAddress(preview.returnPath ?? '', { secret: 'app-secret', domain: 'demo.example.com' }).ok,
        false,
        "the preview's return path carries no VERP token a forged bounce could use",
      );

      const events = async (): Promise<string[]> =>
        (
          await db.query<{ type: string }>('select type from engagement_events where campaign_id = $1 order by type', [
            c.id,
          ])
        ).rows.map((r) => r.type);
      const suppressed = async (): Promise<number> =>
        (await db.query('select 1 from suppressions where email = $1', [victim.email])).rows.length;
      assert.deepEqual(await events(), [], 'no click, open or unsubscribe recorded from a preview');
      assert.equal(await suppressed(), 0);

      // The message the send path renders for the same contact works.
      const sent = trackingPaths(await sentMessage(c, victim));
      assert.equal(
        (
          await app.publicServer.inject({
            method: 'GET',
            url: sent.clicks[1] as string,
            headers: { 'user-agent': HUMAN_UA },
          })
        ).statusCode,
        302,
      );
      const ok = await app.publicServer.inject({
        method: 'POST',
        url: sent.headerUnsubscribe,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'List-Unsubscribe=One-Click',
      });
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(await events(), ['clicked', 'unsubscribed']);
      assert.equal(await suppressed(), 1);
    },
  );

  it('a preview whose template exceeds the limits is a 4xx TEMPLATE_LIMIT_EXCEEDED, not a 500', async () => {
    const c = await app.campaigns.create(
      demoCampaign({
        id: 'cmp-preview-loop',
        audience: { source: 'demo', size: 1 },
        template: { html: '<body>{% for i in (1..100000000) %}x{% endfor %}</body>' },
      }),
    );
    const err = await app.campaigns.preview(c.id, { id: 'cus_1', email: 'ann@example.com' }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.equal((err as { code?: string }).code, 'TEMPLATE_LIMIT_EXCEEDED');
    assert.equal(httpStatusFor('TEMPLATE_LIMIT_EXCEEDED'), 422);
    const validation = await app.campaigns.validate(c.id);
    assert.match(validation.errors.join('\n'), /exceeds the template limits/);
  });
});
