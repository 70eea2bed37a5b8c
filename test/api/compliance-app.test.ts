/**
 * The compliance road through the real app (PGlite): the public double opt-in sign-up and its
 * confirmation page, DSR intake on the admin API (keys and scopes enforced, signed receipt,
 * duplicates joining), and `GET /v1/consent/verify` naming a tampered record.
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
import { signLink } from '../../src/core/dsr/signed-link.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders } from '../support/api-keys.ts';

const SECRET = 'compliance-test-secret';

describe('compliance road through the app', () => {
  let db: Db;
  let app: App;
  const clock = createManualClock(new Date('2026-03-02T09:00:00Z'));
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(
      loadConfig({
        SWITCHYARD_DEMO: 'false',
        SWITCHYARD_COMPLIANCE_SECRET: SECRET,
        SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'sy-compliance-')),
      }),
      { db, clock, log: pino({ level: 'silent' }) },
    );
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('double opt-in: sign-up records a grant, the confirmation page POST subscribes', async () => {
    const res = await app.publicServer.inject({
      method: 'POST',
      url: '/consent/signup',
      headers: { 'content-type': 'application/json', 'user-agent': 'test-browser', 'sec-gpc': '1' },
      payload: { email: 'Reader@Example.com', topic: 'weekly-news', wording_id: 'signup-v3', wording_version: '3' },
    });
    assert.equal(res.statusCode, 202, res.body);
    const doi = await db.query<{ token_id: string; expires_at: Date }>('select token_id, expires_at from consent_doi');
    assert.equal(doi.rows.length, 1);
    const token = signLink(SECRET, { kind: 'doi', id: doi.rows[0]!.token_id, exp: doi.rows[0]!.expires_at.getTime() });
    const pageRes = await app.publicServer.inject(`/consent/confirm/${token}`);
    assert.equal(pageRes.statusCode, 200);
    assert.match(pageRes.body, /<form method="post"/);
    const before = await app.compliance.consent.history('reader@example.com');
    assert.deepEqual(before.subscriptions, []);
    const confirm = await app.publicServer.inject({ method: 'POST', url: `/consent/confirm/${token}` });
    assert.equal(confirm.statusCode, 200);
    const h = await app.compliance.consent.history('reader@example.com');
    assert.deepEqual(
      h.records.map((r) => [r.action, r.topic, r.gpc]),
      [
        ['grant', 'weekly-news', true],
        ['confirm', 'weekly-news', null],
      ],
    );
    assert.ok(h.records[1]!.doiConfirmedAt);
    assert.equal(h.subscriptions[0]?.subscribed, true);
    const forged = await app.publicServer.inject({ method: 'POST', url: `/consent/confirm/${token.slice(0, -2)}xx` });
    assert.equal(forged.statusCode, 400);
    assert.equal(forged.json().error, 'LINK_INVALID');
    const bad = await app.publicServer.inject({
      method: 'POST',
      url: '/consent/signup',
      headers: { 'content-type': 'application/json' },
      payload: { email: 'not an address', topic: 'weekly-news' },
    });
    assert.equal(bad.statusCode, 400);
  });

  it('DSR intake needs a dsr:write key, returns a signed receipt, and a duplicate joins', async () => {
    const body = {
      subject_request_id: 'ext-1',
      subject_request_type: 'erasure',
      subject_identities: [{ identity_type: 'email', identity_value: 'gone@example.com' }],
      jurisdiction: 'ccpa',
    };
    const anon = await app.adminServer.inject({ method: 'POST', url: '/v1/dsr', payload: body });
    assert.equal(anon.statusCode, 401);
    const analyst = await authHeaders(app, 'analyst');
    const refused = await app.adminServer.inject({ method: 'POST', url: '/v1/dsr', payload: body, headers: analyst });
    assert.equal(refused.statusCode, 403);
    const headers = await authHeaders(app, 'compliance');
    const created = await app.adminServer.inject({ method: 'POST', url: '/v1/dsr', payload: body, headers });
    assert.equal(created.statusCode, 201, created.body);
    const receipt = created.json() as Record<string, unknown>;
    assert.equal(receipt.request_status ?? receipt.status, 'pending_verification');
    assert.equal(receipt.expected_completion_time, '2026-04-16T09:00:00.000Z');
    assert.match(String(receipt.receipt_signature), /^[0-9a-f]{64}$/);
    const again = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/dsr',
      payload: { ...body, subject_request_id: 'ext-2' },
      headers,
    });
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().request_id, receipt.request_id);
    const invalid = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/dsr',
      payload: { ...body, subject_request_type: 'delete_everything' },
      headers,
    });
    assert.equal(invalid.statusCode, 400);
    const ex = await app.adminServer.inject({ url: '/v1/dsr-exceptions', headers });
    assert.equal(ex.statusCode, 200);
  });

  it('consent verify proves the chain and names a tampered record', async () => {
    const headers = await authHeaders(app, 'compliance', 'verifier');
    const ok = await app.adminServer.inject({ url: '/v1/consent/verify', headers });
    assert.equal(ok.json().ok, true);
    // a database owner can bypass the append-only trigger; the chain still tells
    await db.exec('alter table consent_records disable trigger consent_records_no_change');
    await db.query(
      `update consent_records set topic = 'something-else' where id = (select min(id) from consent_records)`,
    );
    await db.exec('alter table consent_records enable trigger consent_records_no_change');
    const first = (await db.query<{ id: number }>('select min(id)::int as id from consent_records')).rows[0]!.id;
    const broken = await app.adminServer.inject({ url: '/v1/consent/verify', headers });
    assert.deepEqual(
      { ok: broken.json().ok, brokenId: broken.json().brokenId, reason: broken.json().reason },
      { ok: false, brokenId: first, reason: 'hash' },
    );
  });
});
