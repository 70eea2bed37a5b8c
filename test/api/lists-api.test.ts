/**
 * Lists and changes over HTTP on the real app (PGlite, manual clock): the signed change endpoint
 * accepts a good request and applies it (a profile created, a list entered), and refuses an
 * unsigned, badly signed, stale or malformed one (401 / 400 with a code, kept as a dead letter);
 * the list routes need lists scopes (analyst reads, cannot write), refuse an invalid definition
 * with every problem by path, and preview counts and samples.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { signChange } from '../../src/core/change-intake.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { type AuthHeaders, authHeaders } from '../support/api-keys.ts';

const SECRET = 'change-secret';

describe('lists and changes API', () => {
  let db: Db;
  let app: App;
  let admin: FastifyInstance;
  let pub: FastifyInstance;
  let marketer: AuthHeaders;
  let analyst: AuthHeaders;
  const clock = createManualClock(new Date('2026-12-06T10:00:00Z'));

  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(
      loadConfig({
        SWITCHYARD_DEMO: 'false',
        SWITCHYARD_TRACKING_SECRET: 's',
        SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN: '0',
        SWITCHYARD_CHANGES_SECRET: `${SECRET},older-secret`,
      }),
      { db, clock, log: pino({ level: 'silent' }) },
    );
    admin = app.adminServer;
    pub = app.publicServer;
    marketer = await authHeaders(app, 'marketer');
    analyst = await authHeaders(app, 'analyst');
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  const send = (body: string, headers: Record<string, string>) =>
    pub.inject({
      method: 'POST',
      url: '/v1/changes',
      payload: body,
      headers: { 'content-type': 'application/json', ...headers },
    });
  const signed = (body: string, secret = SECRET, ts = String(Math.floor(clock.now().getTime() / 1000))) => ({
    'x-switchyard-timestamp': ts,
    'x-switchyard-signature': signChange(secret, ts, body),
  });

  it('creates a dynamic list, previews it, and takes contacts in from signed changes', async () => {
    const created = await admin.inject({
      method: 'POST',
      url: '/v1/lists',
      headers: marketer,
      payload: { id: 'vip', name: 'VIP', kind: 'dynamic', definition: { attribute: 'tier', in: ['gold', 'platinum'] } },
    });
    assert.equal(created.statusCode, 201, created.body);
    const refused = await admin.inject({
      method: 'POST',
      url: '/v1/lists',
      headers: analyst,
      payload: { name: 'x', kind: 'static' },
    });
    assert.equal(refused.statusCode, 403);

    const body = JSON.stringify({
      changes: [
        {
          changeId: 'e1',
          email: 'Ann@Example.com',
          attributes: { tier: 'gold', unknown_field: [1, 2] },
          at: '2026-12-06T09:59:00Z',
        },
        {
          changeId: 'e2',
          warehouseId: 'w-2',
          email: 'bob@example.com',
          attributes: { tier: 'bronze' },
          at: '2026-12-06T09:59:00Z',
        },
      ],
    });
    const ok = await send(body, signed(body));
    assert.equal(ok.statusCode, 200, ok.body);
    const [ann, bob] = (ok.json() as { contactIds: string[] }).contactIds;
    assert.equal(bob, 'w-2');
    // a rotated-out secret still listed verifies too
    const body2 = JSON.stringify({
      changes: [{ changeId: 'e3', contactId: 'w-2', attributes: { tier: 'platinum' }, at: '2026-12-06T09:59:30Z' }],
    });
    assert.equal((await send(body2, signed(body2, 'older-secret'))).statusCode, 200);

    const list = await admin.inject({ method: 'GET', url: '/v1/lists/vip', headers: analyst });
    assert.equal((list.json() as { members: number }).members, 2);
    const profile = await admin.inject({ method: 'GET', url: `/v1/profiles/${ann}`, headers: analyst });
    const p = profile.json() as { attributes: Record<string, unknown>; lists: string[]; history: unknown[] };
    assert.deepEqual(p.attributes.unknown_field, [1, 2], 'unknown fields are kept');
    assert.deepEqual(p.lists, ['vip']);
    assert.equal(p.history.length, 1);

    const preview = await admin.inject({
      method: 'POST',
      url: '/v1/lists/preview',
      headers: marketer,
      payload: { definition: { attribute: 'tier', equals: 'platinum' } },
    });
    assert.deepEqual(preview.json(), { count: 1, sample: [{ contactId: 'w-2', email: 'bob@example.com' }] });

    const bad = await admin.inject({
      method: 'POST',
      url: '/v1/lists',
      headers: marketer,
      payload: {
        name: 'bad',
        kind: 'dynamic',
        definition: {
          or: [
            { attribute: 'a', range: {} },
            { inList: 'vip', x: 1 },
          ],
        },
      },
    });
    assert.equal(bad.statusCode, 400);
    const problems = (bad.json() as { details?: { problems: { path: string }[] } }).details?.problems;
    assert.equal(bad.json().error, 'SEGMENT_INVALID');
    assert.deepEqual(
      problems?.map((x) => x.path),
      ['$.or[0].range', '$.or[1].x'],
    );
  });

  it('refuses unsigned, badly signed, stale and malformed changes, keeping each as a dead letter', async () => {
    const body = JSON.stringify({
      changes: [{ changeId: 'z', contactId: 'c', attributes: {}, at: '2026-12-06T09:00:00Z' }],
    });
    const before = await db.query<{ n: number }>(`select count(*)::int as n from dead_letters where stage = 'changes'`);
    const unsigned = await send(body, {});
    const wrong = await send(body, signed(body, 'not-the-secret'));
    const stale = await send(body, signed(body, SECRET, String(Math.floor(clock.now().getTime() / 1000) - 301)));
    const tampered = await send(`${body} `, signed(body));
    const bad = JSON.stringify({ changes: [{ changeId: '', attributes: [], at: 'yesterday' }] });
    const malformed = await send(bad, signed(bad));
    const notJson = await send('{', signed('{'));
    assert.deepEqual(
      [unsigned, wrong, stale, tampered, malformed, notJson].map((r) => [r.statusCode, r.json().error]),
      [
        [401, 'CHANGE_SIGNATURE_INVALID'],
        [401, 'CHANGE_SIGNATURE_INVALID'],
        [401, 'CHANGE_STALE'],
        [401, 'CHANGE_SIGNATURE_INVALID'],
        [400, 'CHANGE_INVALID'],
        [400, 'CHANGE_INVALID'],
      ],
    );
    const paths = (malformed.json() as { problems: { path: string }[] }).problems.map((x) => x.path);
    assert.deepEqual(paths, ['$.changes[0].changeId', '$.changes[0]', '$.changes[0].attributes', '$.changes[0].at']);
    const afterCount = await db.query<{ n: number }>(
      `select count(*)::int as n from dead_letters where stage = 'changes'`,
    );
    assert.equal(Number(afterCount.rows[0]?.n) - Number(before.rows[0]?.n), 6);
  });
});
