/**
 * HubSpot adapter against a local HubSpot (hubspot-server.ts): the CRM contract, merged contacts,
 * per-record errors, an expired token, and 429 with Retry-After while two "processes" share one
 * budget in the store. Time is the manual clock; it moves only while every caller is waiting on
 * it, so the server's arrival times are the times the limiter let each request go.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createManualClock, type ManualClock } from '../../../src/clock/manual.ts';
import { createCrmBatcher } from '../../../src/connectors/crm/batcher.ts';
import { createHubspotCrm, type HubspotCrmOptions } from '../../../src/connectors/crm/hubspot/adapter.ts';
import { budgetBucket, createSharedRateLimiter } from '../../../src/connectors/crm/shared-rate-limit.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { startHubspotServer, type HubspotServer } from './hubspot-server.ts';
import { crmContract } from './port.contract.ts';
import { filePglite } from '../../support/file-pglite.ts';

const database = filePglite(migrate);

/** Runs the calls; moves the clock only while all unsettled calls are asleep on it. */
async function drive<T>(clock: ManualClock, calls: Promise<T>[]): Promise<T[]> {
  let active = calls.length;
  const all = Promise.allSettled(calls.map((c) => c.finally(() => (active -= 1))));
  let settled = false;
  void all.then(() => (settled = true));
  while (!settled) {
    if (active > 0 && clock.pending() >= active) await clock.advance(5);
    else await new Promise((r) => setImmediate(r));
  }
  return Promise.all(calls);
}

/** Redelivers a retryable failure after its retryAfterMs on the clock, as the bus runner does. */
async function asTheBusWould<T>(clock: ManualClock, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (err) {
      const e = err as { retryable?: boolean; retryAfterMs?: number };
      if (e.retryable !== true || attempt >= 5) throw err;
      await clock.sleep(e.retryAfterMs ?? 1000);
    }
  }
}

interface Setup {
  server: HubspotServer;
  clock: ManualClock;
  crm: ReturnType<typeof createHubspotCrm>;
  make(overrides?: Partial<HubspotCrmOptions>): ReturnType<typeof createHubspotCrm>;
}

async function setup(
  t: { after(fn: () => Promise<void>): void },
  budget = { requests: 100, perMs: 10_000 },
  overrides: Partial<HubspotCrmOptions> = {},
): Promise<Setup> {
  const clock = createManualClock(new Date('2026-03-01T00:00:00Z'));
  const server = await startHubspotServer(() => clock.now().getTime());
  t.after(() => server.close());
  const db = await database();
  const bucket = budgetBucket(`hubspot:${randomBytes(4).toString('hex')}`, budget.requests, budget.perMs);
  const make = (more: Partial<HubspotCrmOptions> = {}) =>
    createHubspotCrm(
      { db, clock, limiter: createSharedRateLimiter({ db, clock }, bucket) },
      {
        token: server.token,
        baseUrl: server.baseUrl,
        rateLimit: budget,
        subscriptionId: 7,
        ...overrides,
        ...more,
      },
    );
  return { server, clock, crm: make(), make };
}

crmContract('hubspot', async (t) => {
  const { server, clock, crm } = await setup(t);
  const hubspotIds = new Map<string, string>();
  return {
    crm,
    refuseEngagement: (contactId, message) => server.refuseUpdates(hubspotIds.get(contactId) as string, message),
    async addDeal(deal) {
      const hs = (id: string) => hubspotIds.get(id) as string;
      const id = server.addDeal(
        {
          amount: deal.amount,
          closedate: deal.closedAt.toISOString(),
          dealstage: deal.won === false ? 'contractsent' : 'closedwon',
        },
        deal.dealContactIds.map(hs),
      );
      if (deal.accountContactIds) server.addCompany(deal.accountContactIds.map(hs), [id]);
      return id;
    },
    async changeDeal(dealId, change) {
      await clock.advance(1000);
      server.updateDeal(dealId, {
        ...(change.amount === undefined ? {} : { amount: change.amount }),
        ...(change.won === undefined ? {} : { dealstage: change.won ? 'closedwon' : 'closedlost' }),
      });
    },
    fieldsOf: async (contactId) => server.contact(hubspotIds.get(contactId) as string)?.properties ?? {},
    knownIds(n) {
      const prefix = randomBytes(4).toString('hex');
      return Array.from({ length: n }, (_, i) => {
        const id = `${prefix}-${i}`;
        hubspotIds.set(
          id,
          server.addContact({
            switchyard_contact_id: id,
            email: `${id}@example.com`,
            lifecyclestage: 'customer',
            switchyard_tier: 'smb',
          }),
        );
        return id;
      });
    },
    unknownId: 'nobody-here',
    run: async (p) => (await drive(clock, [p]))[0] as Awaited<typeof p>,
  };
});

