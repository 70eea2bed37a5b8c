/**
 * A journey's email step is checked like a blast before it is queued (the blast's comply step with
 * the same deps): the preference centre's topic, the workspace's geographic overrides, and the
 * exclusions' ledger rows sealed like every ledger address. Real app on PGlite, sandbox ESP,
 * manual clock.
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
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders } from '../support/api-keys.ts';
import { drain } from '../support/pipeline.ts';
import { capturedSandbox } from '../support/captured-sandbox.ts';

describe('journey email steps: topic, geographic overrides, sealed exclusions', () => {
  let db: Db;
  let app: App;
  const sandbox = capturedSandbox();
  const clock = createManualClock(new Date('2026-06-01T10:00:00Z'));
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(
      loadConfig({
        SWITCHYARD_TRACKING_SECRET: 'journey-eligibility',
        SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
        SWITCHYARD_COMPLIANCE_SECRET: 'journey-eligibility-compliance',
        SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'sy-journey-elig-')),
        // Japan asks for opt-in by default; this workspace sends there on opt-out
        SWITCHYARD_GEO_RULES: JSON.stringify({ JP: { consent: 'opt_out' } }),
      }),
      {
        db,
        clock,
        log: pino({ level: 'silent' }),
        esp: sandbox.factory,
      },
    );
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('skips who left the topic and who may not be mailed, with sealed ledger rows; sends the rest', async () => {
    const admin = await authHeaders(app);
    const saved = await app.adminServer.inject({
      method: 'PUT',
      url: '/v1/journeys/digest',
      headers: admin,
      payload: {
        name: 'Digest',
        trigger: { type: 'manual' },
        topic: 'news',
        from: { address: 'news@mail.example.com' },
        postalAddress: '1 Main St, Springfield',
        start: 'mail',
        steps: [{ id: 'mail', type: 'email', subject: 'This week', template: { text: 'News.' } }],
      },
    });
    assert.equal(saved.statusCode, 201, saved.body);
    await app.compliance.doubleOptIn.setPreferences('leaver@inbox.example.test', { news: false }, { via: 'test' });
    const contacts = [
      { id: 'leaver', email: 'leaver@inbox.example.test', attributes: { country: 'US' } },
      { id: 'tokyo', email: 'tokyo@inbox.example.test', attributes: { country: 'JP' } },
      { id: 'berlin', email: 'berlin@inbox.example.test', attributes: { country: 'DE' } },
      { id: 'boston', email: 'boston@inbox.example.test', attributes: { country: 'US' } },
    ];
    const entered = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/journeys/digest/entries',
      headers: admin,
      payload: { key: 'week-1', contacts },
    });
    assert.deepEqual(entered.json().entered.sort(), ['berlin', 'boston', 'leaver', 'tokyo']);
    while ((await app.journeyDispatcher.runOnce()) > 0);
    await drain(app, { only: ['send', 'outbox'] });

    assert.deepEqual(
      sandbox.esp
        .outbox()
        .map((m) => m.to)
        .sort(),
      ['boston@inbox.example.test', 'tokyo@inbox.example.test'],
    );
    const { rows } = await db.query<{ contact_id: string; state: string; reason: string | null; email: string }>(
      `select contact_id, state, reason, email from send_ledger where contact_id in ('leaver', 'berlin')
        order by contact_id`,
    );
    assert.deepEqual(
      rows.map((r) => [r.contact_id, r.state]),
      [
        ['berlin', 'suppressed'],
        ['leaver', 'suppressed'],
      ],
    );
    // left at comply, not caught later by the send stage's last check
    assert.equal(rows[1]!.reason, 'topic_unsubscribed:news');
    assert.match(rows[0]!.reason ?? '', /consent/);
    for (const r of rows) assert.ok(!r.email.includes('@'), `${r.contact_id}'s ledger address is sealed`);
    assert.deepEqual(await app.privacy.openMany(rows.map((r) => r.email)), [
      'berlin@inbox.example.test',
      'leaver@inbox.example.test',
    ]);
  });
});
