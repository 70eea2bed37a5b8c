/**
 * Revenue from first email to attributed report, through the app as app.ts wires it (PGlite,
 * manual clock): two demo campaigns whose tracked links a contact clicks (a second contact clicks
 * and never buys), a Stripe invoice.paid for the clicker signed with Stripe's own library on the
 * public listener, a partial refund, and GET /v1/attribution/report on the admin listener: the
 * attributed revenue by campaign is right for every model (worked by hand below).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import Stripe from 'stripe';
import { createApp, type App } from '../../src/app.ts';
import { compileTemplate } from '../../src/campaigns/render/compile.ts';
import { renderMessage } from '../../src/campaigns/render/render-message.ts';
import { renderCampaignOf } from '../../src/campaigns/template-cache.ts';
import type { Campaign } from '../../src/campaigns/types.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { type AuthHeaders, authHeaders } from '../support/api-keys.ts';

const SECRET = 'whsec_e2e_attribution';
const config = loadConfig({
  SWITCHYARD_TRACKING_SECRET: 'app-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
  SWITCHYARD_STRIPE_WEBHOOK_SECRET: SECRET,
});
const HUMAN_UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';
const T0 = new Date('2026-06-01T10:00:00Z');
const HOUR = 3_600_000;

async function clickPaths(c: Campaign, contact: { id: string; email: string }): Promise<string[]> {
  const compiled = await compileTemplate(
    { subject: c.definition.subject, ...c.definition.template },
    { postalAddress: c.definition.postalAddress },
  );
  const campaign = renderCampaignOf(c, { trackingBaseUrl: 'https://t.example.com', trackingSecrets: ['app-secret'] });
  const msg = await renderMessage(compiled, {
    contact: { ...contact, firstName: 'A', plan: 'pro' },
    campaign,
    sendAt: T0,
  });
  const html = msg.html ?? '';
  // the open pixel first: a click on a message never opened is classified as a scanner's
  const pixel = /src="https:\/\/t\.example\.com(\/t\/o\/[\w-]+)"/.exec(html)?.[1] as string;
  return [pixel, ...[...html.matchAll(/href="https:\/\/t\.example\.com(\/t\/c\/[^"]+)"/g)].map((m) => m[1] as string)];
}

describe('attribution end to end', () => {
  let db: Db;
  let app: App;
  let clock: ManualClock;
  let auth: AuthHeaders;
  before(async () => {
    db = await createPgliteDb({});
    clock = createManualClock(T0);
    let n = 0;
    app = await createApp(config, { db, log: pino({ level: 'silent' }), clock, newId: () => `cmp-${++n}` });
    auth = await authHeaders(app, 'analyst');
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  async function click(paths: string[], index: number): Promise<void> {
    const open = await app.publicServer.inject({
      method: 'GET',
      url: paths[0] as string,
      headers: { 'user-agent': HUMAN_UA },
    });
    assert.equal(open.statusCode, 200, open.body);
    await clock.advance(60_000);
    const r = await app.publicServer.inject({
      method: 'GET',
      url: paths[index + 1] as string,
      headers: { 'user-agent': HUMAN_UA },
    });
    assert.equal(r.statusCode, 302, r.body);
  }

  async function stripe(type: string, object: Record<string, unknown>, id: string): Promise<void> {
    const created = Math.floor(clock.now().getTime() / 1000);
    const body = JSON.stringify({ id, object: 'event', type, created, livemode: false, data: { object } });
    const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET, timestamp: created });
    const r = await app.publicServer.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': header },
      payload: body,
    });
    assert.equal(r.statusCode, 200, r.body);
  }

  it('clicks, invoice.paid, refund → revenue by campaign for every model', async () => {
    const a = await app.campaigns.create(demoCampaign({ name: 'A', audience: { source: 'demo', size: 2 } }));
    const b = await app.campaigns.create(demoCampaign({ name: 'B', audience: { source: 'demo', size: 2 } }));
    const ann = { id: 'contact-ann', email: 'ann@example.com' };
    const bob = { id: 'contact-bob', email: 'bob@example.com' };
    for (const c of [a, b]) {
      for (const who of [ann, bob]) {
        await db.query(
          `insert into send_ledger (campaign_id, contact_id, email, state, chunk, sent_at, updated_at)
           values ($1, $2, $3, 'sent', 0, $4, $4)`,
          [c.id, who.id, who.email, new Date(T0.getTime() - 24 * HOUR)],
        );
      }
    }
    // ann clicks A now and B two hours later; bob clicks B and never buys
    await click(await clickPaths(a, ann), 1);
    await clock.advance(2 * HOUR - 60_000);
    await click(await clickPaths(b, ann), 0);
    await click(await clickPaths(b, bob), 0);
    // a day after the first click ann pays 100.00 (identity by the invoice's email), then 25.00 is refunded
    await clock.advance(22 * HOUR - 120_000);
    await stripe(
      'invoice.paid',
      {
        id: 'in_ann',
        object: 'invoice',
        customer: 'cus_ann',
        customer_email: 'Ann@Example.com',
        amount_paid: 10_000,
        currency: 'usd',
        charge: 'ch_ann',
        status_transitions: { paid_at: Math.floor(clock.now().getTime() / 1000) },
      },
      'evt_paid',
    );
    await clock.advance(HOUR);
    await stripe(
      'charge.refunded',
      { id: 'ch_ann', object: 'charge', invoice: 'in_ann', amount_refunded: 2_500, currency: 'usd' },
      'evt_refund',
    );

    const report = async (model: string, extra = '') => {
      const r = await app.adminServer.inject({
        method: 'GET',
        url:
          '/v1/attribution/report?from=2026-05-01T00:00:00Z&to=2026-07-01T00:00:00Z'
          + `&model=${model}&groupBy=campaign&openLookbackDays=0${extra}`,
        headers: auth,
      });
      assert.equal(r.statusCode, 200, r.body);
      return r.json() as {
        rows: Array<{ key: string; conversions: number; valueMinor: number }>;
        totals: Record<string, number>;
      };
    };
    const value = (rep: Awaited<ReturnType<typeof report>>, k: string) =>
      rep.rows.find((r) => r.key === k)?.valueMinor ?? 0;

    // touches (opens excluded by openLookbackDays=0): A click at t0 + 1 min, B click at t0 + 2 h;
    // conversion at t0 + 24 h; net 7500
    const wA = 2 ** -((24 * 60 - 1) / (24 * 60) / 7);
    const wB = 2 ** -((22 * 60 - 1) / (24 * 60) / 7);
    const decayA = (7500 * wA) / (wA + wB);
    const expected: Record<string, [number, number]> = {
      first: [7500, 0],
      last: [0, 7500],
      linear: [3750, 3750],
      'time-decay': [Math.round(decayA), 7500 - Math.round(decayA)],
      'u-shape': [3750, 3750],
      // FT only (no LC/OC milestone on email touches): FT 90 %, the other touch 10 %
      'w-shape': [6750, 750],
      // FT = A, CW = B (last touch), no other touches: the 10 % is split over the two anchors
      'full-path': [3750, 3750],
      positions: [3750, 3750],
      // paths A > B → conv (ann), B → null (bob): RE_A = 1/2, RE_B = 1 → shares 1/3, 2/3
      markov: [2500, 5000],
      // one converting set {A, B}: half each
      shapley: [3750, 3750],
    };
    for (const [model, [va, vb]] of Object.entries(expected)) {
      const rep = await report(model);
      assert.equal(rep.totals.grossMinor, 10_000, model);
      assert.equal(rep.totals.refundedMinor, 2_500, model);
      assert.equal(rep.totals.netMinor, 7_500, model);
      assert.equal(rep.totals.attributedConversions, 1, model);
      assert.equal(value(rep, a.id), va, `${model} A`);
      assert.equal(value(rep, b.id), vb, `${model} B`);
      const sum = rep.rows.reduce((s, r) => s + r.valueMinor, 0);
      assert.equal(sum, 7_500, `${model}: rows sum to the net revenue`);
      const conv = rep.rows.reduce((s, r) => s + r.conversions, 0);
      assert.ok(Math.abs(conv - 1) < 1e-9, `${model}: conversions sum to 1`);
    }
    // a lookback shorter than the gap leaves only the B click
    const short = await report('first', '&lookbackDays=0.95');
    assert.equal(value(short, b.id), 7500);
    // by link and by channel
    const byLink = await app.adminServer.inject({
      method: 'GET',
      url:
        '/v1/attribution/report?from=2026-05-01T00:00:00Z&to=2026-07-01T00:00:00Z&model=linear&groupBy=link'
        + '&openLookbackDays=0',
      headers: auth,
    });
    assert.deepEqual(
      (byLink.json().rows as Array<{ key: string; valueMinor: number }>).map((r) => [r.key, r.valueMinor]).sort(),
      [
        ['https://demo.example.com/pricing', 3750],
        ['https://demo.example.com/whats-new?plan=pro', 3750],
      ],
    );
    // why the invoice is ann's
    const why = await app.adminServer.inject({
      method: 'GET',
      url: '/v1/attribution/conversions/stripe:invoice:in_ann/identity',
      headers: auth,
    });
    assert.equal(why.statusCode, 200, why.body);
    assert.ok(
      why.json().links.some((l: { rule: string; contactId: string }) => l.rule === 'email' && l.contactId === ann.id),
    );
  });

  it('needs a key with reports:read; bad input is a 400', async () => {
    const url = '/v1/attribution/report?from=2026-05-01T00:00:00Z&to=2026-07-01T00:00:00Z&model=last&groupBy=campaign';
    assert.equal((await app.adminServer.inject({ method: 'GET', url })).statusCode, 401);
    const compliance = await authHeaders(app, 'compliance', 'c');
    assert.equal((await app.adminServer.inject({ method: 'GET', url, headers: compliance })).statusCode, 403);
    const bad = await app.adminServer.inject({
      method: 'GET',
      url: url.replace('model=last', 'model=magic'),
      headers: auth,
    });
    assert.equal(bad.statusCode, 400);
    const backwards = await app.adminServer.inject({
      method: 'GET',
      url: url.replace('from=2026-05-01', 'from=2026-08-01'),
      headers: auth,
    });
    assert.equal(backwards.statusCode, 400);
  });
});
