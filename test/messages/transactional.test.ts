/**
 * Transactional sends through the admin API, in-process on PGlite with the sandbox ESP: a message
 * goes out once through the send stage (ledger, governor, suppression), a repeated idempotency key
 * returns the first result and sends nothing, a reused key with another body is refused, and only
 * the configured categories pass an unsubscribe (never a complaint or a hard bounce).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { addSuppressions } from '../../src/compliance/suppression.ts';
import { loadConfig } from '../../src/config.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders, type AuthHeaders } from '../support/api-keys.ts';
import { drain } from '../support/pipeline.ts';
import { capturedSandbox } from '../support/captured-sandbox.ts';

const config = loadConfig({
  SWITCHYARD_TRACKING_SECRET: 'test-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
  SWITCHYARD_MESSAGES_PASS_SUPPRESSION: 'receipt',
  SWITCHYARD_MESSAGES_POSTAL_ADDRESS: '1 Main St, Springfield',
});

function aMessage(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    idempotencyKey: `key-${Math.random()}`,
    category: 'receipt',
    to: { email: 'buyer@inbox.example.test', contactId: 'c-1' },
    from: { address: 'shop@mail.example.com', name: 'Shop' },
    subject: 'Your order {{ contact.order }}',
    template: { text: 'Thanks for order {{ contact.order }}.' },
    data: { order: 'A-17' },
    ...over,
  };
}

describe('POST /v1/messages', () => {
  let db: Db;
  let app: App;
  const sandbox = capturedSandbox();
  let admin: AuthHeaders;
  const clock = createManualClock(new Date('2026-03-01T10:00:00Z'));
  const post = (body: unknown, headers: AuthHeaders = admin) =>
    app.adminServer.inject({ method: 'POST', url: '/v1/messages', payload: body as object, headers });
  const sentTo = (email: string) => sandbox.esp.outbox().filter((r) => r.to.includes(email)).length;

  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    app = await createApp(config, {
      db,
      clock,
      log: pino({ level: 'silent' }),
      esp: sandbox.factory,
    });
    admin = await authHeaders(app);
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('queues one message on the transactional lane, renders the data, and sends it once', async () => {
    const body = aMessage({ idempotencyKey: 'order-A-17', to: { email: 'once@inbox.example.test', contactId: 'c-1' } });
    const first = await post(body);
    assert.equal(first.statusCode, 202);
    const queued = first.json();
    assert.equal(queued.status, 'queued');
    assert.equal(queued.duplicate, false);
    const { rows } = await db.query<{ topic: string }>(`select topic from bus_messages where payload like $1`, [
      `%${queued.id}%`,
    ]);
    assert.deepEqual(
      rows.map((r) => r.topic),
      ['blast.ready.transactional'],
    );
    await drain(app, { only: ['send'] });
    assert.equal(sentTo('once@inbox.example.test'), 1);
    const record = sandbox.esp.outbox().find((r) => r.to.includes('once@inbox.example.test'))!;
    assert.equal(record.subject, 'Your order A-17');
    const got = await app.adminServer.inject({ method: 'GET', url: `/v1/messages/${queued.id}`, headers: admin });
    assert.equal(got.json().status, 'sent');

    // the same key again: the first result, nothing queued, nothing sent
    const again = await post(body);
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().id, queued.id);
    assert.equal(again.json().duplicate, true);
    assert.equal(again.json().status, 'sent');
    await drain(app, { only: ['send'] });
    assert.equal(sentTo('once@inbox.example.test'), 1);

    // the same key with another message is refused, not silently answered with the old one
    const reused = await post({ ...body, subject: 'Something else' });
    assert.equal(reused.statusCode, 409);
    assert.equal(reused.json().error, 'MESSAGE_IDEMPOTENCY_CONFLICT');
  });

  it('concurrent requests with one key queue one message', async () => {
    const body = aMessage({ idempotencyKey: 'race-1', to: { email: 'race@inbox.example.test', contactId: 'c-r' } });
    const answers = await Promise.all([post(body), post(body), post(body)]);
    assert.deepEqual(answers.map((a) => a.statusCode).sort(), [200, 200, 202]);
    await drain(app, { only: ['send'] });
    assert.equal(sentTo('race@inbox.example.test'), 1);
  });

  it('an unsubscribed address gets receipts but not other categories; a complaint stops both', async () => {
    const at = clock.now();
    await addSuppressions(
      db,
      [
        { email: 'unsub@inbox.example.test', reason: 'unsubscribed', source: 'test' },
        { email: 'complained@inbox.example.test', reason: 'complained', source: 'test' },
      ],
      at,
    );
    const ids: Record<string, string> = {};
    for (const [email, category] of [
      ['unsub@inbox.example.test', 'receipt'],
      ['unsub@inbox.example.test', 'newsletter-confirmation'],
      ['complained@inbox.example.test', 'receipt'],
    ] as const) {
      const res = await post(aMessage({ idempotencyKey: `${email}:${category}`, category, to: { email } }));
      assert.equal(res.statusCode, 202, res.body);
      ids[`${email}:${category}`] = res.json().id;
    }
    await drain(app, { only: ['send'] });
    const status = async (k: string) =>
      (await app.adminServer.inject({ method: 'GET', url: `/v1/messages/${ids[k]}`, headers: admin })).json();
    assert.equal((await status('unsub@inbox.example.test:receipt')).status, 'sent');
    const blocked = await status('unsub@inbox.example.test:newsletter-confirmation');
    assert.equal(blocked.status, 'suppressed');
    assert.match(blocked.reason, /unsubscribed/);
    assert.equal((await status('complained@inbox.example.test:receipt')).status, 'suppressed');
    assert.equal(sentTo('unsub@inbox.example.test'), 1);
    assert.equal(sentTo('complained@inbox.example.test'), 0);
  });

  it('bad input is a 400 naming every problem; the analyst role may not send', async () => {
    const bad = await post(aMessage({ to: { email: 'no-at-sign' }, template: {} }));
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error, 'MESSAGE_INVALID');
    assert.match(bad.json().message, /to\.email/);
    assert.match(bad.json().message, /template: needs html or text/);
    const schema = await post({ idempotencyKey: 'x' });
    assert.equal(schema.statusCode, 400);
    const analyst = await authHeaders(app, 'analyst');
    assert.equal((await post(aMessage(), analyst)).statusCode, 403);
    const missing = await app.adminServer.inject({
      method: 'GET',
      url: '/v1/messages/msg_000000000000000000000000',
      headers: admin,
    });
    assert.equal(missing.statusCode, 404);
  });
});
