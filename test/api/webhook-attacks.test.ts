/**
 * Issue 12's webhook findings, each replayed against the routes on the real store (PGlite here:
 * it refuses the same characters as PostgreSQL): the request that got through before, and what
 * happens to it now.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { basicAuth, signMailgunBody } from '../support/webhook-signing.ts';
import { createWebhookStack, MAILGUN_KEY, POSTMARK, T, type WebhookStack } from '../support/webhook-stack.ts';

type Obj = Record<string, unknown>;
const fixture = (path: string): Obj =>
  JSON.parse(readFileSync(new URL(`../fixtures/webhooks/${path}`, import.meta.url), 'utf8'));
const json = { 'content-type': 'application/json' };

let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
});
after(async () => {
  await db.close();
});

function mailgun(s: WebhookStack, body: Obj) {
  return s.app.inject({ method: 'POST', url: '/webhooks/mailgun', payload: JSON.stringify(body), headers: json });
}
function sendgridBatch(s: WebhookStack, events: unknown[], timestamp = T) {
  const body = JSON.stringify(events);
  return s.app.inject({
    method: 'POST',
    url: '/webhooks/sendgrid',
    payload: body,
    headers: s.sendgrid.headers(body, timestamp),
  });
}

describe('Mailgun signature replay with other event data', () => {
  it(
    'a captured signature re-used for an unsubscribe of another address is refused (401 WEBHOOK_REPLAYED) '
      + 'and suppresses nobody',
    async () => {
      const s = await createWebhookStack(db);
      const token = 'replay-a'.padEnd(50, 'x');
      const captured = signMailgunBody(fixture('mailgun/complained.json'), MAILGUN_KEY, T, token);
      const first = await mailgun(s, captured);
      assert.deepEqual(first.json(), { accepted: 1, duplicates: 0, rejected: 0, ignored: 0 });

      const data = captured['event-data'] as Obj;
      const forged = {
        signature: captured['signature'],
        'event-data': { ...data, id: 'forged-1', event: 'unsubscribed', recipient: 'victim@example.org' },
      };
      const res = await mailgun(s, forged);
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'WEBHOOK_REPLAYED');
      assert.equal(await s.isSuppressed('victim@example.org'), false);
      // the exact same request again is Mailgun redelivering (a lost answer): it changes nothing
      assert.deepEqual((await mailgun(s, captured)).json(), { accepted: 0, duplicates: 1, rejected: 0, ignored: 0 });
      assert.equal(await s.refusedCount('mailgun', 'WEBHOOK_REPLAYED'), 1);
    },
  );
  it('timestamps are bounded both ways, and keys are pruned once their signatures are stale', async () => {
    const s = await createWebhookStack(db);
    const future = await mailgun(
      s,
      signMailgunBody(fixture('mailgun/delivered.json'), MAILGUN_KEY, T + 20 * 60, 'future-b'.padEnd(50, 'x')),
    );
    assert.equal(future.json().error, 'WEBHOOK_STALE');
    const token = 'prune-c'.padEnd(50, 'x');
    const signed = signMailgunBody(fixture('mailgun/delivered.json'), MAILGUN_KEY, T, token);
    assert.equal((await mailgun(s, signed)).statusCode, 200);
    const count = async (): Promise<number> =>
      (await db.query<{ n: number }>('select count(*)::int as n from webhook_replay where replay_key = $1', [token]))
        .rows[0]!.n;
    assert.equal(await count(), 1);
    await s.clock.advance(16 * 60 * 1000);
    // any later claim prunes expired keys set-wise; the old request is stale, not accepted
    await mailgun(
      s,
      signMailgunBody(fixture('mailgun/delivered.json'), MAILGUN_KEY, T + 16 * 60, 'prune-d'.padEnd(50, 'x')),
    );
    assert.equal(await count(), 0);
    assert.equal((await mailgun(s, signed)).json().error, 'WEBHOOK_STALE');
  });
});

describe('unsigned requests do not fill the database', () => {
  it('20 unsigned 1 MB posts to /webhooks/sendgrid: 401 each, all counted, a few KB of samples stored', async () => {
    const s = await createWebhookStack(db);
    const before = await s.deadLetterBytes();
    const big = JSON.stringify([{ event: 'unsubscribe', email: 'x@example.org', pad: 'A'.repeat(1024 * 1024) }]);
    for (let i = 0; i < 20; i++) {
      const res = await s.app.inject({ method: 'POST', url: '/webhooks/sendgrid', payload: big, headers: json });
      assert.equal(res.statusCode, 401);
    }
    const grown = (await s.deadLetterBytes()) - before;
    assert.ok(grown < 10 * 1024, `dead letters grew by ${grown} bytes`);
    assert.equal(await s.refusedCount('sendgrid', 'WEBHOOK_SIGNATURE_INVALID'), 20);
  });
  it('keeps the newest maxStored samples per vendor: older ones age out, so a new attack is still seen', async () => {
    await db.query(`delete from dead_letters where stage = 'webhook.postmark.refused'`);
    const s = await createWebhookStack(db, { sampling: { perMinute: 100, perHour: 100, maxStored: 3 } });
    for (let i = 0; i < 10; i++)
      await s.app.inject({ method: 'POST', url: '/webhooks/postmark', payload: `{"n":${i}}`, headers: json });
    const { rows } = await db.query<{ head: string }>(
      `select payload->>'bodyHead' as head from dead_letters where stage = 'webhook.postmark.refused' order by id`,
    );
    assert.deepEqual(
      rows.map((r) => r.head),
      ['{"n":7}', '{"n":8}', '{"n":9}'],
    );
  });
});

describe('NUL and unpaired surrogates in a signed batch', () => {
  it('one bad event never blocks the valid unsubscribe beside it; nothing answers 500', async () => {
    const s = await createWebhookStack(db);
    const base = { timestamp: T, sy_campaign: 'cmp_nul' };
    const res = await sendgridBatch(s, [
      {
        ...base,
        event: 'unsubscribe',
        sg_event_id: 'nul-ok-1',
        email: 'carol@example.org',
        useragent: 'ua\u0000x',
        'note\u0000': 'v\ud800',
      },
      { ...base, event: 'bounce', sg_event_id: 'nul-\u0000-2', email: 'frank@example.org', status: '5.1.1' },
      { ...base, event: 'spamreport', sg_event_id: 'nul-3', email: 'dave\u0000@example.org' },
      { ...base, event: 'unsubscribe', sg_event_id: 'nul-ok-4', email: 'erin@example.org', reason: '\udc00' },
      { ...base, event: 'unsubscribe', sg_event_id: 'nul-5', email: 'gina@example.org', timestamp: 1e300 },
      { ...base, event: 'unsubscribe', sg_event_id: 'nul-6', email: '<script>@x.y' },
    ]);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { accepted: 2, duplicates: 0, rejected: 4, ignored: 0 });
    assert.equal(await s.isSuppressed('carol@example.org'), true);
    assert.equal(await s.isSuppressed('erin@example.org'), true);
    for (const no of ['frank@example.org', 'gina@example.org', '<script>@x.y'])
      assert.equal(await s.isSuppressed(no), false, no);
    const {
      rows: [ev],
    } = await db.query<{ raw: Obj }>(`select raw from engagement_events where source_id = 'sendgrid:nul-ok-1'`);
    assert.deepEqual([ev!.raw['useragent'], ev!.raw['note\uFFFD']], ['ua\uFFFDx', 'v\uFFFD']);
    const { rows } = await db.query<{ message: string }>(
      `select message from dead_letters where stage = 'webhook.sendgrid' and message like '%nul-%' order by id`,
    );
    assert.equal(rows.length, 4);
    assert.ok(rows.some((r) => /recipient address local part is not a dot-atom/.test(r.message)));
    assert.ok(
      rows.every((r) => !r.message.includes('<script>')),
      'reasons name the field, not the value',
    );
  });
  it('a NUL in a single Mailgun event is rejected with 200 and its dead letter is stored', async () => {
    const s = await createWebhookStack(db);
    const event = fixture('mailgun/unsubscribed.json');
    const data = event['event-data'] as Obj;
    const body = signMailgunBody(
      { ...event, 'event-data': { ...data, 'user-variables': { sy_contact: 'ct\u0000' } } },
      MAILGUN_KEY,
      T,
      'nul-mg'.padEnd(50, 'x'),
    );
    const res = await mailgun(s, body);
    assert.deepEqual(res.json(), { accepted: 0, duplicates: 0, rejected: 1, ignored: 0 });
  });
});

describe('nesting depth and number ranges are bounded (400, not 500)', () => {
  it('JSON nested 100 000 deep is refused before parsing on every route', async () => {
    const s = await createWebhookStack(db);
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    for (const vendor of ['sendgrid', 'mailgun', 'ses', 'postmark']) {
      const res = await s.app.inject({ method: 'POST', url: `/webhooks/${vendor}`, payload: deep, headers: json });
      assert.equal(res.statusCode, 400, vendor);
      assert.equal(res.json().error, 'WEBHOOK_PAYLOAD_INVALID');
    }
  });
  it('Mailgun timestamp 1e300, a Postmark date in year 275760 and an SES date in year 100000 are 400s', async () => {
    const s = await createWebhookStack(db);
    const event = fixture('mailgun/delivered.json');
    const mg = await mailgun(
      s,
      signMailgunBody(
        { ...event, 'event-data': { ...(event['event-data'] as Obj), timestamp: 1e300 } },
        MAILGUN_KEY,
        T,
        'big-ts'.padEnd(50, 'x'),
      ),
    );
    assert.equal(mg.statusCode, 400);
    assert.equal(mg.json().error, 'WEBHOOK_PAYLOAD_INVALID');
    const pm = await s.app.inject({
      method: 'POST',
      url: '/webhooks/postmark',
      headers: { ...json, authorization: basicAuth(POSTMARK.username, POSTMARK.password) },
      payload: JSON.stringify({ ...fixture('postmark/delivery.json'), DeliveredAt: '+275760-09-13T00:00:00Z' }),
    });
    assert.equal(pm.statusCode, 400);
    const bounce = fixture('ses/bounce-permanent-two-recipients.json');
    const message = JSON.parse(bounce['Message'] as string) as Obj;
    const msg = s.sns.sign({
      ...bounce,
      MessageId: 'far-future',
      Message: JSON.stringify({
        ...message,
        bounce: { ...(message['bounce'] as Obj), timestamp: '+100000-01-01T00:00:00Z' },
      }),
    });
    const ses = await s.app.inject({
      method: 'POST',
      url: '/webhooks/ses',
      payload: JSON.stringify(msg),
      headers: s.sns.headers(msg),
    });
    assert.equal(ses.statusCode, 400);
    assert.equal(ses.json().error, 'WEBHOOK_PAYLOAD_INVALID');
  });
});
