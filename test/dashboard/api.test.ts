/**
 * The dashboard's API on the admin listener, without a browser: login trades a key for an
 * HttpOnly SameSite=Strict session cookie; the cookie acts as the key (its role, its audit name)
 * until logout, expiry or the key's revocation; state changes with the cookie need the session's
 * CSRF token; the browser guards still apply; the System endpoint answers from the sampled
 * history (throughput and latency from real handled messages); the funnel, preview and event
 * stream answer for a real demo campaign.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createDashboardSessions, SESSION_TTL_MS } from '../../src/api/dashboard/sessions.ts';
import { createConsumer } from '../../src/bus/consumer.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

const log = pino({ level: 'silent' });

describe('dashboard API', () => {
  let db: Db;
  let app: App;
  let admin: FastifyInstance;
  const clock = createManualClock(new Date('2026-12-06T10:00:00Z'));

  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(
      loadConfig({
        SWITCHYARD_TRACKING_SECRET: 's',
        SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN: '0',
        SWITCHYARD_DEMO_SIZE: '20',
      }),
      { db, clock, log },
    );
    admin = app.adminServer;
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  async function login(role: 'admin' | 'analyst' | 'marketer' = 'admin', name = `dash-${role}`) {
    const { key, info } = await app.keys.create({ name, role }, { by: 'test' });
    const res = await admin.inject({ method: 'POST', url: '/session', payload: { key } });
    assert.equal(res.statusCode, 200, res.body);
    const setCookie = String(res.headers['set-cookie']);
    const cookie = setCookie.split(';')[0]!;
    const { csrfToken } = res.json() as { csrfToken: string };
    return { key, keyId: info.id, setCookie, cookie, csrfToken };
  }
  const lastAudit = async () =>
    (
      await db.query<{ actor_name: string; action: string; outcome: number; target: Record<string, string> }>(
        'select actor_name, action, outcome, target from audit_log order by id desc limit 1',
      )
    ).rows[0]!;

  it('login sets an HttpOnly SameSite=Strict cookie and is audited as the key; a bad key gets no cookie', async () => {
    const bad = await admin.inject({ method: 'POST', url: '/session', payload: { key: 'sy_nothing_here' } });
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.headers['set-cookie'], undefined);
    const s = await login('admin', 'alice');
    assert.match(s.setCookie, /^sy_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    assert.ok(s.csrfToken.length >= 40);
    const row = await lastAudit();
    assert.equal(row.action, 'POST /session');
    assert.equal(row.actor_name, 'alice');
    const me = await admin.inject({ method: 'GET', url: '/session', headers: { cookie: s.cookie } });
    const body = me.json() as { name: string; role: string; csrfToken: string; scopes: string[] };
    assert.deepEqual([body.name, body.role, body.csrfToken], ['alice', 'admin', s.csrfToken]);
    assert.ok(body.scopes.includes('dead-letters:write'));
  });

  it('a cookie reads like its key; changes need the CSRF token, and are audited as the key via dashboard', async () => {
    const s = await login('admin', 'bob');
    const read = await admin.inject({ method: 'GET', url: '/v1/campaigns', headers: { cookie: s.cookie } });
    assert.equal(read.statusCode, 200);
    for (const token of [undefined, 'wrong', `${s.csrfToken}x`]) {
      const res = await admin.inject({
        method: 'POST',
        url: '/v1/dead-letters/retry',
        headers: { cookie: s.cookie, ...(token === undefined ? {} : { 'x-csrf-token': token }) },
        payload: { ids: [1] },
      });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().error, 'CSRF_TOKEN_INVALID');
      const row = await lastAudit();
      assert.equal(row.outcome, 403);
      assert.equal(row.actor_name, 'bob');
      assert.equal(row.target.via, 'dashboard');
    }
    const ok = await admin.inject({
      method: 'POST',
      url: '/v1/dead-letters/retry',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
      payload: { ids: [1] },
    });
    assert.equal(ok.statusCode, 200);
    // another session's token does not fit this one
    const other = await login('admin', 'carol');
    const crossed = await admin.inject({
      method: 'POST',
      url: '/v1/dead-letters/retry',
      headers: { cookie: s.cookie, 'x-csrf-token': other.csrfToken },
      payload: { ids: [1] },
    });
    assert.equal(crossed.statusCode, 403);
  });

  it('the role still decides: an analyst session reads the System page but cannot retry dead letters', async () => {
    const s = await login('analyst');
    const sys = await admin.inject({ method: 'GET', url: '/v1/dashboard/system', headers: { cookie: s.cookie } });
    assert.equal(sys.statusCode, 200);
    const retry = await admin.inject({
      method: 'POST',
      url: '/v1/dead-letters/retry',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
      payload: { ids: [1] },
    });
    assert.equal(retry.statusCode, 403);
    assert.equal(retry.json().error, 'FORBIDDEN');
  });

  it('a session ends with logout, with its key revoked, and at expiry', async () => {
    const get = (cookie: string) => admin.inject({ method: 'GET', url: '/v1/campaigns', headers: { cookie } });
    const a = await login();
    const out = await admin.inject({
      method: 'DELETE',
      url: '/session',
      headers: { cookie: a.cookie, 'x-csrf-token': a.csrfToken },
      payload: {},
    });
    assert.equal(out.statusCode, 200);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    assert.equal((await get(a.cookie)).statusCode, 401);

    const b = await login();
    assert.equal((await get(b.cookie)).statusCode, 200);
    await app.keys.revoke(b.keyId, { by: 'test' });
    assert.equal((await get(b.cookie)).statusCode, 401);

    assert.equal((await get('sy_session=not-a-token')).statusCode, 401);
    // expiry on a clock of its own: moving the app's clock by 12 h would run every loop's sleeps
    const own = createManualClock(clock.now());
    const sessions = createDashboardSessions({ db, clock: own });
    const { keyId } = await login();
    const c = await sessions.create(keyId);
    await own.advance(SESSION_TTL_MS - 1);
    assert.ok(await sessions.authenticate(c.token));
    await own.advance(1);
    assert.equal(await sessions.authenticate(c.token), null);
  });

  it('the browser guards apply to login: a foreign origin and a form post are refused', async () => {
    const { key } = await app.keys.create({ name: 'x', role: 'admin' }, { by: 'test' });
    const foreign = await admin.inject({
      method: 'POST',
      url: '/session',
      headers: { origin: 'http://evil.example' },
      payload: { key },
    });
    assert.equal(foreign.statusCode, 403);
    assert.equal(foreign.json().error, 'ORIGIN_NOT_ALLOWED');
    const form = await admin.inject({
      method: 'POST',
      url: '/session',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `key=${key}`,
    });
    assert.equal(form.statusCode, 415);
  });

  it('System: depth, throughput and handler latency from real handled messages, sampled on the clock', async () => {
    const s = await login();
    const consumer = createConsumer(
      { bus: app.bus, clock, log, metrics: app.metrics.consumer },
      { topic: 'test.system', group: 'test-system', maxAttempts: 1 },
      async () => undefined,
    );
    await consumer.runOnce();
    await app.metricsHistory.sampleOnce();
    await app.bus.publish(
      'test.system',
      Array.from({ length: 30 }, (_, i) => ({ id: `m${i}`, payload: { i } })),
    );
    await clock.advance(2000);
    await app.metricsHistory.sampleOnce();
    await consumer.runOnce();
    await clock.advance(2000);
    await app.metricsHistory.sampleOnce();
    const res = await admin.inject({ method: 'GET', url: '/v1/dashboard/system', headers: { cookie: s.cookie } });
    assert.equal(res.statusCode, 200);
    const body = res.json() as {
      at: number[];
      groups: { group: string; depth: number[]; throughput: number[]; p50Ms: (number | null)[] }[];
      health: { store: { status: string }; bus: { status: string } };
      esp: { name: string };
    };
    const g = body.groups.find((x) => x.group === 'test-system')!;
    assert.equal(body.at.length, 2);
    assert.deepEqual(g.depth, [30, 0]);
    assert.deepEqual(g.throughput, [0, 15]);
    assert.equal(g.p50Ms[0], null);
    assert.ok(typeof g.p50Ms[1] === 'number');
    assert.equal(body.health.store.status, 'ok');
    assert.equal(body.health.bus.status, 'ok');
    assert.equal(body.esp.name, 'sandbox');
  });

  it('funnel, preview and events answer for a demo campaign; the template is the demo definition', async () => {
    const s = await login('marketer');
    const headers = { cookie: s.cookie, 'x-csrf-token': s.csrfToken };
    const tpl = await admin.inject({ method: 'GET', url: '/v1/dashboard/campaign-template', headers });
    assert.equal(tpl.json().definition.name, demoCampaign().name);
    const c = await app.campaigns.create(demoCampaign());
    const preview = await admin.inject({
      method: 'POST',
      url: `/v1/dashboard/campaigns/${c.id}/preview`,
      headers,
      payload: {},
    });
    assert.equal(preview.statusCode, 200, preview.body);
    const p = preview.json() as { audienceCount: number; sample: { contactId: string; message: { subject: string } } };
    assert.equal(p.audienceCount, 20);
    assert.match(p.sample.message.subject, /What is new this autumn/);
    // the ledger's reason column holds exclusions and bounce reasons alike; the funnel's
    // "excluded" rows are the exclusions only
    const now = app.clock.now();
    for (const [contact, state, reason] of [
      ['x1', 'suppressed', 'unsubscribed'],
      ['x2', 'suppressed', 'unsubscribed'],
      ['x3', 'capped', 'frequency_cap'],
      ['x4', 'bounced', 'userunknown'],
    ]) {
      await app.db.query(
        `insert into send_ledger (campaign_id, contact_id, email, state, reason, chunk, updated_at)
         values ($1, $2, $3, $4, $5, 0, $6)`,
        [c.id, contact, `${contact}@example.com`, state, reason, now],
      );
    }
    const funnel = await admin.inject({ method: 'GET', url: `/v1/dashboard/campaigns/${c.id}/funnel`, headers });
    assert.equal(funnel.statusCode, 200);
    assert.equal(funnel.json().status.campaign.id, c.id);
    assert.deepEqual(funnel.json().excluded, [
      { state: 'suppressed', reason: 'unsubscribed', count: 2 },
      { state: 'capped', reason: 'frequency_cap', count: 1 },
    ]);
    // a list audience: the preview counts its members now
    await app.profiles.applyChanges(
      ['a', 'b', 'c'].map((n, i) => ({
        changeId: `pv-${n}`,
        source: 'intake',
        contactId: `pv-${n}`,
        email: `${n}@example.com`,
        attributes: { tier: i < 2 ? 'gold' : 'free' },
        at: now.toISOString(),
      })),
    );
    await app.lists.create({
      id: 'gold',
      name: 'Gold',
      kind: 'dynamic',
      definition: { attribute: 'tier', equals: 'gold' },
    });
    await app.lists.rebuild('gold');
    const fromList = await app.campaigns.create({ ...demoCampaign(), audience: { source: 'list', list: 'gold' } });
    const listPreview = await admin.inject({
      method: 'POST',
      url: `/v1/dashboard/campaigns/${fromList.id}/preview`,
      headers,
      payload: {},
    });
    assert.equal(listPreview.statusCode, 200, listPreview.body);
    assert.equal(listPreview.json().audienceCount, 2);
    assert.ok(['pv-a', 'pv-b'].includes(listPreview.json().sample.contactId), 'the sample is a member');
    // a preview never freezes the audience: only the campaign's start does
    const frozen = await app.db.query(`select 1 from campaign_list_frozen where campaign_id = $1`, [fromList.id]);
    assert.equal(frozen.rows.length, 0);
    const events = await admin.inject({ method: 'GET', url: '/v1/dashboard/events?type=opened', headers });
    assert.equal(events.statusCode, 200);
    assert.deepEqual(events.json(), { events: [] });
    const analyst = await login('analyst');
    const refused = await admin.inject({
      method: 'POST',
      url: `/v1/dashboard/campaigns/${c.id}/preview`,
      headers: { cookie: analyst.cookie, 'x-csrf-token': analyst.csrfToken },
      payload: {},
    });
    assert.equal(refused.statusCode, 403, 'preview is campaigns:write');
  });
});
