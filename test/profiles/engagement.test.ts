/**
 * Own reactions into the profiles, claimed per bus message: a reaction batch and a chunk of
 * clicks count once however often they are delivered (alone, again, or twice in one group), and a
 * message whose events were claimed one by one (before claims were per message) counts nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import type { LinkClickedPayload, StoredEvent } from '../../src/bus/topics.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { createListService, type ListService } from '../../src/lists/service.ts';
import { applyReactionEvents, applyTaggedClicks, type EngagementDeps } from '../../src/profiles/engagement.ts';
import type { Db } from '../../src/store/port.ts';
import { type TestDatabase, testDatabases } from '../support/databases.ts';

const log = pino({ level: 'silent' });

function event(sourceId: string, type: StoredEvent['type'], contactId: string): StoredEvent {
  return {
    sourceId,
    type,
    provider: 'sendgrid',
    occurredAt: '2026-06-01T11:00:00.000Z',
    email: null,
    messageId: null,
    campaignId: 'cmp1',
    contactId,
    isMachine: false,
    reason: null,
    url: type === 'clicked' ? 'https://shop.example.com/pricing' : null,
  };
}

function click(sourceId: string, contactId: string): LinkClickedPayload {
  return {
    contactId,
    campaignId: 'cmp1',
    url: 'https://shop.example.com/pricing',
    tags: ['host:shop.example.com', 'path:pricing'],
    sourceId,
    occurredAt: '2026-06-01T11:00:00.000Z',
  };
}

for (const tdb of await testDatabases()) {
  describe(`profile engagement on ${tdb.label}`, { skip: tdb.skip }, () => {
    let db: Db;
    let lists: ListService;
    let deps: EngagementDeps;
    let passed = false;
    const database: TestDatabase = tdb;

    before(async () => {
      db = await database.open();
      const clock = createManualClock(new Date('2026-06-01T12:00:00Z'));
      const bus = createPostgresLogBus({ db, clock });
      lists = createListService({ db, bus, clock, log });
      deps = { db, bus, clock, lists };
    });
    after(async () => {
      await lists?.idle();
      await database.close(passed);
    });

    const counts = async (contactId: string) =>
      (
        await db.query<{ sent: number; opened: number; clicked: number }>(
          'select sent, opened, clicked from profile_engagement where contact_id = $1',
          [contactId],
        )
      ).rows[0];

    it('a reaction batch counts once: again alone, twice in one group, beside a new batch', async () => {
      const b1 = {
        id: 'events:1',
        items: [event('e1', 'delivered', 'c1'), event('e2', 'opened', 'c1'), event('e3', 'clicked', 'c1')],
      };
      assert.equal(await applyReactionEvents(deps, [b1, b1]), 3);
      assert.equal(await applyReactionEvents(deps, [b1]), 0);
      const b2 = { id: 'events:2', items: [event('e4', 'opened', 'c1')] };
      assert.equal(await applyReactionEvents(deps, [b1, b2]), 1);
      assert.deepEqual(await counts('c1'), { sent: 1, opened: 2, clicked: 1 });
    });

    it('a batch whose events were claimed one by one before counts nothing', async () => {
      await db.query(`insert into profile_events_seen (source_id, seen_at) values ('reaction:old1', now())`);
      const old = { id: 'events:old', items: [event('old1', 'opened', 'c2'), event('old2', 'opened', 'c2')] };
      assert.equal(await applyReactionEvents(deps, [old]), 0);
      assert.equal(await counts('c2'), undefined);
    });

    it('a chunk of clicks records its tags once, and a chunk claimed click by click before is skipped', async () => {
      const chunk = { id: 'clicks:events:9', items: [click('k1', 'c3'), click('k2', 'c3')] };
      assert.equal(await applyTaggedClicks(deps, [chunk, chunk]), 2);
      assert.equal(await applyTaggedClicks(deps, [chunk]), 0);
      await db.query(`insert into profile_events_seen (source_id, seen_at) values ('click:k7', now())`);
      assert.equal(await applyTaggedClicks(deps, [{ id: 'clicks:events:old', items: [click('k7', 'c4')] }]), 0);
      const { rows } = await db.query<{ contact_id: string; tag: string }>(
        `select contact_id, tag from profile_click_tags where contact_id in ('c3', 'c4') order by tag`,
      );
      assert.deepEqual(
        rows.map((r) => `${r.contact_id} ${r.tag}`),
        ['c3 host:shop.example.com', 'c3 path:pricing'],
      );
    });

    it('a reacting contact gets a profile whether or not a list reads its facts; it enters one on opens', async () => {
      // no list reads opens yet: the profile is created, nothing is evaluated
      assert.equal(await applyReactionEvents(deps, [{ id: 'events:p1', items: [event('p1', 'opened', 'c8')] }]), 1);
      const profile = async (id: string) =>
        (await db.query('select contact_id from contact_profiles where contact_id = $1', [id])).rows.length;
      assert.equal(await profile('c8'), 1);
      assert.deepEqual(await counts('c8'), { sent: 0, opened: 1, clicked: 0 });
      await lists.create({
        id: 'openers',
        name: 'Openers',
        kind: 'dynamic',
        definition: { opened: { atLeast: 1, ofLast: 1 } },
      });
      await lists.idle();
      // now a list reads opens: the new contact's open is evaluated in the same transaction
      assert.equal(await applyReactionEvents(deps, [{ id: 'events:p2', items: [event('p2', 'opened', 'c9')] }]), 1);
      assert.equal(await profile('c9'), 1);
      const members = await lists.members('openers', null, 10);
      assert.ok(
        members.some((m) => m.contactId === 'c9'),
        JSON.stringify(members),
      );
      passed = true;
    });
  });
}
