/**
 * The profile cache against the local HubSpot (real adapter, batcher and shared rate limit,
 * PGlite): missing profiles are fetched 100 per request and stored, a warm read asks nothing,
 * an aged or invalidated profile is fetched again (alone), and contact.changed events resolve
 * HubSpot's record id to the contact — unknown ids are recorded with the reason, not errors.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { createCrmBatcher } from '../../src/connectors/crm/batcher.ts';
import { createHubspotCrm } from '../../src/connectors/crm/hubspot/adapter.ts';
import { budgetBucket, createSharedRateLimiter } from '../../src/connectors/crm/shared-rate-limit.ts';
import { createProfileCache, type ProfileCache, type ProfileFetchPlan } from '../../src/crm-profiles/cache.ts';
import { applyProfileChange } from '../../src/crm-profiles/changes.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { startHubspotServer, type HubspotServer } from '../connectors/crm/hubspot-server.ts';

const HOUR = 3_600_000;

describe('profile cache', () => {
  let db: Db;
  let clock: ManualClock;
  let server: HubspotServer;
  let cache: ProfileCache;
  const hubspotId = new Map<string, string>();
  const ids = Array.from({ length: 250 }, (_, i) => `c-${i}`);
  const reads = (): number => server.requests.filter((r) => r.path.endsWith('/batch/read')).length;

  before(async () => {
    clock = createManualClock(new Date('2026-03-01T00:00:00Z'));
    server = await startHubspotServer(() => clock.now().getTime());
    for (const [i, id] of ids.entries())
      hubspotId.set(
        id,
        server.addContact({ switchyard_contact_id: id, switchyard_tier: i % 2 ? 'smb' : 'enterprise' }),
      );
    db = await createPgliteDb({});
    await migrate(db);
    const rateLimit = { requests: 100, perMs: 10_000 };
    const limiter = createSharedRateLimiter(
      { db, clock },
      budgetBucket('hubspot', rateLimit.requests, rateLimit.perMs),
    );
    const hubspot = createHubspotCrm(
      { db, clock, limiter },
      { token: server.token, baseUrl: server.baseUrl, rateLimit },
    );
    cache = createProfileCache(
      { db, clock, crm: createCrmBatcher(hubspot, { clock }) },
      { maxAgeMs: HOUR, batchSize: hubspot.maxBatchSize },
    );
  });
  after(async () => {
    await db.close();
    await server.close();
  });

  it('fetches missing profiles in batches of 100, then reads them from the store', async () => {
    const plans: ProfileFetchPlan[] = [];
    const asked = [...ids, 'nobody-1', 'nobody-2'];
    const first = await cache.read(asked, { onFetch: async (p) => void plans.push(p) });
    assert.equal(reads(), 3);
    assert.equal(first.fetched, 252);
    assert.equal(first.records.size, 250);
    assert.equal(first.records.get('c-1')?.tier, 'smb');
    assert.equal(first.records.get('c-1')?.crmId, hubspotId.get('c-1'));
    assert.deepEqual(plans, [{ missing: 252, requests: 3, expectedMs: 300 }]);

    // warm: HubSpot is not asked, also not about the contacts it does not know
    const warm = await cache.read(asked, { onFetch: async (p) => void plans.push(p) });
    assert.equal(reads(), 3);
    assert.equal(warm.fetched, 0);
    assert.deepEqual(warm.records, first.records);
    assert.equal(plans.length, 1);
  });

  it('fetches again what is older than the bound', async () => {
    await clock.advance(HOUR + 1);
    const aged = await cache.read(ids.slice(0, 150));
    assert.equal(aged.fetched, 150);
    assert.equal(reads(), 5);
    // the rest aged too; the 150 just fetched did not
    const rest = await cache.read(ids);
    assert.equal(rest.fetched, 100);
    assert.equal(reads(), 6);
  });

  it('contact.changed invalidates the profile by HubSpot record id; the next read fetches it alone', async () => {
    server.contact(hubspotId.get('c-7')!)!.properties.switchyard_tier = 'mid-market';
    const result = await applyProfileChange(
      { db, clock },
      {
        source: 'hubspot',
        eventId: 'e-1',
        kind: 'updated',
        crmId: hubspotId.get('c-7')!,
        properties: { switchyard_tier: 'mid-market' },
        occurredAt: clock.now().toISOString(),
      },
    );
    assert.deepEqual(result, { invalidated: ['c-7'] });
    const before = reads();
    const after = await cache.read(ids);
    assert.equal(after.fetched, 1);
    assert.equal(reads(), before + 1);
    assert.equal(after.records.get('c-7')?.tier, 'mid-market');
  });

  it('a merge invalidates the merged records too; an unknown record id is recorded, not an error', async () => {
    const merged = await applyProfileChange(
      { db, clock },
      {
        source: 'hubspot',
        eventId: 'e-2',
        kind: 'merged',
        crmId: hubspotId.get('c-8')!,
        mergedCrmIds: [hubspotId.get('c-9')!],
        properties: {},
        occurredAt: clock.now().toISOString(),
      },
    );
    assert.deepEqual(merged.invalidated.sort(), ['c-8', 'c-9']);

    const unknown = await applyProfileChange(
      { db, clock },
      { source: 'hubspot', eventId: 'e-3', kind: 'created', crmId: '999999', properties: {}, occurredAt: '' },
    );
    assert.deepEqual(unknown.invalidated, []);
    assert.match(unknown.unmatched ?? '', /no cached profile has hubspot record id 999999/);
    const { rows } = await db.query<{ event_id: string; reason: string }>(
      'select event_id, reason from crm_profile_unmatched',
    );
    assert.deepEqual(
      rows.map((r) => r.event_id),
      ['e-3'],
    );
    // a redelivery of the same event changes nothing
    await applyProfileChange(
      { db, clock },
      { source: 'hubspot', eventId: 'e-3', kind: 'created', crmId: '999999', properties: {}, occurredAt: '' },
    );
    assert.equal((await db.query('select 1 from crm_profile_unmatched')).rows.length, 1);
  });
});
