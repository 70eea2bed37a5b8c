/**
 * The demo workspace as `npm start` sets it up, booted through the composition root on PGlite:
 * its lists (a 15-deep ladder over the west coast) fill from the seeded profiles, one change of
 * state cascades through the whole ladder with exactly the expected events, the top of the ladder
 * starts the hot-leads journey for that contact, and running the setup again changes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { ensureDemoWorkspace } from '../../src/composition/demo-workspace.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import {
  DEMO_EAST,
  DEMO_HOT_JOURNEY_ID,
  DEMO_LADDER_TOP,
  DEMO_WEST,
  demoLadderId,
  demoLists,
} from '../../src/demo/lists.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { drain } from '../support/pipeline.ts';

describe('demo workspace lists and journey', () => {
  let db: Db;
  let app: App;
  const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
  const setup = () => ensureDemoWorkspace(app, { demoSize: app.config.demo.size, seedProfiles: 60 });

  async function counts(): Promise<{ events: number; runs: number }> {
    const { rows } = await db.query<{ events: number; runs: number }>(
      `select (select coalesce(sum(json_array_length(payload::json -> 'transitions')), 0)::int from bus_messages
                where topic in ('list.entered', 'list.exited')) as events,
              (select count(*)::int from journey_runs) as runs`,
    );
    return rows[0] as { events: number; runs: number };
  }

  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    app = await createApp(loadConfig({ SWITCHYARD_TRACKING_SECRET: 'test-secret' }), {
      db,
      clock,
      log: pino({ level: 'silent' }),
      esp: (d) => createSandboxEsp({ clock: d.clock, emit: async () => {} }),
    });
    assert.equal(app.config.demo.enabled, true, 'the demo workspace is on by default');
    await setup();
    await app.lists.idle();
    await drain(app, { only: ['journeys', 'outbox'] });
  });
  after(async () => {
    await app?.close();
    await db?.close();
  });

  it('creates the lists and fills them from the seeded profiles', async () => {
    for (const l of demoLists()) assert.equal((await app.lists.get(l.id)).kind, 'dynamic');
    assert.equal(demoLists().length, 19);
    const { rows } = await db.query<{ west: number; top: number; expected: number }>(
      `select (select count(*)::int from list_members where list_id = $1) as west,
              (select count(*)::int from list_members where list_id = $2) as top,
              (select count(*)::int from contact_profiles
                where attributes->>'state' in ('CA', 'OR', 'WA') and (attributes->>'score')::int >= 75) as expected`,
      [DEMO_WEST, DEMO_LADDER_TOP],
    );
    assert.ok((rows[0]?.west ?? 0) > 0);
    assert.ok((rows[0]?.top ?? 0) > 0);
    assert.equal(rows[0]?.top, rows[0]?.expected);
    assert.equal((await counts()).runs, rows[0]?.top, 'every contact at the top of the ladder entered the journey');
  });

  it('one change of state cascades through the 15-deep ladder and starts the journey run', async () => {
    await app.profiles.submit([
      { changeId: 'c1', source: 'test', contactId: 'lead-1', attributes: { state: 'NY', score: 90 }, at: 1000 },
    ]);
    const before = await counts();
    const moved = await app.profiles.submit([
      { changeId: 'c2', source: 'test', contactId: 'lead-1', attributes: { state: 'CA' }, at: 2000 },
    ]);
    assert.deepEqual([moved.entered, moved.exited], [16, 1]);
    const { rows } = await db.query<{ list_id: string; entered: boolean; cause_id: string }>(
      `select list_id, entered, cause_id from list_history where contact_id = 'lead-1' order by id`,
    );
    const ladder = Array.from({ length: 15 }, (_, i) => demoLadderId(i + 1));
    assert.deepEqual(
      rows.map((r) => `${r.entered ? '+' : '-'}${r.list_id}`),
      [`+${DEMO_EAST}`, `-${DEMO_EAST}`, `+${DEMO_WEST}`, ...ladder.map((id) => `+${id}`)],
    );
    assert.ok(rows.slice(1).every((r) => r.cause_id === 'test:c2'));
    await drain(app, { only: ['journeys', 'outbox'] });
    const runs = await db.query<{ journey_id: string; status: string; trigger: { list: string } }>(
      `select journey_id, status, trigger from journey_runs where contact_id = 'lead-1'`,
    );
    assert.deepEqual(
      runs.rows.map((r) => [r.journey_id, r.status, r.trigger.list]),
      [[DEMO_HOT_JOURNEY_ID, 'active', DEMO_LADDER_TOP]],
    );
    assert.deepEqual(await counts(), { events: before.events + 17, runs: before.runs + 1 });
  });

  it('running the setup again (a restart) changes nothing', async () => {
    const before = await counts();
    await setup();
    await app.lists.idle();
    await drain(app, { only: ['journeys', 'outbox'] });
    assert.deepEqual(await counts(), before);
  });
});
