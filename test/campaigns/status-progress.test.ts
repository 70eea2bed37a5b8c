/**
 * Campaign status progress: whether the audience total is known yet, and since when a running
 * campaign has not moved (manual clock, PGlite, sandbox ESP, the real pipeline stages).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { STALL_AFTER_MS } from '../../src/campaigns/service.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { drain } from '../support/pipeline.ts';

const config = loadConfig({
  SWITCHYARD_TRACKING_SECRET: 'test-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
});

describe('campaign status progress', () => {
  let db: Db;
  let app: App;
  let clock: ManualClock;
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
    app = await createApp(config, {
      db,
      clock,
      log: pino({ level: 'silent' }),
      esp: ({ clock: c, ingest }) =>
        createSandboxEsp(
          {
            clock: c,
            emit: async (e) => {
              await ingest(e);
            },
          },
          { eventDelayMs: 86_400_000 },
        ),
      // a provider budget the manual clock never has to move for
      governor: { providers: { sandbox: { ratePerSec: 100_000 } } },
    });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('reading the audience, stalled while reading, running, stalled, completed', async () => {
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 2_500, seed: 5 } }));
    const startedAt = clock.now().toISOString();
    await app.campaigns.start(c.id);

    // started, nothing selected yet: the total is unknown, no ETA, not stalled
    let s = await app.campaigns.status(c.id);
    assert.deepEqual(s.progress, { audienceKnown: false, stalledSince: null });
    assert.equal(s.etaSeconds, null);

    // nothing moves for a minute: stalled since the start
    await clock.advance(STALL_AFTER_MS);
    s = await app.campaigns.status(c.id);
    assert.deepEqual(s.progress, { audienceKnown: false, stalledSince: startedAt });
    assert.equal(s.etaSeconds, null);

    // the audience is read and rendered, not sent: the total is known and it moved just now
    await drain(app, { only: ['select', 'prepare', 'comply', 'enrich', 'schedule', 'render'] });
    s = await app.campaigns.status(c.id);
    assert.equal(s.campaign.status, 'running');
    assert.deepEqual(s.progress, { audienceKnown: true, stalledSince: null });

    // part of it is sent, a little later: running, with an ETA
    await clock.advance(10_000);
    const sendingAt = clock.now().toISOString();
    // one pass of the send stage: drain says the pipeline has not settled, which is the point
    await drain(app, { only: ['send'], maxPasses: 1 }).catch((err: Error) => {
      if (err.message !== 'pipeline did not settle') throw err;
    });
    s = await app.campaigns.status(c.id);
    const left = (s.counts.rendered ?? 0) + (s.counts.waiting ?? 0);
    assert.equal(s.campaign.status, 'running');
    assert.ok(left > 0, `one send pass leaves some to send (${JSON.stringify(s.counts)})`);
    assert.deepEqual(s.progress, { audienceKnown: true, stalledSince: null });
    assert.ok(s.etaSeconds !== null && s.etaSeconds > 0, `an ETA while sending (${s.etaSeconds})`);

    // then nothing moves for a minute: stalled since the last send, and no ETA counting down
    await clock.advance(STALL_AFTER_MS - 1);
    s = await app.campaigns.status(c.id);
    assert.equal(s.progress.stalledSince, null, 'not yet a minute');
    await clock.advance(1);
    s = await app.campaigns.status(c.id);
    assert.deepEqual(s.progress, { audienceKnown: true, stalledSince: sendingAt });
    assert.equal(s.etaSeconds, null);

    // everything is sent: completed, never stalled
    await drain(app);
    await clock.advance(STALL_AFTER_MS * 5);
    s = await app.campaigns.status(c.id);
    assert.equal(s.campaign.status, 'completed');
    assert.deepEqual(s.progress, { audienceKnown: true, stalledSince: null });
    assert.equal(s.etaSeconds, null);
  });
});
