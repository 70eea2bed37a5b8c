/**
 * A/B variants in a journey's email step (manual clock, PGlite, sandbox ESP): every contact that
 * reaches the step gets exactly one variant (no holdout), dealt by a hash so a second entry batch
 * of the same contacts sees the same cells, and the step's stream reports the variants side by
 * side with human clicks only (docs/ab-tests.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
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

const SUBJECTS = ['Welcome aboard', 'Your first week', 'Three things to try'];

describe('A/B variants in a journey email step', () => {
  let db: Db;
  let app: App;
  const sandbox = capturedSandbox();
  let admin: AuthHeaders;
  const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));

  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    app = await createApp(
      loadConfig({ SWITCHYARD_TRACKING_SECRET: 'test-secret', SWITCHYARD_PUBLIC_URL: 'https://t.example.com' }),
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
  });

  it('deals every contact one variant, sends it, and reports the variants side by side', async () => {
    const definition = {
      name: 'Onboarding',
      trigger: { type: 'manual' },
      from: { address: 'hello@mail.example.com', name: 'Example' },
      postalAddress: '1 Main St, Springfield',
      start: 'welcome',
      steps: [
        {
          id: 'welcome',
          type: 'email',
          subject: SUBJECTS[0],
          template: { html: '<p>Hi</p><a href="https://example.com/start">Start</a>' },
          variants: [
            { name: 'control' },
            { name: 'week', subject: SUBJECTS[1] },
            { name: 'three', subject: SUBJECTS[2], preheader: 'Quick wins' },
          ],
          next: 'done',
        },
        { id: 'done', type: 'exit' },
      ],
    };
    const bad = await app.adminServer.inject({
      method: 'PUT',
      url: '/v1/journeys/onboarding',
      headers: admin,
      payload: {
        ...definition,
        steps: [{ ...definition.steps[0], variants: [{ subject: 'only one' }] }, definition.steps[1]],
      },
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /variants/);
    const saved = await app.adminServer.inject({
      method: 'PUT',
      url: '/v1/journeys/onboarding',
      headers: admin,
      payload: definition,
    });
    assert.equal(saved.statusCode, 201, saved.body);

    const contacts = Array.from({ length: 300 }, (_, i) => ({
      id: `c${i}`,
      email: `c${i}@inbox.example.test`,
      attributes: { country: 'US' },
    }));
    const entered = await app.adminServer.inject({
      method: 'POST',
      url: '/v1/journeys/onboarding/entries',
      headers: admin,
      payload: { key: 'batch-1', contacts },
    });
    assert.equal(entered.json().entered.length, 300);
    await clock.advance(0);
    while ((await app.journeyDispatcher.runOnce()) > 0);
    await drain(app, { only: ['send', 'outbox'] });

    const byContact = new Map<string, string[]>();
    for (const r of sandbox.esp.outbox()) byContact.set(r.to, [...(byContact.get(r.to) ?? []), r.subject]);
    assert.equal(byContact.size, 300);
    const perSubject = new Map<string, number>();
    for (const subjects of byContact.values()) {
      assert.equal(subjects.length, 1);
      perSubject.set(subjects[0]!, (perSubject.get(subjects[0]!) ?? 0) + 1);
    }
    // 300 contacts hashed over 3 cells: each gets ~100 (binomial sd ≈ 8)
    for (const s of SUBJECTS) assert.ok((perSubject.get(s) ?? 0) > 60, `${s}: ${perSubject.get(s)}`);

    // human clicks count, a scanner's does not
    const stream = streamIdOf('onboarding', 1, 'welcome', 1);
    const clicked = [...byContact.entries()].filter(([, s]) => s[0] === SUBJECTS[2]).slice(0, 20);
    await app.ingest(
      clicked.map(([to], i) => ({
        type: 'clicked' as const,
        sourceId: `test:click-${i}`,
        provider: 'tracking',
        occurredAt: clock.now(),
        campaignId: stream,
        contactId: to.slice(0, to.indexOf('@')),
        url: 'https://example.com/start',
        isMachine: i >= 15,
        raw: {},
      })),
    );
    const report = await app.adminServer.inject({
      method: 'GET',
      url: `/v1/campaigns/${stream}/ab-test`,
      headers: admin,
    });
    assert.equal(report.statusCode, 200, report.body);
    const r = report.json();
    assert.deepEqual(
      r.variants.map((v: { name: string }) => v.name),
      ['control', 'week', 'three'],
    );
    assert.equal(r.testShare, 1);
    assert.equal(
      r.live.cells.reduce((n: number, c: { sends: number }) => n + c.sends, 0),
      300,
    );
    assert.equal(r.live.cells[2].conversions, 15);
    assert.equal(r.live.cells[0].conversions + r.live.cells[1].conversions, 0);
  });
});