test('hubspot: reads by HubSpot id follow a merge to the surviving contact', async (t) => {
  const { server, clock, make } = await setup(t);
  const crm = make({ properties: { idProperty: 'hs_object_id' } });
  const old = server.addContact({ email: 'old@example.com', lifecyclestage: 'lead' });
  const survivor = server.addContact({
    email: 'new@example.com',
    lifecyclestage: 'customer',
    switchyard_tier: 'enterprise',
  });
  server.merge(old, survivor);
  const [found] = await drive(clock, [crm.lookup([old, survivor])]);
  assert.equal(found?.get(old)?.crmId, survivor);
  assert.equal(found?.get(old)?.contactId, old);
  assert.equal(found?.get(old)?.tier, 'enterprise');
  assert.equal(found?.get(survivor)?.crmId, survivor);
  // writes go to the survivor
  await drive(clock, [crm.updateEngagement([{ contactId: old, score: 61, lastEngagedAt: clock.now() }])]);
  assert.equal(server.contact(survivor)?.properties.switchyard_engagement_score, '61');
});

test('hubspot: a record HubSpot refuses in a batch update fails alone, with the vendor message', async (t) => {
  const { server, clock, crm } = await setup(t);
  const good = server.addContact({ switchyard_contact_id: 'c-good' });
  const bad = server.addContact({ switchyard_contact_id: 'c-bad' });
  server.refuseUpdates(bad, 'Property values were not valid: switchyard_engagement_score');
  const at = new Date('2026-03-01T00:00:00Z');
  const [res] = await drive(clock, [
    crm.updateEngagement([
      { contactId: 'c-good', score: 40, lastEngagedAt: at },
      { contactId: 'c-bad', score: 41, lastEngagedAt: at },
      { contactId: 'c-unknown', score: 42, lastEngagedAt: at },
    ]),
  ]);
  assert.deepEqual(res, {
    updated: 1,
    failed: [{ key: 'c-bad', message: 'Property values were not valid: switchyard_engagement_score' }],
  });
  assert.equal(server.contact(good)?.properties.switchyard_last_engaged_at, at.toISOString());
  assert.equal(server.contact(bad)?.properties.switchyard_engagement_score, undefined);
  const update = server.requests.find((r) => r.path === '/crm/v3/objects/contacts/batch/update');
  assert.equal(update?.status, 207);
});

test('hubspot: opting in without a subscription type fails that email alone, named; opt-outs go through', async (t) => {
  const { server, clock, make } = await setup(t);
  const crm = make({ subscriptionId: undefined });
  server.addContact({ switchyard_contact_id: 'c1', email: 'Ann@Example.com' });
  const [res] = await drive(clock, [
    crm.setOptOut([
      { email: 'Ann@Example.com', optedOut: true, reason: 'unsubscribe link' },
      { email: 'bob@example.com', optedOut: false, reason: 're-subscribed' },
    ]),
  ]);
  assert.deepEqual(res?.confirmed, ['Ann@Example.com']);
  assert.deepEqual(res?.failed, [
    { key: 'bob@example.com', message: 'opting in needs SWITCHYARD_HUBSPOT_SUBSCRIPTION_ID' },
  ]);
  assert.ok(server.optedOut.has('ann@example.com'));
  const call = server.requests.find((r) => r.path.includes('unsubscribe-all'));
  assert.deepEqual(call?.body, { inputs: ['ann@example.com'] });
});

