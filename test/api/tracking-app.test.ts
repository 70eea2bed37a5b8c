/**
 * The tracking routes as app.ts wires them: a static link of a real campaign's rendered message
 * (`/t/c/<message token>/<index>`) is resolved through the campaign store and the template cache,
 * the Liquid-built link through its own token, and the open pixel reaches the ingest. In-memory
 * PGlite, manual clock, nothing sent.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

const config = loadConfig({ SWITCHYARD_DEMO: 'false', SWITCHYARD_TRACKING_SECRET: 'app-secret', SWITCHYARD_PUBLIC_URL: 'https://t.example.com' });
const HUMAN_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';

describe('tracking routes wired by app.ts', () => {
  let db: Db;
  let app: App;
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(config, { db, log: pino({ level: 'silent' }), clock: createManualClock(new Date('2026-06-01T10:00:00Z')), newId: () => 'cmp-track-1' });
  });
  after(async () => { await app.close(); await db.close(); });

  it('resolves a static link of the campaign template, a Liquid-built link by its tag, and the pixel', async () => {
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 1 } }));
    const msg = await app.campaigns.preview(c.id, { id: 'cus_00000001', email: 'ann@example.com', firstName: 'Ann', plan: 'pro' });
    const links = [...(msg.html ?? '').matchAll(/href="https:\/\/t\.example\.com(\/t\/c\/[^"]+)"/g)].map((m) => m[1] as string);
    assert.equal(links.length, 2, msg.html);
    const [dynamic, fixed] = links as [string, string];
    assert.match(fixed, /^\/t\/c\/[\w-]+\/1$/, 'the static pricing link is the message token and its index');
    assert.match(dynamic, /^\/t\/c\/[\w-]+\/0\/[\w-]+$/, 'the Liquid-built button is the message token, its index and a link tag');

    const pricing = await app.publicServer.inject({ method: 'GET', url: fixed, headers: { 'user-agent': HUMAN_UA } });
    assert.equal(pricing.statusCode, 302, pricing.body);
    assert.equal(pricing.headers.location, 'https://demo.example.com/pricing');
    const button = await app.publicServer.inject({ method: 'GET', url: dynamic, headers: { 'user-agent': HUMAN_UA } });
    assert.equal(button.headers.location, 'https://demo.example.com/whats-new?plan=pro');
    const wrong = await app.publicServer.inject({ method: 'GET', url: fixed.replace(/\/1$/, '/0') });
    assert.equal(wrong.statusCode, 400);
    assert.match(wrong.json().message, /link 0 is not a static link of campaign cmp-track-1's template/);
    const pixel = /src="https:\/\/t\.example\.com(\/t\/o\/[\w-]+)"/.exec(msg.html ?? '')?.[1] as string;
    assert.equal((await app.publicServer.inject({ method: 'GET', url: pixel, headers: { 'user-agent': HUMAN_UA } })).statusCode, 200);

    const { rows } = await db.query<{ type: string; url: string | null }>(
      `select type, url from engagement_events where campaign_id = $1 and provider = 'tracking' order by type, url`, [c.id]);
    assert.deepEqual(rows.map((r) => [r.type, r.url]), [
      ['clicked', 'https://demo.example.com/pricing'], ['clicked', 'https://demo.example.com/whats-new?plan=pro'], ['opened', null],
    ]);
  });
});
