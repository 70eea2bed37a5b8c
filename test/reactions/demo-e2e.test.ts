/**
 * The reactions road end to end on the demo workspace pieces: a demo campaign goes out through
 * the sandbox ESP, whose simulated deliveries, opens and clicks come back through app.ingest;
 * engagement scores reach the demo CRM; a one-click unsubscribe over the real HTTP route
 * suppresses at once and propagates to every connected system with confirmation; and a signed
 * SendGrid webhook delivered twice changes nothing the second time. In-memory PGlite, manual
 * clock; the engagement flusher and propagation loops are called directly, never started.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { propagateDue, PROPAGATION_SYSTEMS } from '../../src/compliance/propagation.ts';
import {
  createComplianceLogSink,
  createCrmSuppressionSink,
  createRecordingSuppressionSink,
  createWarehouseTableSink,
} from '../../src/compliance/sinks.ts';
import { getSuppressionStatus } from '../../src/compliance/suppression-status.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp, type SandboxEsp, type SentRecord } from '../../src/connectors/esp/sandbox/adapter.ts';
import { demoRow } from '../../src/connectors/warehouse/demo/generate.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { flushEngagementOutbox } from '../../src/reactions/engagement-stage.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { drain } from '../support/pipeline.ts';
import { createSendgridSigner } from '../support/webhook-signing.ts';

const log = pino({ level: 'silent' });
const EVENT_DELAY_MS = 1_000;
const AUDIENCE_SIZE = 500;
const signer = createSendgridSigner();
const config = loadConfig({
  SWITCHYARD_TRACKING_SECRET: 'e2e-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
  SWITCHYARD_SENDGRID_WEBHOOK_PUBLIC_KEY: signer.publicKeyBase64,
});

describe('reactions end to end on the demo workspace', () => {
  let db: Db;
  let clock: ManualClock;
  let app: App;
  let esp: SandboxEsp;
  let campaignId: string;
  let ids = 0;

  /** The same systems app.ts wires for the sandbox ESP (the app does not expose its sink list). */
  const sinks = () => [
    createRecordingSuppressionSink('esp'),
    createCrmSuppressionSink(app.crm),
    createWarehouseTableSink({ db, clock }),
    createComplianceLogSink({ db, clock }),
  ];
  const flushCrm = () => flushEngagementOutbox({ db, clock, crm: app.crm, log });
  const count = async (sql: string, params: unknown[] = []): Promise<number> =>
    Number((await db.query<{ n: string }>(sql, params)).rows[0]!.n);

  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    clock = createManualClock(new Date('2026-06-01T10:00:00Z'));
    app = await createApp(config, {
      db,
      log,
      clock,
      newId: () => `cmp-e2e-${++ids}`,
      esp: ({ clock: c, ingest }) =>
        (esp = createSandboxEsp(
          {
            clock: c,
            emit: async (e) => {
              await ingest(e);
            },
          },
          {
            eventDelayMs: EVENT_DELAY_MS,
            seed: 42,
            rates: { open: 0.4, click: 0.3 },
          },
        )),
    });
    assert.equal(await count('select count(*) as n from suppressions'), 0, 'nothing is suppressed before the send');
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: AUDIENCE_SIZE } }));
    campaignId = c.id;
    await app.campaigns.start(c.id);
    await drain(app);
    // every simulated stage (delivered, opened, clicked/unsubscribed, complained) falls due
    await clock.advance(4 * EVENT_DELAY_MS + 1);
    assert.ok((await esp.flushDue()) > 0, 'the sandbox emitted events');
    await drain(app);
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('sends the campaign and ingests the simulated reactions', async () => {
    assert.equal((await app.campaigns.get(campaignId)).status, 'completed');
    // every demo contact carries an explicit opt-in value and the store starts with no
    // suppressions, so exactly the opted-in rows of seed 1 are sent, each once (418 of 500)
    const optedIn = Array.from({ length: AUDIENCE_SIZE }, (_, i) => demoRow(1, i))
      .filter((r) => r.marketing_opt_in === 'true')
      .map((r) => r.customer_id);
    assert.equal(optedIn.length, 418);
    const sent = esp.outbox().filter((m) => m.correlation.campaignId === campaignId);
    assert.deepEqual(sent.map((m) => m.correlation.contactId).sort(), optedIn);
    const { rows: excluded } = await db.query<{ reason: string; n: number }>(
      `select reason, count(*)::int as n from send_ledger where campaign_id = $1 and state = 'suppressed'
        group by reason`,
      [campaignId],
    );
    assert.deepEqual(excluded, [{ reason: 'consent:denied', n: AUDIENCE_SIZE - optedIn.length }]);
    assert.equal(esp.counts().eventsPending, 0);
    const stored = await count(
      `select count(*) as n from engagement_events where campaign_id = $1 and provider = 'sandbox'`,
      [campaignId],
    );
    assert.equal(stored, esp.counts().eventsEmitted, 'every emitted event is stored once');
  });

  it('(a) writes engagement scores to the demo CRM for contacts who opened or clicked', async () => {
    const { rows } = await db.query<{ contact_id: string }>(
      `select distinct contact_id from engagement_events where campaign_id = $1 and type in ('opened', 'clicked')
        and not is_machine`,
      [campaignId],
    );
    const engaged = rows.map((r) => r.contact_id);
    assert.ok(engaged.length > 50, `enough contacts engaged (${engaged.length})`);
    assert.equal(await flushCrm(), 0, 'nothing is due before the coalescing window ends');
    await clock.advance(5_000);
    const sent = await flushCrm();
    assert.ok(sent >= engaged.length, `the flush sent every engaged contact (${sent} ≥ ${engaged.length})`);
    const { rows: accounts } = await db.query<{ contact_id: string; engagement_score: number }>(
      `select contact_id, engagement_score from demo_crm_accounts where contact_id = any($1::text[])
        and engagement_score is not null`,
      [engaged],
    );
    // the demo CRM deliberately does not know ~3% of ids: those are absent on its side, not lost here
    const known = new Set((await app.crm.lookup(engaged)).keys());
    assert.deepEqual(new Set(accounts.map((a) => a.contact_id)), known);
    for (const a of accounts) assert.ok(a.engagement_score > 0, `${a.contact_id} has a positive score`);
    const clicker = (
      await db.query<{ contact_id: string }>(
        `select contact_id from engagement_events where campaign_id = $1 and type = 'clicked'
          and contact_id = any($2::text[]) limit 1`,
        [campaignId, [...known]],
      )
    ).rows[0]!.contact_id;
    const record = (await app.crm.lookup([clicker])).get(clicker);
    assert.ok((record?.engagementScore ?? 0) > 0, 'a clicker reads back a score through crm.lookup');
    assert.equal(
      await count('select count(*) as n from crm_engagement_outbox'),
      0,
      'the outbox is empty after the flush',
    );
  });

  it('(a2) the demo CRM closes deals for some engaged contacts; a deal poll credits them to the campaign', async () => {
    // after (a): the scores reached the demo CRM, which closes a simulated deal for a fifth of those ≥ 25
    const { rows: deals } = await db.query<{ contact: string; amount_minor: string }>(
      'select deal_contact_ids[1] as contact, amount_minor::text from demo_crm_deals',
    );
    assert.ok(deals.length > 0, 'some engaged contacts closed a deal');
    const clickers = new Set(
      (
        await db.query<{ contact_id: string }>(
          `select distinct contact_id from engagement_events where campaign_id = $1 and type = 'clicked'`,
          [campaignId],
        )
      ).rows.map((r) => r.contact_id),
    );
    assert.ok(
      deals.every((d) => clickers.has(d.contact)),
      'only contacts engaged enough (a click) closed one',
    );
    await clock.advance(61_000); // past the poll's settle time
    const polled = await app.billingReaders.pollDeals();
    assert.ok(polled.won >= deals.length, `the poll took every won deal (${JSON.stringify(polled)})`);
    const report = await app.attribution.report({
      from: new Date('2026-05-01T00:00:00Z'),
      to: clock.now(),
      model: 'last',
      groupBy: 'campaign',
      currency: 'usd',
    });
    const row = report.rows.find((r) => r.key === campaignId);
    const value = deals.reduce((sum, d) => sum + Number(d.amount_minor), 0);
    assert.equal(row?.conversions, deals.length, 'every deal is credited to the demo campaign');
    assert.equal(row?.valueMinor, value);
  });

  it('(b) a one-click unsubscribe over HTTP suppresses at once and every system confirms', async () => {
    const { rows: already } = await db.query<{ email: string }>('select email from suppressions');
    const taken = new Set(already.map((r) => r.email));
    const msg = esp
      .outbox()
      .find((m) => m.correlation.campaignId === campaignId && !taken.has(m.to.toLowerCase())) as SentRecord;
    const header = msg.headers['List-Unsubscribe'];
    assert.ok(header, 'the sent message carries List-Unsubscribe');
    assert.equal(msg.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    const url = new URL(/<(https:[^>]+)>/.exec(header)![1]!);
    assert.equal(url.origin, 'https://t.example.com');

    const res = await app.publicServer.inject({
      method: 'POST',
      url: url.pathname,
      payload: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.statusCode, 200, res.body);
    const email = msg.to.toLowerCase();
    // immediately: before any consumer runs
    const {
      rows: [row],
    } = await db.query<{ reason: string; contact_id: string }>(
      'select reason, contact_id from suppressions where email = $1',
      [email],
    );
    assert.equal(row?.reason, 'unsubscribed');
    assert.equal(row?.contact_id, msg.correlation.contactId);
    const before = await getSuppressionStatus(db, email);
    assert.ok(before.suppressed !== null);
    assert.equal(before.systems.length, 0, 'propagation rows come from the propagation consumer');

    // the propagation consumer makes the first attempt itself: nothing is left for the loop
    await drain(app);
    assert.equal(await propagateDue({ db, clock, log, sinks: sinks() }), 0);
    const status = await getSuppressionStatus(db, email);
    assert.deepEqual(
      status.systems.map((s) => [s.system, s.status]).sort(),
      [...PROPAGATION_SYSTEMS].sort().map((s) => [s, 'confirmed']),
    );
    for (const s of status.systems) assert.ok(s.confirmedAt !== null);
    // and each stand-in system holds it
    assert.equal(await count('select count(*) as n from demo_crm_opt_outs where email = $1 and opted_out', [email]), 1);
    assert.equal(await count('select count(*) as n from suppression_export where email = $1', [email]), 1);
    assert.equal(await count('select count(*) as n from compliance_suppression_log where email = $1', [email]), 1);

    // RFC 8058 retries are harmless: same answer, no second event
    const again = await app.publicServer.inject({
      method: 'POST',
      url: url.pathname,
      payload: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(again.statusCode, 200);
    assert.equal(
      await count(`select count(*) as n from engagement_events where type = 'unsubscribed' and email = $1`, [email]),
      1,
    );
  });

  it('(c) a redelivered signed SendGrid webhook changes nothing the second time', async () => {
    // a sent contact with no engagement yet, so the webhook's effect is plain to see
    const {
      rows: [target],
    } = await db.query<{ contact_id: string; email: string; message_id: string }>(
      `
      select l.contact_id, l.email, l.esp_message_id as message_id from send_ledger l
      where l.campaign_id = $1 and l.state = 'sent'
        and not exists (select 1 from contact_engagement c where c.contact_id = l.contact_id)
        and not exists (select 1 from suppressions s where s.contact_id = l.contact_id)
      order by l.contact_id limit 1`,
      [campaignId],
    );
    assert.ok(target, 'a sent contact without engagement exists');
    // the ledger holds the address sealed (src/privacy/); the webhook names it in plain text
    target.email = (await app.privacy.open(target.email))!;
    const ts = Math.floor(clock.now().getTime() / 1000);
    const common = {
      email: target.email,
      timestamp: ts,
      'smtp-id': `<${target.message_id}>`,
      sy_campaign: campaignId,
      sy_contact: target.contact_id,
    };
    const body = JSON.stringify([
      {
        ...common,
        event: 'open',
        sg_event_id: 'e2e-open-1',
        useragent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)',
      },
      {
        ...common,
        event: 'click',
        sg_event_id: 'e2e-click-1',
        url: 'https://demo.example.com/pricing',
        useragent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)',
      },
    ]);
    const post = () =>
      app.publicServer.inject({
        method: 'POST',
        url: '/webhooks/sendgrid',
        payload: body,
        headers: signer.headers(body, ts),
      });

    const first = await post();
    assert.equal(first.statusCode, 200, first.body);
    assert.deepEqual(first.json(), { accepted: 2, duplicates: 0, rejected: 0, ignored: 0 });
    await drain(app);
    await clock.advance(5_000);
    assert.ok((await flushCrm()) >= 1);
    const score = async () =>
      (
        await db.query<{ raw_score: number; raw_at: Date }>(
          'select raw_score, raw_at from contact_engagement where contact_id = $1',
          [target.contact_id],
        )
      ).rows[0];
    const afterFirst = await score();
    assert.ok(afterFirst !== undefined && afterFirst.raw_score > 0, 'the first delivery scored');
    const crmFirst = (await app.crm.lookup([target.contact_id])).get(target.contact_id)?.engagementScore;
    const snapshot = async () => ({
      events: await count('select count(*) as n from engagement_events'),
      busMessages: await count('select count(*) as n from bus_messages'),
      applied: await count('select count(*) as n from engagement_applied_batches'),
      deadLetters: await count('select count(*) as n from dead_letters'),
    });
    const before = await snapshot();

    const second = await post();
    assert.equal(second.statusCode, 200, second.body);
    assert.deepEqual(second.json(), { accepted: 0, duplicates: 2, rejected: 0, ignored: 0 });
    assert.equal(await drain(app), 0, 'nothing new to handle');
    await clock.advance(5_000);
    assert.equal(await flushCrm(), 0, 'nothing new for the CRM');
    assert.deepEqual(await snapshot(), before);
    assert.deepEqual(await score(), afterFirst, 'no second engagement increment');
    assert.equal((await app.crm.lookup([target.contact_id])).get(target.contact_id)?.engagementScore, crmFirst);
  });
});
