/**
 * Per-topic subscriptions on every road, through the real app (PGlite, sandbox ESP, manual clock):
 * a reader leaves topic "news" on the preference page of a message they got; a later blast on
 * "news" skips them at comply with the reason (and the campaign's reasons count it), a blast on
 * "offers" still reaches them; a withdrawal that lands while a chunk waits stops it at the send
 * stage's last check; a transactional message on "news" is skipped unless its category is one
 * that passes (a receipt); a journey definition takes a topic.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { validateJourney } from '../../src/core/journeys/validate.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { drain } from '../support/pipeline.ts';
import { capturedSandbox } from '../support/captured-sandbox.ts';

const AUDIENCE = { source: 'demo', size: 40 } as const;

describe('per-topic subscriptions on every road', () => {
  let db: Db;
  let app: App;
  const sandbox = capturedSandbox();
  const clock = createManualClock(new Date('2026-06-01T10:00:00Z'));
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(
      loadConfig({
        SWITCHYARD_TRACKING_SECRET: 'topic-secret',
        SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
        SWITCHYARD_COMPLIANCE_SECRET: 'topic-compliance-secret',
        SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'sy-topics-')),
      }),
      {
        db,
        clock,
        log: pino({ level: 'silent' }),
        // the clock never moves, so the sandbox simulates no reactions (no stray unsubscribes)
        esp: sandbox.factory,
      },
    );
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  const sentTo = (campaignId: string) => sandbox.esp.outbox().filter((m) => m.correlation.campaignId === campaignId);

  async function ledgerRow(campaignId: string, contactId: string) {
    const { rows } = await db.query<{ state: string; reason: string | null }>(
      'select state, reason from send_ledger where campaign_id = $1 and contact_id = $2',
      [campaignId, contactId],
    );
    return rows[0];
  }

  let reader: { contactId: string; email: string };

  it('the preference page of a message on "news" offers leaving news only; its POST records a withdrawal', async () => {
    const first = await app.campaigns.create(demoCampaign({ id: 'cmp-news-1', topic: 'news', audience: AUDIENCE }));
    await app.campaigns.start(first.id);
    await drain(app);
    const got = sentTo(first.id);
    assert.ok(got.length >= 10, `most of the audience got the first news (${got.length})`);
    const msg = got[0]!;
    reader = { contactId: msg.correlation.contactId, email: msg.to };
    const path = /<https:\/\/t\.example\.com(\/t\/u\/[\w-]+)>/.exec(msg.headers['List-Unsubscribe'] ?? '')?.[1];
    assert.ok(path, msg.headers['List-Unsubscribe']);

    const pageRes = await app.publicServer.inject({ method: 'GET', url: path });
    assert.equal(pageRes.statusCode, 200);
    assert.match(pageRes.body, /Leave news/);
    assert.match(pageRes.body, /action="[\w-]+\/topic"/);
    const leave = await app.publicServer.inject({
      method: 'POST',
      url: `${path}/topic`,
      headers: { 'user-agent': 'test-browser' },
    });
    assert.equal(leave.statusCode, 200, leave.body);
    assert.match(leave.body, /You will not receive news emails any more/);
    // a forged token changes nothing
    const forged = await app.publicServer.inject({ method: 'POST', url: `${path.slice(0, -3)}xyz/topic` });
    assert.equal(forged.statusCode, 400);

    const history = await app.compliance.consent.history(reader.email);
    assert.deepEqual(
      history.records.map((r) => [r.action, r.topic, r.source, r.withdrawnVia]),
      [['withdraw', 'news', 'preference_centre', 'preference_page']],
    );
    assert.equal(history.records[0]!.pii?.userAgent, 'test-browser');
    assert.deepEqual(
      history.subscriptions.map((s) => [s.topic, s.subscribed]),
      [['news', false]],
    );
    // leaving a topic is not a global unsubscribe
    const { rows } = await db.query('select 1 from suppressions');
    assert.equal(rows.length, 0);
  });

  it('a later blast on "news" skips the reader with the reason; a blast on "offers" still reaches them', async () => {
    const news = await app.campaigns.create(demoCampaign({ id: 'cmp-news-2', topic: 'news', audience: AUDIENCE }));
    const offers = await app.campaigns.create(
      demoCampaign({ id: 'cmp-offers-1', topic: 'offers', audience: AUDIENCE }),
    );
    await app.campaigns.start(news.id);
    await app.campaigns.start(offers.id);
    await drain(app);

    assert.deepEqual(await ledgerRow(news.id, reader.contactId), {
      state: 'suppressed',
      reason: 'topic_unsubscribed:news',
    });
    assert.ok(!sentTo(news.id).some((m) => m.correlation.contactId === reader.contactId));
    assert.equal(sentTo(news.id).length, sentTo('cmp-news-1').length - 1, 'everyone else still gets the news');
    const status = await app.campaigns.status(news.id);
    assert.equal(status.reasons['topic_unsubscribed:news'], 1, JSON.stringify(status.reasons));

    assert.equal((await ledgerRow(offers.id, reader.contactId))?.state, 'sent');
    assert.ok(sentTo(offers.id).some((m) => m.correlation.contactId === reader.contactId));
  });

  it("a withdrawal that lands while a chunk waits is caught by the send stage's last check", async () => {
    const late = await app.campaigns.create(demoCampaign({ id: 'cmp-news-3', topic: 'news', audience: AUDIENCE }));
    await app.campaigns.start(late.id);
    await drain(app, { only: ['select', 'prepare'] });
    const other = sentTo('cmp-news-1').find((m) => m.correlation.contactId !== reader.contactId)!;
    await app.compliance.doubleOptIn.setPreferences(other.to, { news: false }, { via: 'test' });
    await drain(app);
    assert.deepEqual(await ledgerRow(late.id, other.correlation.contactId), {
      state: 'suppressed',
      reason: 'topic_unsubscribed_before_send:news',
    });
    assert.equal((await ledgerRow(late.id, reader.contactId))?.reason, 'topic_unsubscribed:news');
  });

  it('transactional messages on "news" skip the reader unless the category passes (a receipt)', async () => {
    const base = {
      to: { email: reader.email, contactId: reader.contactId },
      from: { address: 'shop@demo.example.com' },
      subject: 'Hello',
      template: { text: 'Hello there.' },
      postalAddress: 'Demo Corp, 1 Example Street, Springfield',
      topic: 'news',
    };
    const digest = await app.messages.send({ ...base, idempotencyKey: 'digest-1', category: 'digest' });
    const receipt = await app.messages.send({ ...base, idempotencyKey: 'receipt-1', category: 'receipt' });
    await drain(app);
    const d = await app.messages.get(digest.id);
    assert.deepEqual([d.status, d.reason], ['suppressed', 'topic_unsubscribed_before_send:news']);
    assert.equal((await app.messages.get(receipt.id)).status, 'sent');
    // without a topic, the old request hash (and so an earlier key's idempotency) is unchanged
    const again = await app.messages.send({ ...base, idempotencyKey: 'digest-1', category: 'digest' });
    assert.equal(again.duplicate, true);
  });

  it('a journey definition takes a topic (its email steps carry it to the send stage)', () => {
    const journey = {
      name: 'Nurture',
      trigger: { type: 'event', event: 'clicked' },
      from: { address: 'news@demo.example.com' },
      postalAddress: 'Demo Corp, 1 Example Street',
      start: 'mail',
      steps: [{ id: 'mail', type: 'email', subject: 'Hi', template: { text: 'Hi' } }],
    };
    assert.equal(validateJourney({ ...journey, topic: 'news' }).ok, true);
    const bad = validateJourney({ ...journey, topic: 'no spaces please' });
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.ok ? [] : bad.problems.map((p) => p.path), ['$.topic']);
  });
});
