/**
 * The warehouse profile feed against real PostgreSQL: the source tables live in a private schema,
 * the store is PostgreSQL too. Initial load in pages whose boundary falls inside a run of rows
 * sharing one updated_at (microseconds), a re-read of everything that changes nothing, incremental
 * polls, the lag that leaves just-committed rows for later, resume from the durable watermark by a
 * new process, tombstone and deletes-query deletions, and a bad row dead-lettered with its reason
 * while the good rows beside it are applied.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { pino } from 'pino';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import type { Bus } from '../../src/bus/port.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { createPostgresProfileFeed } from '../../src/connectors/warehouse/postgres/feed.ts';
import { parseProfileFeed } from '../../src/core/profile-feed.ts';
import { createListService, type ListService } from '../../src/lists/service.ts';
import { createProfileService, type ProfileService } from '../../src/profiles/service.ts';
import { createWarehouseFeed, FEED_DEAD_LETTER_STAGE, type WarehouseFeed } from '../../src/profiles/warehouse-feed.ts';
import type { Db } from '../../src/store/port.ts';
import { testDatabases } from '../support/databases.ts';
import { pgSchemaFixture } from '../support/pg-schema.ts';

const log = pino({ level: 'silent' });
const store = (await testDatabases()).find((d) => d.label === 'postgres');
const source = pgSchemaFixture('feed_src', async ({ admin, schema }) => {
  await admin.query(`create table ${schema}.people (
    person_id text primary key, email text, region text, score int,
    gone boolean not null default false, updated_at timestamptz)`);
  await admin.query(`create table ${schema}.removed (person_id text primary key, removed_at timestamptz not null)`);
  return {};
});

describe('warehouse profile feed on PostgreSQL', { skip: store?.skip }, () => {
  let db: Db;
  let bus: Bus;
  let clock: ManualClock;
  let lists: ListService;
  let profiles: ProfileService;
  let passed = false;
  let schema = '';
  let url = '';
  let admin: pg.Client;

  function feed(batchSize = 3): WarehouseFeed {
    const parsed = parseProfileFeed(
      JSON.stringify({
        name: 'crm-dw',
        table: `${schema}.people`,
        mapping: { columns: { id: 'person_id', email: 'email', region: 'region' }, fields: ['score'] },
        tombstone: 'gone',
        deletes: {
          sql: `select person_id, removed_at from ${schema}.removed`,
          id: 'person_id',
          deletedAt: 'removed_at',
        },
      }),
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    return createWarehouseFeed(
      {
        db,
        clock,
        log,
        profiles,
        deadLetters: bus.deadLetters,
        source: createPostgresProfileFeed({ url, spec: parsed.spec }),
      },
      { name: 'crm-dw', intervalMs: 1000, lagMs: 1000, batchSize },
    );
  }
  async function drain(f: WarehouseFeed): Promise<number[]> {
    const pages: number[] = [];
    for (let n = await f.pollOnce(); n > 0; n = await f.pollOnce()) pages.push(n);
    return pages;
  }
  async function attrs(id: string): Promise<Record<string, unknown> | undefined> {
    return (await profiles.get(id))?.attributes;
  }
  async function listEvents(): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      `select coalesce(sum(json_array_length(payload::json -> 'transitions')), 0)::int as n from bus_messages
       where topic in ('list.entered', 'list.exited')`,
    );
    return rows[0]?.n ?? 0;
  }
  async function members(): Promise<string[]> {
    const { rows } = await db.query<{ contact_id: string }>(
      `select contact_id from list_members where list_id = 'west' order by contact_id`,
    );
    return rows.map((r) => r.contact_id);
  }

  before(async (t) => {
    if (store === undefined) return;
    const src = await source(t as TestContext);
    if (src === null) return;
    ({ schema, url, admin } = src);
    db = await store.open();
    clock = createManualClock(new Date('2026-06-01T12:00:00Z'));
    bus = createPostgresLogBus({ db, clock });
    lists = createListService({ db, bus, clock, log });
    profiles = createProfileService({ db, bus, clock, log, lists });
    await lists.create({
      id: 'west',
      name: 'West',
      kind: 'dynamic',
      definition: { attribute: 'region', equals: 'west' },
    });
  });
  after(async () => {
    await lists?.idle();
    await store?.close(passed);
  });

  it('loads every row once, in pages that split rows sharing one updated_at', async () => {
    await admin.query(`insert into ${schema}.people (person_id, email, region, score, updated_at) values
      ('a', 'a@example.com', 'west', 1, '2026-06-01 10:00:00+00'),
      ('b', 'b@example.com', 'east', 2, '2026-06-01 10:00:00+00'),
      ('c', 'c@example.com', 'west', 3, '2026-06-01 11:00:00.123456+00'),
      ('d', 'd@example.com', 'west', 4, '2026-06-01 11:00:00.123456+00'),
      ('e', 'e@example.com', 'east', 5, '2026-06-01 11:00:00.123456+00')`);
    assert.deepEqual(await drain(feed()), [3, 2], 'a page of 3 ends inside the tie at .123456; the rest follow');
    assert.deepEqual(await attrs('e'), { email: 'e@example.com', region: 'east', score: 5 });
    assert.equal((await profiles.get('d'))?.warehouseId, 'd');
    assert.deepEqual(await members(), ['a', 'c', 'd']);
    const { rows } = await db.query<{ at: string; last_key: string }>(
      `select to_char(updated_at at time zone 'UTC', 'HH24:MI:SS.US') as at, last_key
       from profile_source_watermarks where source = 'warehouse:crm-dw'`,
    );
    assert.deepEqual(rows, [{ at: '11:00:00.123456', last_key: 'e' }], 'the watermark keeps microseconds');
  });

  it('a re-read of every row (watermark lost) changes nothing and publishes nothing', async () => {
    const events = await listEvents();
    await db.query(`delete from profile_source_watermarks where source = 'warehouse:crm-dw'`);
    assert.deepEqual(await drain(feed(10)), [5]);
    assert.equal(await listEvents(), events);
    assert.deepEqual(await members(), ['a', 'c', 'd']);
  });

  it('takes only what changed since, and leaves rows younger than the lag for the next poll', async () => {
    await admin.query(`update ${schema}.people set region = 'west', updated_at = '2026-06-01 11:30:00+00'
      where person_id = 'b'`);
    await admin.query(`insert into ${schema}.people (person_id, email, region, score, updated_at) values
      ('f', 'f@example.com', 'east', 6, '2026-06-01 11:30:00+00'),
      ('g', 'g@example.com', 'west', 7, '2026-06-01 11:59:59.500+00')`);
    const f = feed();
    assert.deepEqual(await drain(f), [2], 'g changed within the last second (lag) and waits');
    assert.deepEqual(await members(), ['a', 'b', 'c', 'd']);
    clock.advance(1000);
    assert.deepEqual(await drain(f), [1]);
    assert.deepEqual(await members(), ['a', 'b', 'c', 'd', 'g']);
  });

  it('a new process resumes from the durable watermark, without a gap or a repeat', async () => {
    const rows = Array.from(
      { length: 7 },
      (_, i) => `('r${i}', 'r${i}@example.com', 'north', ${i},
      '2026-06-01 11:59:59.9+00')`,
    );
    await admin.query(`insert into ${schema}.people (person_id, email, region, score, updated_at) values
      ${rows.join(', ')}`);
    assert.equal(await feed().pollOnce(), 3, 'the first process takes one page and stops');
    assert.deepEqual(await drain(feed()), [3, 1], 'the second takes the rest');
    for (let i = 0; i < 7; i++) assert.equal((await attrs(`r${i}`))?.score, i);
  });

  it('a tombstone and a deletes-query row clear the contact and take it out of its lists', async () => {
    clock.advance(60_000);
    await admin.query(`update ${schema}.people set gone = true, email = null, updated_at = '2026-06-01 12:00:30+00'
      where person_id = 'c'`);
    await admin.query(`insert into ${schema}.removed values ('d', '2026-06-01 12:00:31+00')`);
    assert.deepEqual(await drain(feed()), [2]);
    assert.deepEqual(await attrs('c'), {}, 'every attribute cleared as of the tombstone');
    assert.deepEqual(await attrs('d'), {});
    assert.deepEqual(await members(), ['a', 'b', 'g']);
    const { rows } = await db.query<{ n: number }>(
      `select count(*)::int as n from list_history where list_id = 'west' and not entered`,
    );
    assert.equal(rows[0]?.n, 2);
  });

  it('a bad row is dead-lettered with its reason; the good rows beside it are applied', async () => {
    await admin.query(`insert into ${schema}.people (person_id, email, region, score, updated_at) values
      ('h1', 'h1@example.com', 'west', 8, '2026-06-01 12:00:40+00'),
      ('h2', 'no-at-sign', 'west', 9, '2026-06-01 12:00:40+00'),
      ('h3', 'h3@example.com', 'west', 10, '2026-06-01 12:00:40+00')`);
    assert.deepEqual(await drain(feed()), [3]);
    assert.deepEqual(await members(), ['a', 'b', 'g', 'h1', 'h3']);
    assert.equal(await profiles.get('h2'), null);
    const dead = await bus.deadLetters.list({ stage: FEED_DEAD_LETTER_STAGE });
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.code, 'WAREHOUSE_ROW_INVALID');
    assert.equal(dead[0]?.message, 'changes row h2: column "email" (email) has no @');
    assert.equal((dead[0]?.payload as { row: { person_id: string } } | undefined)?.row.person_id, 'h2');
    assert.deepEqual(await drain(feed()), [], 'the bad row is passed over, not retried');
  });

  it('the app runs the feed as its profile-feed stage when SWITCHYARD_PROFILE_FEED is set', async () => {
    await admin.query(`insert into ${schema}.people (person_id, email, region, score, updated_at) values
      ('app1', 'app1@example.com', 'west', 11, '2026-06-01 12:00:50+00')`);
    const app = await createApp(
      loadConfig({
        SWITCHYARD_TRACKING_SECRET: 'test-secret',
        SWITCHYARD_WAREHOUSE_URL: url,
        SWITCHYARD_PROFILE_FEED: JSON.stringify({
          name: 'crm-dw',
          table: `${schema}.people`,
          mapping: { columns: { id: 'person_id', email: 'email', region: 'region' }, fields: ['score'] },
          tombstone: 'gone',
        }),
      }),
      { db, clock, log, esp: (d) => createSandboxEsp({ clock: d.clock, emit: async () => {} }) },
    );
    const stop = new AbortController();
    try {
      const stage = app.stages.find((st) => st.name === 'profile-feed');
      assert.ok(stage, 'the stage is wired');
      const loop = stage.loops?.[0]?.(stop.signal);
      // the loop polls until it finds nothing, then sleeps on the manual clock: wait for the row
      for (let i = 0; i < 400 && (await attrs('app1')) === undefined; i++) await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual(await attrs('app1'), { email: 'app1@example.com', region: 'west', score: 11 });
      stop.abort();
      await loop;
    } finally {
      stop.abort();
      await app.close();
    }
    passed = true;
  });
});
