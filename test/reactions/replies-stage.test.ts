import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { createAdminServer } from '../../src/api/admin-server.ts';
import { httpStatusFor } from '../../src/api/http-status.ts';
import { registerReviewRoutes } from '../../src/api/routes/review.ts';
import { createConsumer } from '../../src/bus/consumer.ts';
import type { Bus } from '../../src/bus/port.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { getSuppression } from '../../src/compliance/suppression.ts';
import { createDemoCrm, ensureDemoCrmSchema, isKnownContact } from '../../src/connectors/crm/demo/adapter.ts';
import { selectTasks } from '../../src/connectors/crm/demo/queries.ts';
import type { Crm } from '../../src/connectors/crm/port.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { parseInboundMessage, toEngagementEvents } from '../../src/reactions/inbound/parse.ts';
import { referencesOf, vouchForEvents } from '../../src/reactions/inbound/vouch.ts';
import { findSentMessages } from '../../src/campaigns/send-ledger.ts';
import { createIngest, type Ingest } from '../../src/reactions/ingest.ts';
import {
  decideReplyAction,
  handleReplies,
  isVerifiedReply,
  repliesStage,
  replyText,
  type RepliesStageDeps,
} from '../../src/reactions/replies-stage.ts';
import { listReviewItems, reviewItemId, type ReviewItem } from '../../src/reactions/review-queue.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import type { InjectOptions } from 'fastify';
import { accessServices, authHeaders } from '../support/api-keys.ts';
import type { ReactionBatch } from '../../src/bus/topics.ts';

const log = pino({ level: 'silent' });
let db: Db;
let clock: ManualClock;
let bus: Bus;
let ingest: Ingest;
let crm: Crm;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  await ensureDemoCrmSchema(db);
  clock = createManualClock(new Date('2026-11-27T09:00:00Z'));
  bus = createPostgresLogBus({ db, clock });
  ingest = createIngest({ db, bus, clock });
  crm = createDemoCrm({ db, clock });
});
after(async () => {
  await db.close();
});

function knownContact(): string {
  for (;;) {
    const id = `c_${randomBytes(5).toString('hex')}`;
    if (isKnownContact(id)) return id;
  }
}

/** Puts a sent ledger row for `messageId`, so ingest correlates the reply to a contact. */
async function sent(messageId: string, email: string): Promise<{ contactId: string; campaignId: string }> {
  const contactId = knownContact();
  const campaignId = `cmp_${randomBytes(3).toString('hex')}`;
  await db.query(
    `insert into send_ledger (campaign_id, contact_id, email, state, chunk, message_id, updated_at) values ($1, $2, $3,
      'delivered', 0, $4, $5)`,
    [campaignId, contactId, email, messageId, clock.now()],
  );
  return { contactId, campaignId };
}

/** What the inbound handler does with a reply: parse, check it against the ledger, ingest. */
async function receive(fixture: string, sourceId: string): Promise<void> {
  const parsed = await parseInboundMessage(readFileSync(new URL(`../fixtures/inbound/${fixture}`, import.meta.url)));
  const events = toEngagementEvents(parsed, { receivedAt: clock.now(), sourceId });
  const vouched = await vouchForEvents(
    (keys, ids) => findSentMessages(db, keys, ids),
    parsed,
    events,
    referencesOf(parsed, { mailFrom: 'x@example.org', rcptTo: ['news@shop.example.com'] }),
    [],
  );
  await ingest(vouched.ingest);
}

describe('reply intent → action', () => {
  it('only clear intents are automated; the reply text comes from raw.trimmedText or a trimmed raw.text', () => {
    assert.equal(decideReplyAction({ intent: 'unsubscribe_request', isClear: true }), 'unsubscribe');
    assert.equal(decideReplyAction({ intent: 'unsubscribe_request', isClear: false }), 'review');
    assert.equal(decideReplyAction({ intent: 'interested', isClear: true }), 'task');
    assert.equal(decideReplyAction({ intent: 'complaint', isClear: true }), 'unsubscribe_and_review');
    assert.equal(decideReplyAction({ intent: 'out_of_office', isClear: true }), 'none');
    assert.equal(decideReplyAction({ intent: 'wrong_person', isClear: true }), 'review');
    assert.equal(decideReplyAction({ intent: 'other', isClear: false }), 'review');
    assert.equal(replyText({ trimmedText: 'yes please' }), 'yes please');
    assert.equal(
      replyText({ text: 'Stop.\n\nOn Mon, 1 Jan 2026, Shop <news@shop.example.com> wrote:\n> Black Friday' }),
      'Stop.',
    );
    assert.equal(replyText(null), '');
    assert.equal(isVerifiedReply({ verified: true }), true);
    for (const raw of [{ verified: false }, { verified: 'true' }, {}, null, 'x'])
      assert.equal(isVerifiedReply(raw), false);
  });
});