test('hubspot: an expired or wrong token is a permanent CRM_AUTH_FAILED that says so', async (t) => {
  const { server, clock, make } = await setup(t);
  server.expireToken();
  const [err] = await drive(clock, [
    make()
      .lookup(['x'])
      .catch((e: unknown) => e),
  ]);
  assert.equal((err as { code: string }).code, 'CRM_AUTH_FAILED');
  assert.equal((err as { retryable: boolean }).retryable, false);
  assert.match((err as Error).message, /expired/);
  assert.equal((err as { details: { category: string } }).details.category, 'EXPIRED_AUTHENTICATION');
  const [wrong] = await drive(clock, [
    make({ token: 'pat-na1-wrong' })
      .lookup(['x'])
      .catch((e: unknown) => e),
  ]);
  assert.equal((wrong as { code: string }).code, 'CRM_AUTH_FAILED');
});

test('hubspot: the daily allowance is read from the rate-limit headers', async (t) => {
  const { clock, crm } = await setup(t);
  await drive(clock, [crm.lookup(['a']), crm.lookup(['b'])]);
  const usage = crm.usage();
  assert.equal(usage.dailyLimit, 250_000);
  assert.equal(usage.dailyRemaining, 249_998);
  assert.equal(usage.intervalLimit, 100);
  assert.equal(usage.requests, 2);
});

test('hubspot: a daily-limit 429 is not retried: CRM_UNAVAILABLE with the Retry-After', async (t) => {
  const { server, clock, crm } = await setup(t);
  server.throttle(1, 1800, 'DAILY');
  const [err] = await drive(clock, [crm.lookup(['a']).catch((e: unknown) => e)]);
  assert.equal((err as { code: string }).code, 'CRM_UNAVAILABLE');
  assert.equal((err as { retryable: boolean }).retryable, true);
  assert.equal((err as { retryAfterMs: number }).retryAfterMs, 1_800_000);
  assert.equal(server.requests.length, 1);
});

test('hubspot: 429 + Retry-After for a while slows two processes down; nothing lost; the budget holds', async (t) => {
  const budget = { requests: 10, perMs: 10_000 };
  const { server, clock, make } = await setup(t, budget);
  const ids = Array.from({ length: 1500 }, (_, i) => `p-${i}`);
  for (const id of ids) server.addContact({ switchyard_contact_id: id, lifecyclestage: 'customer' });
  server.throttle(9, 3);
  // two processes: separate adapters and batchers, one bucket row in the store
  const a = createCrmBatcher(make(), { clock });
  const b = createCrmBatcher(make(), { clock });
  const [first, second] = await drive(clock, [
    asTheBusWould(clock, () => a.lookup(ids.slice(0, 800))),
    asTheBusWould(clock, () => b.lookup(ids.slice(800))),
  ]);
  assert.equal((first?.size ?? 0) + (second?.size ?? 0), 1500);
  const times = server.requests.map((r) => r.at);
  assert.equal(server.requests.filter((r) => r.status === 429).length, 9);
  assert.ok(server.requests.filter((r) => r.status === 200).length >= 15);
  for (const start of times) {
    const inWindow = times.filter((x) => x >= start && x < start + budget.perMs).length;
    assert.ok(inWindow <= budget.requests, `${inWindow} requests in the 10 s from ${start}`);
  }
  // after the last 429 nobody asked again before its Retry-After had passed
  const last429 = server.requests.filter((r) => r.status === 429).at(-1)?.at ?? 0;
  const next = server.requests.find((r) => r.at > last429 || (r.at === last429 && r.status !== 429));
  assert.ok(next !== undefined && next.at - last429 >= 3000, `next request ${next?.at} after 429 at ${last429}`);
});
