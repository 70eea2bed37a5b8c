/**
 * A journey with waits, branches and a goal, run on the manual clock, in-process on PGlite with
 * the sandbox ESP: every step table row moves the clock, runs the dispatcher once and drains the
 * stages, then checks who got which email. Shows: emails go through the send stage (ledger,
 * suppression), an engagement branch follows a real open, a condition branch follows attributes,
 * `waitUntil` lands on the contact's local time, a click on a goal tag takes a contact out early,
 * a signed webhook reaches its receiver once per (run, step), re-entry is refused, a new version
 * leaves runs in flight on theirs, and the run history explains each email.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { streamIdOf } from '../../src/journeys/dispatcher.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders, type AuthHeaders } from '../support/api-keys.ts';
import { drain } from '../support/pipeline.ts';
import { capturedSandbox } from '../support/captured-sandbox.ts';

const HOUR = 3_600_000;
const SECRET = 'journey-webhook-secret';

function nurture(webhookUrl: string) {
  return {
    name: 'Nurture',
    trigger: { type: 'manual' },
    goals: [{ id: 'saw-pricing', event: 'clicked', tag: 'path:pricing' }],
    from: { address: 'hello@mail.example.com', name: 'Example' },
    postalAddress: '1 Main St, Springfield',
    timezone: 'UTC',
    start: 'welcome',
    steps: [
      {
        id: 'welcome',
        type: 'email',
        subject: 'Welcome, {{ contact.first_name }}',
        template: { html: '<p>Hi</p><a href="https://example.com/pricing">Pricing</a>' },
        next: 'wait-2d',
      },
      { id: 'wait-2d', type: 'wait', duration: { days: 2 }, next: 'opened-welcome' },
      { id: 'opened-welcome', type: 'branchEngagement', step: 'welcome', on: 'opened', yes: 'morning', no: 'nudge' },
      { id: 'nudge', type: 'email', subject: 'Did you see this?', template: { text: 'Reminder' }, next: 'morning' },
      { id: 'morning', type: 'waitUntil', time: '09:00', next: 'is-pro' },
      {
        id: 'is-pro',
        type: 'branch',
        condition: { attribute: 'plan', equals: 'pro' },
        yes: 'tell-sales',
        no: 'done',
      },
      { id: 'tell-sales', type: 'webhook', url: webhookUrl, next: 'done' },
      { id: 'done', type: 'exit' },
    ],
  };
}

describe('journey scenario on the manual clock', () => {
  let db: Db;
  let app: App;
  const sandbox = capturedSandbox();
  let admin: AuthHeaders;
  let hooks: Server;
  const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));

  before(async () => {
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    db = await createPgliteDb({});
    await migrate(db);
    app = await createApp(
      loadConfig({
        SWITCHYARD_TRACKING_SECRET: 'test-secret',
        SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
        SWITCHYARD_JOURNEY_WEBHOOK_SECRET: SECRET,
      }),
      {
        db,
        clock,
        log: pino({ level: 'silent' }),
        esp: sandbox.factory,
      },
    );
    admin = await authHeaders(app);
  });
  after(async () => {
    await app.close();
    await db.close();
    await new Promise<void>((r) => hooks.close(() => r()));
  });

  const subjectsOf = (email: string) =>
    sandbox.esp
      .outbox()
      .filter((r) => r.to.includes(email))
      .map((r) => r.subject);
  async function tick(ms: number): Promise<void> {
    await clock.advance(ms);
    while ((await app.journeyDispatcher.runOnce()) > 0);
    await drain(app, { only: ['send', 'clicks', 'journeys', 'outbox'] });
  }

  it('waits, branches on an open and an attribute, stops at the goal, and explains every email', async () => {
    const url = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
    const saved = await app.adminServer.inject({
      method: 'PUT',
      url: '/v1/journeys/nurture',
      headers: admin,
      payload: nurture(url),
    });
    assert.equal(saved.statusCode, 201, saved.body);
    const contacts = [
      // opens the welcome mail: no nudge; pro: the webhook
      {
        id: 'opener',
        email: 'opener@inbox.example.test',
        attributes: { country: 'US', plan: 'pro', first_name: 'Ada' },
      },
      // never opens: the nudge; free plan: no webhook
      {
        id: 'silent',
        email: 'silent@inbox.example.test',
        attributes: { country: 'US', plan: 'free', first_name: 'Bo' },
      },
      // clicks the pricing link during the wait: the goal ends its run
      {
        id: 'clicker',
        email: 'clicker@inbox.example.test',
        attributes: { country: 'US', plan: 'pro', first_name: 'Cy' },
      },
      // lives in Tokyo: its 09:00 is 00:00 UTC
      {
        id: 'tokyo',
        email: 'tokyo@inbox.example.test',
        timezone: 'Asia/Tokyo',
        attributes: { country: 'US', plan: 'pro', first_name: 'Di' },
      },
    ];
    const entered = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/journeys/nurture/entries',
      headers: admin,
      payload: { key: 'batch-1', contacts },
    });
    assert.deepEqual(entered.json().entered.sort(), ['clicker', 'opener', 'silent', 'tokyo']);

    await tick(0);
    for (const c of contacts) assert.deepEqual(subjectsOf(c.email), [`Welcome, ${c.attributes.first_name}`], c.id);

    // re-entry is refused (default rule: never), and the same request again enters nobody
    const again = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/journeys/nurture/entries',
      headers: admin,
      payload: { key: 'batch-2', contacts: [contacts[0]] },
    });
    assert.deepEqual(again.json().entered, []);

    // the opener opens, the clicker clicks pricing (a human click → link.clicked → goal)
    const welcome = streamIdOf('nurture', 1, 'welcome', 1);
    await app.ingest([
      {
        type: 'opened',
        sourceId: 'test:open-1',
        provider: 'tracking',
        occurredAt: clock.now(),
        campaignId: welcome,
        contactId: 'opener',
        raw: {},
      },
      {
        type: 'clicked',
        sourceId: 'test:click-1',
        provider: 'tracking',
        occurredAt: clock.now(),
        campaignId: welcome,
        contactId: 'clicker',
        url: 'https://example.com/pricing',
        raw: {},
      },
    ]);
    await tick(HOUR);
    const clicker = await app.adminServer.inject({
      method: 'GET',
      url: '/v1/contacts/clicker/journeys',
      headers: admin,
    });
    assert.equal(clicker.json().runs[0].status, 'goal');
    assert.equal(clicker.json().runs[0].endReason, 'goal saw-pricing');

    // a new version while runs wait: they stay on version 1
    const v2 = await app.adminServer.inject({
      method: 'PUT',
      url: '/v1/journeys/nurture',
      headers: admin,
      payload: { ...nurture(url), name: 'Nurture v2' },
    });
    assert.equal(v2.json().version, 2);

    // nothing moves before the two days are up
    await tick(47 * HOUR - HOUR);
    assert.equal(subjectsOf('silent@inbox.example.test').length, 1);
    // 2026-03-04 10:00Z: the engagement branch; the silent one gets the nudge
    await tick(HOUR);
    assert.deepEqual(subjectsOf('silent@inbox.example.test'), ['Welcome, Bo', 'Did you see this?']);
    assert.deepEqual(subjectsOf('opener@inbox.example.test'), ['Welcome, Ada']);
    assert.deepEqual(subjectsOf('clicker@inbox.example.test'), ['Welcome, Cy']);
    assert.equal(received.length, 0);

    // Tokyo's 09:00 (00:00Z on the 5th) comes first: its webhook; the UTC contacts wait until 09:00Z
    await tick(14 * HOUR);
    assert.equal(received.length, 1);
    assert.equal(JSON.parse(received[0]!.body).contactId, 'tokyo');
    await tick(8 * HOUR);
    assert.equal(received.length, 1, 'not yet 09:00 UTC');
    await tick(HOUR);
    // the opener is pro (webhook); the silent one is free (none)
    assert.deepEqual(
      received.map((r) => JSON.parse(r.body).contactId),
      ['tokyo', 'opener'],
    );
    for (const r of received) {
      const sig = String(r.headers['x-switchyard-signature']);
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig)!;
      assert.equal(v1, createHmac('sha256', SECRET).update(`${t}.${r.body}`).digest('hex'));
      assert.match(String(r.headers['idempotency-key']), /^nurture:(tokyo|opener):1:tell-sales$/);
    }
    await tick(24 * HOUR);
    assert.equal(received.length, 2);

    const view = (await app.adminServer.inject({ method: 'GET', url: '/v1/journeys/nurture', headers: admin })).json();
    assert.equal(view.currentVersion, 2);
    assert.deepEqual(
      view.runs.map((r: { version: number; status: string; n: number }) => [r.version, r.status, r.n]),
      [
        [1, 'exited', 3],
        [1, 'goal', 1],
      ],
    );

    // why did the silent contact get the nudge?
    const why = (
      await app.adminServer.inject({ method: 'GET', url: '/v1/contacts/silent/journeys', headers: admin })
    ).json();
    const steps = why.runs[0].steps;
    assert.deepEqual(
      steps.map((s: { stepId: string }) => s.stepId),
      ['welcome', 'wait-2d', 'opened-welcome', 'nudge', 'morning', 'is-pro', 'done'],
    );
    assert.equal(steps[2].outcome, 'welcome not opened: no');
    assert.equal(steps[3].email.state, 'sent');
    assert.equal(why.runs[0].trigger.type, 'api');
  });

  it('a profile change entering a dynamic list starts the journey; its list step adds to a static list', async () => {
    await app.lists.create(
      { id: 'west', name: 'West', kind: 'dynamic', definition: { attribute: 'region', equals: 'west' } },
      { build: false },
    );
    await app.lists.create({ id: 'welcomed', name: 'Welcomed', kind: 'static' });
    const saved = await app.journeys.save('westerners', {
      name: 'Westerners',
      trigger: { type: 'list', list: 'west' },
      from: { address: 'hello@mail.example.com' },
      postalAddress: '1 Main St, Springfield',
      start: 'hello',
      steps: [
        { id: 'hello', type: 'email', subject: 'Hello from the west', template: { text: 'Hi' }, next: 'mark' },
        { id: 'mark', type: 'addToList', list: 'welcomed', next: 'check' },
        { id: 'check', type: 'branch', condition: { inList: 'welcomed' }, yes: 'done' },
        { id: 'done', type: 'exit' },
      ],
    });
    assert.equal(saved.version, 1);
    await app.profiles.applyChanges([
      {
        changeId: 'move-1',
        source: 'test',
        contactId: 'mover',
        email: 'mover@inbox.example.test',
        attributes: { region: 'west', country: 'US' },
        at: clock.now().toISOString(),
      },
    ]);
    await drain(app, { only: ['journeys', 'outbox'] });
    await tick(0);
    assert.deepEqual(subjectsOf('mover@inbox.example.test'), ['Hello from the west']);
    assert.equal(await app.lists.isMember('welcomed', 'mover'), true);
    const why = (
      await app.adminServer.inject({ method: 'GET', url: '/v1/contacts/mover/journeys', headers: admin })
    ).json();
    assert.equal(why.runs[0].trigger.type, 'list');
    assert.equal(why.runs[0].status, 'exited');
    assert.deepEqual(
      why.runs[0].steps.map((x: { stepId: string; outcome: string }) => `${x.stepId}: ${x.outcome}`),
      ['hello: email queued', 'mark: addToList welcomed', 'check: condition held: yes', 'done: exit'],
    );
  });

  it('an invalid definition is refused with every problem by path', async () => {
    const res = await app.adminServer.inject({
      method: 'PUT',
      url: '/v1/journeys/broken',
      headers: admin,
      payload: {
        name: 'Broken',
        trigger: { type: 'list' },
        from: { address: 'x@mail.example.com' },
        postalAddress: 'Somewhere',
        start: 'a',
        steps: [
          { id: 'a', type: 'wait', duration: { days: 1 }, next: 'b' },
          { id: 'b', type: 'branch', condition: { attribute: 'plan', range: {} }, yes: 'a' },
          { id: 'c', type: 'email', subject: 'x', template: {}, next: 'nowhere' },
        ],
      },
    });
    assert.equal(res.statusCode, 400);
    const paths = res.json().details?.problems?.map((p: { path: string }) => p.path) ?? res.json().message;
    const text = JSON.stringify(paths);
    for (const p of ['$.trigger.list', '$.steps[1].condition.range', '$.steps[2].template', '$.steps[2].next'])
      assert.ok(text.includes(p), `${p} in ${text}`);
  });
});