describe('replies stage and review queue', () => {
  const run = { gmail: '', outlook: '', apple: '' };
  let anna: { contactId: string; campaignId: string };
  let eve: { contactId: string; campaignId: string };

  it(
    'interested → one CRM task, unsubscribe → suppressed now, wrong person → review; redelivery repeats ' + 'nothing',
    async () => {
      anna = await sent('01JDQHHHHH0000000000000011@shop.example.com', 'anna.schmidt.example@gmail.com');
      await sent('01JDQJJJJJ0000000000000012@shop.example.com', 'bob.miller@contoso.example');
      eve = await sent('01JDQKKKKK0000000000000013@shop.example.com', 'eve.jones@example.org');
      run.gmail = `inbound:${randomBytes(4).toString('hex')}`;
      run.outlook = `inbound:${randomBytes(4).toString('hex')}`;
      run.apple = `inbound:${randomBytes(4).toString('hex')}`;
      await receive('gmail/reply-interested-with-quote.eml', run.gmail);
      await receive('outlook/reply-unsubscribe-html-only.eml', run.outlook);
      await receive('apple/reply-wrong-person-with-signature.eml', run.apple);

      const deps: RepliesStageDeps = { db, clock, crm, ingest, log };
      const stage = repliesStage(deps);
      const batches: ReactionBatch[] = [];
      const consumer = createConsumer<ReactionBatch>(
        { bus, clock, log },
        stage.consumers[0]!.options,
        async (m, ctx) => {
          batches.push(m.payload);
          await (stage.consumers[0]!.handler as unknown as (m: unknown, c: unknown) => Promise<void>)(m, ctx);
        },
      );
      assert.equal(await consumer.runOnce(), 3);

      const tasks = await selectTasks(db, anna.contactId);
      assert.equal(tasks.length, 1);
      assert.equal(tasks[0]!.kind, 'reply-follow-up');
      assert.match(tasks[0]!.body, /pricing for\n50 seats/);
      const bob = await getSuppression(db, 'bob.miller@contoso.example');
      assert.equal(bob?.reason, 'unsubscribed');
      assert.equal(bob?.source, 'inbound:unsubscribed');
      const open = (await listReviewItems(db, { status: 'open' })).filter((i) => i.contactId === eve.contactId);
      assert.equal(open.length, 1);
      assert.equal(open[0]!.intent, 'wrong_person');
      assert.equal(open[0]!.id, reviewItemId(`${run.apple}:reply`));
      assert.match(open[0]!.excerpt, /not the right person/);

      for (const b of batches) await handleReplies(deps, b); // redelivery
      assert.equal((await selectTasks(db, anna.contactId)).length, 1);
      assert.equal((await listReviewItems(db)).filter((i) => i.contactId === eve.contactId).length, 1);
    },
  );

  it('a clear intent automation cannot carry out (interested, but no known contact) goes to review', async () => {
    const sourceId = `inbound:${randomBytes(4).toString('hex')}:reply`;
    await ingest([
      {
        type: 'replied',
        sourceId,
        provider: 'inbound',
        occurredAt: clock.now(),
        email: 'stranger@example.net',
        raw: { trimmedText: 'Sounds great, tell me more about the pricing' },
      },
    ]);
    const outcomes = await handleReplies(
      { db, clock, crm, ingest, log },
      {
        events: [
          {
            sourceId,
            type: 'replied',
            provider: 'inbound',
            occurredAt: clock.now().toISOString(),
            email: 'stranger@example.net',
            messageId: null,
            campaignId: null,
            contactId: null,
            isMachine: false,
            reason: null,
            url: null,
          },
        ],
      },
    );
    assert.deepEqual(
      outcomes.map((o) => [o.intent, o.action]),
      [['interested', 'review']],
    );
  });

  it('HTTP: list, claim (one reviewer wins), resolve with an action; suppression status by email', async (t) => {
    const access = accessServices(db, clock);
    const admin = await createAdminServer(
      { log, db, bus, metrics: createMetrics({ bus }), version: 'test', bodyLimit: 1_000_000, ...access },
      [registerReviewRoutes({ db, clock, crm, ingest })],
    );
    t.after(() => admin.close());
    const headers = await authHeaders(access, 'compliance');
    const server = { inject: (opts: InjectOptions) => admin.inject({ ...opts, headers }) };
    const id = reviewItemId(`${run.apple}:reply`);
    const listed = await server.inject({ method: 'GET', url: '/v1/review-items?status=open&limit=1000' });
    assert.equal(listed.statusCode, 200);
    assert.ok((listed.json() as { items: ReviewItem[] }).items.some((i) => i.id === id));

    const claim = (by: string) =>
      server.inject({ method: 'POST', url: `/v1/review-items/${id}/claim`, payload: { by } });
    const claimed = await claim('alice');
    assert.equal(claimed.statusCode, 200);
    assert.deepEqual([claimed.json().status, claimed.json().claimedBy], ['claimed', 'alice']);
    assert.equal((await claim('alice')).statusCode, 200, 'claiming again is idempotent for the same reviewer');
    const lost = await claim('bob');
    assert.equal(lost.json().error, 'REVIEW_ITEM_CONFLICT');
    assert.equal(lost.statusCode, httpStatusFor('REVIEW_ITEM_CONFLICT'));

    const resolve = (by: string, action: string, note?: string) =>
      server.inject({
        method: 'POST',
        url: `/v1/review-items/${id}/resolve`,
        payload: { by, action, ...(note ? { note } : {}) },
      });
    assert.equal((await resolve('bob', 'ignore')).json().error, 'REVIEW_ITEM_CONFLICT');
    assert.equal((await resolve('alice', 'archive')).statusCode, 400);
    const done = await resolve('alice', 'create_task', 'Forward to procurement');
    assert.equal(done.statusCode, 200);
    assert.deepEqual([done.json().status, done.json().resolution], ['resolved', 'create_task']);
    const tasks = await selectTasks(db, eve.contactId);
    assert.equal(tasks.length, 1);
    assert.match(tasks[0]!.body, /Reviewer note \(alice\): Forward to procurement/);
    assert.equal((await resolve('alice', 'create_task')).statusCode, 200, 'same resolution again is idempotent');
    assert.equal((await selectTasks(db, eve.contactId)).length, 1);
    assert.equal((await resolve('alice', 'unsubscribe')).json().error, 'REVIEW_ITEM_CONFLICT');

    const missing = await server.inject({
      method: 'POST',
      url: '/v1/review-items/rev_nope/claim',
      payload: { by: 'alice' },
    });
    assert.deepEqual([missing.statusCode, missing.json().error], [404, 'NOT_FOUND']);

    // resolve with unsubscribe: the stranger's item from the previous test
    const stranger = (await listReviewItems(db, { status: 'open', limit: 1000 })).find((i) =>
      i.excerpt.startsWith('Sounds great'),
    )!;
    const unsub = await server.inject({
      method: 'POST',
      url: `/v1/review-items/${stranger.id}/resolve`,
      payload: { by: 'carol', action: 'unsubscribe' },
    });
    assert.deepEqual([unsub.statusCode, unsub.json().claimedBy], [200, 'carol']);
    const status = await server.inject({ method: 'GET', url: '/v1/suppressions/Stranger@Example.net' });
    assert.equal(status.statusCode, 200);
    assert.equal(status.json().suppressed.reason, 'unsubscribed');
    assert.deepEqual(status.json().systems, []);
    const badEmail = await server.inject({ method: 'GET', url: '/v1/suppressions/nobody' });
    assert.deepEqual([badEmail.statusCode, badEmail.json().error], [400, 'VALIDATION_FAILED']);
  });
});
