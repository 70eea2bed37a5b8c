/**
 * Date triggers on the manual clock, in-process on PGlite: contacts' profiles hold a birthday or a
 * renewal date (and a time zone); each scan enters exactly the contacts whose local day it is,
 * once per (journey, contact, occurrence), across a year's rollover, on 29 February in common and
 * leap years, and after the date attribute changes. The scans read the profile-date index
 * (migration 0044) that the database keeps as profiles change.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { scanDateTriggers } from '../../src/journeys/date-triggers.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

function dateJourney(trigger: Record<string, unknown>) {
  return {
    name: 'Dates',
    trigger: { type: 'date', ...trigger },
    reentry: { mode: 'after-exit' },
    from: { address: 'hello@mail.example.com' },
    postalAddress: '1 Main St, Springfield',
    start: 'done',
    steps: [{ id: 'done', type: 'exit' }],
  };
}

describe('journey date triggers', () => {
  let db: Db;
  let app: App;
  const clock = createManualClock(new Date('2026-12-30T12:00:00Z'));
  let changeSeq = 0;

  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    app = await createApp(loadConfig({ SWITCHYARD_TRACKING_SECRET: 'test-secret' }), {
      db,
      clock,
      log: pino({ level: 'silent' }),
      // no flush loop: the clock jumps days, and a sleeper per second would make each jump slow
      esp: (d) => createSandboxEsp({ clock: d.clock, emit: async () => {} }),
    });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  async function setProfile(contactId: string, attributes: Record<string, unknown>): Promise<void> {
    await app.profiles.applyChanges([
      {
        changeId: `c${++changeSeq}`,
        source: 'intake',
        contactId,
        email: `${contactId}@inbox.example.test`,
        attributes,
        at: clock.now().getTime(),
      },
    ]);
  }
  /** Scans, moves the runs (to their exit), and returns who entered which journey in this scan. */
  async function scan(): Promise<string[]> {
    const before = await entries();
    await scanDateTriggers({ db, clock, log: pino({ level: 'silent' }), dispatcher: app.journeyDispatcher });
    while ((await app.journeyDispatcher.runOnce()) > 0);
    const now = await entries();
    return now.filter((e) => !before.includes(e));
  }
  async function entries(): Promise<string[]> {
    const { rows } = await db.query<{ e: string }>(
      `select journey_id || '/' || contact_id || '/' || (trigger ->> 'occurrence') as e from journey_runs order by 1`,
    );
    return rows.map((r) => r.e);
  }
  async function at(iso: string): Promise<void> {
    await clock.advance(Date.parse(iso) - clock.now().getTime());
  }

  it('enters birthdays on the local day, once per year, across the year rollover and 29 February', async () => {
    // profiles exist before the journey: saving it fills the index from them
    await setProfile('utc', { birthday: '1990-01-01' });
    await setProfile('auckland', { birthday: '1985-01-01', timezone: 'Pacific/Auckland' });
    await setProfile('la', { birthday: '1985-01-01T00:00:00Z', timezone: 'America/Los_Angeles' });
    await setProfile('leap', { birthday: '2000-02-29' });
    await setProfile('nodate', { birthday: 'soon' });
    await setProfile('baddate', { birthday: '1990-02-30' });
    const saved = await app.journeys.save('birthday', dateJourney({ attribute: 'birthday', yearly: true }));
    assert.equal(saved.version, 1);

    assert.deepEqual(await scan(), [], 'nobody has a birthday on 30 December');
    // 31 Dec 11:00Z is 1 Jan 00:00 in Auckland (UTC+13): only the contact there
    await at('2026-12-31T10:59:00Z');
    assert.deepEqual(await scan(), []);
    await at('2026-12-31T11:00:00Z');
    assert.deepEqual(await scan(), ['birthday/auckland/2027']);
    assert.deepEqual(await scan(), [], 'a repeated scan enters nobody twice');
    await at('2027-01-01T00:10:00Z');
    assert.deepEqual(await scan(), ['birthday/utc/2027']);
    await at('2027-01-01T08:00:00Z');
    assert.deepEqual(await scan(), ['birthday/la/2027'], 'Los Angeles reaches 1 January at 08:00Z');
    await at('2027-01-02T12:00:00Z');
    assert.deepEqual(await scan(), []);

    // 2027 is a common year: 29 February falls on 28 February, once
    await at('2027-02-28T00:05:00Z');
    assert.deepEqual(await scan(), ['birthday/leap/2027']);
    await at('2027-03-01T00:05:00Z');
    assert.deepEqual(await scan(), []);
    // 2028 is a leap year: on the 29th, not the 28th
    await at('2028-02-28T00:05:00Z');
    assert.deepEqual(await scan(), []);
    await at('2028-02-29T00:05:00Z');
    assert.deepEqual(await scan(), ['birthday/leap/2028']);
    await app.journeys.setStatus('birthday', 'archived');
  });

  it('enters renewal minus 30 days, follows a changed date, and catches up a missed day', async () => {
    await at('2028-03-01T12:00:00Z');
    await app.journeys.save('renewal', dateJourney({ attribute: 'renewal_date', offsetDays: -30 }));
    await setProfile('r1', { renewal_date: '2028-04-30' });
    await setProfile('r2', { renewal_date: '2028-04-30' });
    await setProfile('r3', { renewal_date: '2028-04-05' });
    assert.deepEqual(await scan(), []);
    // r2 renews later: it moves before its old day comes
    await setProfile('r2', { renewal_date: '2028-05-15' });
    // r3's date is cleared: it leaves the index
    await setProfile('r3', { renewal_date: null });
    await at('2028-03-06T12:00:00Z');
    assert.deepEqual(await scan(), [], 'r3 had its day on 6 March, but no longer has a date');
    await at('2028-03-31T00:01:00Z');
    assert.deepEqual(await scan(), ['renewal/r1/2028-04-30']);
    // the worker misses 15 April entirely (no scan that day): the next scan catches up
    await at('2028-04-16T09:00:00Z');
    assert.deepEqual(await scan(), ['renewal/r2/2028-05-15']);
    // the renewal is pushed a year: a new occurrence, entered on its own day
    await setProfile('r1', { renewal_date: '2029-04-30' });
    await at('2029-03-31T00:01:00Z');
    assert.deepEqual(await scan(), ['renewal/r1/2029-04-30']);
    const { rows } = await db.query<{ trigger: Record<string, unknown> }>(
      `select trigger from journey_runs where contact_id = 'r1' order by entry`,
    );
    assert.deepEqual(rows[0]?.trigger, {
      key: 'date:renewal_date:2028-04-30',
      type: 'date',
      attribute: 'renewal_date',
      occurrence: '2028-04-30',
      day: '2028-03-31',
    });
  });

  it('the profile-date index holds the valid dates of watched attributes, and follows changes', async () => {
    const { rows } = await db.query<{ attribute: string; contact_id: string; month_day: number }>(
      `select attribute, contact_id, month_day from journey_profile_dates order by 1, 2`,
    );
    assert.deepEqual(
      rows.map((r) => `${r.attribute}/${r.contact_id}/${r.month_day}`),
      [
        'birthday/auckland/101',
        'birthday/la/101',
        'birthday/leap/229',
        'birthday/utc/101',
        'renewal_date/r1/430',
        'renewal_date/r2/515',
      ],
    );
    // a profile removed (no service deletes one today; an erasure might) leaves the index too
    await db.query(`delete from contact_profiles where contact_id = 'r2'`);
    const { rows: left } = await db.query<{ n: number }>(
      `select count(*)::int as n from journey_profile_dates where contact_id = 'r2'`,
    );
    assert.equal(left[0]?.n, 0);
  });
});
