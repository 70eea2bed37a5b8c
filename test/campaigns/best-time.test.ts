/** "Send at the best time within 24 h": a contact who opens at 18:00 local is staged for 18:00. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { demoContactId, demoRow } from '../../src/connectors/warehouse/demo/generate.ts';
import { localTime } from '../../src/core/send-window.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { drain } from '../support/pipeline.ts';

describe('best send time', () => {
  let db: Db;
  let app: App;
  const clock = createManualClock(new Date('2026-03-10T06:00:00Z'));
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    app = await createApp(loadConfig({ SWITCHYARD_TRACKING_SECRET: 's' }), {
      db,
      clock,
      log: pino({ level: 'silent' }),
      newId: () => 'best-1',
      esp: ({ ingest }) =>
        createSandboxEsp({
          clock,
          emit: async (e) => {
            await ingest(e);
          },
        }),
    });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('stages each contact at its learned open hour; the rest fall back to the segment', async () => {
    // contact 0 of the demo warehouse opened at 18:00 its local time on five past days
    const id = demoContactId(0);
    const tz = demoRow(1, 0).tz;
    const opens = [];
    for (let d = 1; d <= 5; d++) {
      // find the UTC instant that is 18:xx local, d days ago
      let t = new Date(clock.now().getTime() - d * 86_400_000);
      while (localTime(t, tz).hour !== 18) t = new Date(t.getTime() + 3_600_000);
      opens.push({
        type: 'opened' as const,
        sourceId: `o${d}`,
        provider: 'test',
        occurredAt: t,
        contactId: id,
        email: demoRow(1, 0).email_address,
        raw: {},
      });
    }
    await app.ingest(opens);
    const c = await app.campaigns.create(
      demoCampaign({ audience: { source: 'demo', size: 50 }, schedule: { bestTime: true } }),
    );
    await app.campaigns.start(c.id);
    await drain(app, { only: ['select', 'prepare'] });
    const { rows } = await db.query<{ due_at: Date; payload: { recipients: { id: string }[] } }>(
      'select due_at, payload from staged_chunks',
    );
    const mine = rows.find((r) => r.payload.recipients.some((x) => x.id === id));
    assert.ok(mine, 'the contact was staged for later, not sent now');
    assert.equal(localTime(mine.due_at, tz).hour, 18);
    assert.ok(mine.due_at.getTime() - clock.now().getTime() <= 24 * 3_600_000);
  });
});
