import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { createManualClock } from '../../src/clock/manual.ts';
import type { EngagementEvent } from '../../src/core/events.ts';
import { createWebhookVerifiers } from '../../src/composition/webhook-verifiers.ts';
import { registerWebhookRoutes } from '../../src/api/routes/webhooks.ts';
import { createWebhookReplayGuard } from '../../src/reactions/webhook-replay.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { basicAuth, signMailgunBody } from '../support/webhook-signing.ts';
import { MAILGUN_KEY, POSTMARK, sendgrid, sns, T, testWebhookVerifiers } from '../support/webhook-stack.ts';

const fixture = (path: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/webhooks/${path}`, import.meta.url), 'utf8'));

// replay keys are remembered in the real store; each harness starts with none, as tests re-sign the same fixtures
let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
});
after(async () => {
  await db.close();
});
const noCount = { inc() {} };

interface Harness {
  app: FastifyInstance;
  ingested: EngagementEvent[][];
  deadLetters: { stage: string; payload: unknown; code: string; message: string }[];
  confirmed: string[];
  failIngestOnce: { armed: boolean };
}

/**
 * A fastify app with the webhook routes, a recording ingest that dedups by sourceId, and an in-memory
 * dead-letter list.
 */
async function harness(
  t: { after(fn: () => Promise<void>): void },
  options: { maxBodyBytes?: number; confirm?: boolean } = {},
): Promise<Harness> {
  await db.query('delete from webhook_replay');
  const clock = createManualClock(new Date(T * 1000 + 5_000));
  const seen = new Set<string>();
  const h: Omit<Harness, 'app'> = { ingested: [], deadLetters: [], confirmed: [], failIngestOnce: { armed: false } };
  const app = Fastify();
  registerWebhookRoutes(app, {
    verifiers: testWebhookVerifiers(),
    async ingest(events) {
      if (h.failIngestOnce.armed) {
        h.failIngestOnce.armed = false;
        throw new Error('store down');
      }
      h.ingested.push(events);
      let accepted = 0;
      for (const e of events) {
        if (seen.has(e.sourceId)) continue;
        seen.add(e.sourceId);
        accepted += 1;
      }
      return { accepted, duplicates: events.length - accepted };
    },
    deadLetters: {
      async add(entry, keep) {
        h.deadLetters.push(entry);
        const ofStage = h.deadLetters.filter((d) => d.stage === entry.stage);
        for (const d of ofStage.slice(0, Math.max(0, ofStage.length - (keep?.keepNewest ?? ofStage.length))))
          h.deadLetters.splice(h.deadLetters.indexOf(d), 1);
        return h.deadLetters.length;
      },
    },
    replay: createWebhookReplayGuard({ db, clock }),
    refused: noCount,
    clock,
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
    ...(options.confirm === false
      ? {}
      : {
          async confirmSnsSubscription(url: string) {
            h.confirmed.push(url);
          },
        }),
  });
  await app.ready();
  t.after(() => app.close());
  return { app, ...h };
}

function sendgridRequest(
  body: string,
  timestamp = T,
): { method: 'POST'; url: string; payload: string; headers: Record<string, string> } {
  return { method: 'POST', url: '/webhooks/sendgrid', payload: body, headers: sendgrid.headers(body, timestamp) };
}

describe('POST /webhooks/sendgrid', () => {
  it('verifies, normalises and ingests a batch; rejected events are dead-lettered; redelivery dedups', async (t) => {
    const h = await harness(t);
    const body = JSON.stringify(fixture('sendgrid/mixed-batch-with-unknown-event.json'));
    const res = await h.app.inject(sendgridRequest(body));
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { accepted: 11, duplicates: 0, rejected: 1, ignored: 1 });
    assert.equal(h.ingested[0]?.length, 11);
    assert.deepEqual(
      h.deadLetters.map((d) => [d.stage, d.code, d.message]),
      [['webhook.sendgrid', 'WEBHOOK_PAYLOAD_INVALID', 'unknown SendGrid event type "test_event"']],
    );
    assert.equal((h.deadLetters[0]!.payload as { index: number }).index, 12);

    const again = await h.app.inject(sendgridRequest(body, T + 1));
    assert.deepEqual(again.json(), { accepted: 0, duplicates: 11, rejected: 1, ignored: 1 });
    const redelivered = await h.app.inject(sendgridRequest(body));
    assert.deepEqual(
      redelivered.json(),
      { accepted: 0, duplicates: 11, rejected: 1, ignored: 1 },
      'the same signed request again is a redelivery: nothing changes',
    );
    assert.deepEqual(
      h.ingested[1]?.map((e) => e.sourceId),
      h.ingested[0]?.map((e) => e.sourceId),
    );
  });
  it(
    'answers 401 with the reason for a tampered body, ' + 'dead-letters it, and still serves the next request',
    async (t) => {
      const h = await harness(t);
      const body = JSON.stringify(fixture('sendgrid/mixed-batch-with-unknown-event.json'));
      const req = sendgridRequest(body);
      const bad = await h.app.inject({ ...req, payload: body.replace('alice@', 'mallory@') });
      assert.equal(bad.statusCode, 401);
      assert.equal(bad.json().error, 'WEBHOOK_SIGNATURE_INVALID');
      assert.match(bad.json().message, /^bad signature/);
      assert.equal(h.deadLetters[0]?.stage, 'webhook.sendgrid.refused');
      assert.equal(h.ingested.length, 0);
      const good = await h.app.inject(req);
      assert.equal(good.statusCode, 200);
    },
  );
  it('answers 401 for missing headers and a stale timestamp', async (t) => {
    const h = await harness(t);
    const missing = await h.app.inject({
      method: 'POST',
      url: '/webhooks/sendgrid',
      payload: '[]',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json().message, 'missing header X-Twilio-Email-Event-Webhook-Signature');
    const stale = await h.app.inject(sendgridRequest('[]', T - 2 * 86400));
    assert.equal(stale.statusCode, 401);
    assert.equal(stale.json().error, 'WEBHOOK_STALE');
    assert.equal(h.deadLetters.length, 2);
  });
  it('answers 400 for a signed body that is not JSON or not an array', async (t) => {
    const h = await harness(t);
    const notJson = await h.app.inject(sendgridRequest('[{"event":'));
    assert.equal(notJson.statusCode, 400);
    assert.match(notJson.json().message, /^body is not JSON/);
    const notArray = await h.app.inject(sendgridRequest('{"event":"open"}'));
    assert.equal(notArray.statusCode, 400);
    assert.equal(notArray.json().message, 'SendGrid body must be a JSON array of events, got object');
    assert.deepEqual(
      h.deadLetters.map((d) => d.code),
      ['WEBHOOK_PAYLOAD_INVALID', 'WEBHOOK_PAYLOAD_INVALID'],
    );
  });
  it('answers 413 with the limit for an oversized body, dead-letters it, and keeps serving', async (t) => {
    const h = await harness(t, { maxBodyBytes: 2048 });
    const big = JSON.stringify([{ event: 'delivered', pad: 'x'.repeat(4096) }]);
    const res = await h.app.inject(sendgridRequest(big));
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error, 'WEBHOOK_PAYLOAD_TOO_LARGE');
    assert.match(res.json().message, /body exceeds 2048 bytes/);
    assert.deepEqual(
      h.deadLetters.map((d) => [d.stage, d.code]),
      [['webhook.sendgrid.refused', 'WEBHOOK_PAYLOAD_TOO_LARGE']],
    );
    assert.equal((await h.app.inject(sendgridRequest('[]'))).statusCode, 200);
  });
  it('answers 500 when ingest fails (so SendGrid redelivers) and accepts the redelivery', async (t) => {
    const h = await harness(t);
    const body = JSON.stringify(fixture('sendgrid/mixed-batch-with-unknown-event.json'));
    h.failIngestOnce.armed = true;
    assert.equal((await h.app.inject(sendgridRequest(body))).statusCode, 500);
    const retry = await h.app.inject(sendgridRequest(body));
    assert.deepEqual(retry.json(), { accepted: 11, duplicates: 0, rejected: 1, ignored: 1 });
  });
});

describe('POST /webhooks/mailgun', () => {
  it('ingests a signed event; a redelivery with a fresh signature dedups', async (t) => {
    const h = await harness(t);
    const event = fixture('mailgun/clicked.json') as Record<string, unknown>;
    const first = await h.app.inject({
      method: 'POST',
      url: '/webhooks/mailgun',
      payload: JSON.stringify(signMailgunBody(event, MAILGUN_KEY, T)),
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual(first.json(), { accepted: 1, duplicates: 0, rejected: 0, ignored: 0 });
    const second = await h.app.inject({
      method: 'POST',
      url: '/webhooks/mailgun',
      payload: JSON.stringify(signMailgunBody(event, MAILGUN_KEY, T + 3, 'b'.repeat(50))),
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual(second.json(), { accepted: 0, duplicates: 1, rejected: 0, ignored: 0 });
    assert.equal(h.ingested[0]?.[0]?.url, 'https://shop.example.org/spring?utm_source=email');
  });
  it('401 for the wrong key, 400 for malformed JSON, unknown event dead-lettered with 200', async (t) => {
    const h = await harness(t);
    const wrong = await h.app.inject({
      method: 'POST',
      url: '/webhooks/mailgun',
      payload: JSON.stringify(
        signMailgunBody(fixture('mailgun/delivered.json') as Record<string, unknown>, 'key-other', T),
      ),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(wrong.statusCode, 401);
    const malformed = await h.app.inject({
      method: 'POST',
      url: '/webhooks/mailgun',
      payload: '{"signature":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(malformed.statusCode, 400);
    const unknown = await h.app.inject({
      method: 'POST',
      url: '/webhooks/mailgun',
      payload: JSON.stringify(
        signMailgunBody(fixture('mailgun/unknown-event-type.json') as Record<string, unknown>, MAILGUN_KEY, T),
      ),
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual(unknown.json(), { accepted: 0, duplicates: 0, rejected: 1, ignored: 0 });
    assert.deepEqual(
      h.deadLetters.map((d) => [d.code, d.message.slice(0, 30)]),
      [
        ['WEBHOOK_SIGNATURE_INVALID', 'bad signature: HMAC-SHA256(sig'],
        ['WEBHOOK_PAYLOAD_INVALID', 'body is not JSON (Unexpected e'],
        ['WEBHOOK_PAYLOAD_INVALID', 'unknown Mailgun event type "li'],
      ],
    );
  });
});

describe('POST /webhooks/ses', () => {
  it('verifies the SNS signature (text/plain body) and fans a bounce out per recipient', async (t) => {
    const h = await harness(t);
    const msg = sns.sign(fixture('ses/bounce-permanent-two-recipients.json') as Record<string, unknown>);
    const res = await h.app.inject({
      method: 'POST',
      url: '/webhooks/ses',
      payload: JSON.stringify(msg),
      headers: sns.headers(msg),
    });
    assert.deepEqual(res.json(), { accepted: 2, duplicates: 0, rejected: 0, ignored: 0 });
    assert.deepEqual(
      h.ingested[0]?.map((e) => [e.type, e.email]),
      [
        ['bounced_hard', 'nobody@example.net'],
        ['bounced_hard', 'ghost@example.net'],
      ],
    );
  });
  it('confirms a verified SubscriptionConfirmation through the injected confirmer', async (t) => {
    const h = await harness(t);
    const msg = sns.sign(fixture('ses/subscription-confirmation.json') as Record<string, unknown>);
    const res = await h.app.inject({
      method: 'POST',
      url: '/webhooks/ses',
      payload: JSON.stringify(msg),
      headers: sns.headers(msg),
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().subscriptionConfirmed, true);
    assert.deepEqual(h.confirmed, [msg['SubscribeURL']]);
  });
  it('dead-letters a confirmation when no confirmer is configured, naming the URL', async (t) => {
    const h = await harness(t, { confirm: false });
    const msg = sns.sign(fixture('ses/subscription-confirmation.json') as Record<string, unknown>);
    const res = await h.app.inject({
      method: 'POST',
      url: '/webhooks/ses',
      payload: JSON.stringify(msg),
      headers: sns.headers(msg),
    });
    assert.equal(res.statusCode, 400);
    assert.match(h.deadLetters[0]?.message ?? '', /confirm by GET https:\/\/sns\.eu-west-1\.amazonaws\.com/);
  });
  it('401 for an unlisted topic, never confirming it', async (t) => {
    const h = await harness(t);
    const msg = sns.sign({
      ...(fixture('ses/subscription-confirmation.json') as Record<string, unknown>),
      TopicArn: 'arn:aws:sns:eu-west-1:999999999999:attacker',
    });
    const res = await h.app.inject({
      method: 'POST',
      url: '/webhooks/ses',
      payload: JSON.stringify(msg),
      headers: sns.headers(msg),
    });
    assert.equal(res.statusCode, 401);
    assert.match(res.json().message, /is not on the allowlist/);
    assert.deepEqual(h.confirmed, []);
  });
});

describe('POST /webhooks/postmark', () => {
  it('accepts the right basic auth and refuses the wrong one with 401', async (t) => {
    const h = await harness(t);
    const payload = JSON.stringify(fixture('postmark/bounce-hard.json'));
    const ok = await h.app.inject({
      method: 'POST',
      url: '/webhooks/postmark',
      payload,
      headers: { 'content-type': 'application/json', authorization: basicAuth(POSTMARK.username, POSTMARK.password) },
    });
    assert.deepEqual(ok.json(), { accepted: 1, duplicates: 0, rejected: 0, ignored: 0 });
    const bad = await h.app.inject({
      method: 'POST',
      url: '/webhooks/postmark',
      payload,
      headers: { 'content-type': 'application/json', authorization: basicAuth(POSTMARK.username, 'nope') },
    });
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.json().message, 'wrong basic-auth credentials');
    assert.equal(
      JSON.stringify(h.deadLetters).includes('authorization'),
      false,
      'credentials are never kept in a dead letter',
    );
  });
  it('an unconfigured vendor rejects everything', async (t) => {
    const app = Fastify();
    const dead: unknown[] = [];
    registerWebhookRoutes(app, {
      verifiers: createWebhookVerifiers({}),
      ingest: async () => ({ accepted: 0, duplicates: 0 }),
      deadLetters: {
        async add(e) {
          dead.push(e);
          return 1;
        },
      },
      clock: createManualClock(),
      maxBodyBytes: 1024,
      replay: createWebhookReplayGuard({ db, clock: createManualClock() }),
      refused: noCount,
    });
    t.after(() => app.close());
    const res = await app.inject({
      method: 'POST',
      url: '/webhooks/postmark',
      payload: '{}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().message, 'postmark webhooks are not configured (no key or secret)');
    assert.equal(dead.length, 1);
  });
});
