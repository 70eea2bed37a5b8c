/**
 * Salesforce adapter against a local Salesforce (salesforce-server.ts): the CRM contract, OAuth
 * (client credentials and JWT bearer), one token refresh on INVALID_SESSION_ID, the daily budget
 * (Sforce-Limit-Info above 80 %, REQUEST_LIMIT_EXCEEDED), SOQL chunking and escaping, and change
 * polling by SystemModstamp keyset with a watermark that survives a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createManualClock, type ManualClock } from '../../../src/clock/manual.ts';
import type { CrmContactChange } from '../../../src/connectors/crm/port.ts';
import { createSalesforceCrm, type SalesforceCrmOptions } from '../../../src/connectors/crm/salesforce/adapter.ts';
import { createSalesforceChangePoller } from '../../../src/connectors/crm/salesforce/changes.ts';
import { budgetBucket, createSharedRateLimiter } from '../../../src/connectors/crm/shared-rate-limit.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { startSalesforceServer, type SalesforceServer } from './salesforce-server.ts';
import { crmContract } from './port.contract.ts';
import { filePglite } from '../../support/file-pglite.ts';

const database = filePglite(migrate);

/** Runs the call; moves the clock only while it is asleep on it (the limiter's waits). */
async function drive<T>(clock: ManualClock, call: Promise<T>): Promise<T> {
  let settled = false;
  const done = call.finally(() => (settled = true));
  done.catch(() => undefined);
  while (!settled) {
    if (clock.pending() > 0) await clock.advance(5);
    else await new Promise((r) => setImmediate(r));
  }
  return done;
}

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicKeyPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const privateKeyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const clock = createManualClock(new Date('2026-03-01T00:00:00Z'));
  const server: SalesforceServer = await startSalesforceServer({ now: () => clock.now(), publicKeyPem });
  t.after(() => server.close());
  const db = await database();
  const bucket = budgetBucket(`salesforce:${randomBytes(4).toString('hex')}`, 25, 1000);
  const make = (more: Partial<SalesforceCrmOptions> = {}) =>
    createSalesforceCrm(
      { db, clock, limiter: createSharedRateLimiter({ db, clock }, bucket) },
      {
        loginUrl: server.baseUrl,
        apiVersion: '62.0',
        credentials: { flow: 'client-credentials', clientId: server.clientId, clientSecret: server.clientSecret },
        rateLimit: { requests: 25, perMs: 1000 },
        ...more,
      },
    );
  return { clock, server, db, make, crm: make() };
}

crmContract('salesforce', async (t) => {
  const { server, clock, crm } = await setup(t);
  const sfIds = new Map<string, string>();
  return {
    crm,
    refuseEngagement: (contactId, message) => server.refuseUpdates(sfIds.get(contactId) as string, message),
    async addDeal(deal) {
      const sf = (id: string) => sfIds.get(id) as string;
      const account = deal.accountContactIds ? server.add('Account', { Name: 'Acme GmbH' }) : null;
      for (const c of deal.accountContactIds ?? []) server.touch(sf(c), { AccountId: account });
      const won = deal.won !== false;
      const opp = server.add('Opportunity', {
        Name: 'Renewal',
        Amount: Number(deal.amount),
        CloseDate: deal.closedAt.toISOString().slice(0, 10),
        IsClosed: won,
        IsWon: won,
        StageName: won ? 'Closed Won' : 'Negotiation',
        AccountId: account,
      });
      for (const c of deal.dealContactIds)
        server.add('OpportunityContactRole', { OpportunityId: opp, ContactId: sf(c), IsPrimary: false });
      return opp;
    },
    async changeDeal(dealId, change) {
      await clock.advance(1000);
      server.touch(dealId, {
        ...(change.amount === undefined ? {} : { Amount: Number(change.amount) }),
        ...(change.won === undefined
          ? {}
          : { IsWon: change.won, IsClosed: true, StageName: change.won ? 'Closed Won' : 'Closed Lost' }),
      });
    },
    fieldsOf: async (contactId) => server.record(sfIds.get(contactId) as string) ?? {},
    knownIds(n) {
      const prefix = randomBytes(4).toString('hex');
      return Array.from({ length: n }, (_, i) => {
        const id = `${prefix}-${i}`;
        sfIds.set(
          id,
          server.add('Contact', {
            Switchyard_Contact_Id__c: id,
            Email: `${id}@example.com`,
            Switchyard_Account_Status__c: 'customer',
            Switchyard_Tier__c: 'smb',
          }),
        );
        return id;
      });
    },
    unknownId: 'nobody-here',
    run: (p) => drive(clock, p),
  };
});

test('salesforce: the JWT bearer flow signs an RS256 assertion the token endpoint verifies', async (t) => {
  const { server, clock, make } = await setup(t);
  server.add('Contact', { Switchyard_Contact_Id__c: 'j1', Switchyard_Tier__c: 'enterprise' });
  const crm = make({
    credentials: { flow: 'jwt-bearer', clientId: server.clientId, username: server.username, privateKeyPem },
  });
  const found = await drive(clock, crm.lookup(['j1']));
  assert.equal(found.get('j1')?.tier, 'enterprise');
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const forged = make({
    credentials: {
      flow: 'jwt-bearer',
      clientId: server.clientId,
      username: server.username,
      privateKeyPem: String(other),
    },
  });
  const err = await drive(
    clock,
    forged.lookup(['j1']).catch((e: unknown) => e),
  );
  assert.equal((err as { code: string }).code, 'CRM_AUTH_FAILED');
  assert.match((err as Error).message, /invalid assertion/);
});

test('salesforce: an expired session is refreshed once; a revoked app is a clear CRM_AUTH_FAILED', async (t) => {
  const { server, clock, crm } = await setup(t);
  server.add('Contact', { Switchyard_Contact_Id__c: 'r1' });
  await drive(clock, crm.lookup(['r1']));
  assert.equal(server.tokensIssued, 1);
  server.expireSessions();
  assert.equal((await drive(clock, crm.lookup(['r1']))).size, 1);
  assert.equal(server.tokensIssued, 2);
  assert.deepEqual(
    server.requests.slice(-3).map((r) => [r.path.replace(/^\/services\/data\/v62\.0/, ''), r.status]),
    [
      ['/query', 401],
      ['/services/oauth2/token', 200],
      ['/query', 200],
    ],
  );
  server.revokeApp();
  const err = await drive(
    clock,
    crm.lookup(['r1']).catch((e: unknown) => e),
  );
  assert.equal((err as { code: string }).code, 'CRM_AUTH_FAILED');
  assert.equal((err as { retryable: boolean }).retryable, false);
  assert.match((err as Error).message, /app must be installed/);
  // one refused session, one refused token request: no loop
  assert.equal(server.requests.filter((r) => r.status === 401).length, 2);
});

test('salesforce: above 80 % of the daily allocation the adapter stops spending and says when to retry', async (t) => {
  const { server, clock, make } = await setup(t);
  const crm = make({ throttleHoldMs: 60_000 });
  server.add('Contact', { Switchyard_Contact_Id__c: 'u1' });
  server.setUsage(700, 1000);
  await drive(clock, crm.lookup(['u1']));
  assert.deepEqual([crm.usage().dailyLimit, crm.usage().dailyRemaining], [1000, 299]);
  server.setUsage(850, 1000);
  await drive(clock, crm.lookup(['u1'])); // this answer reports 851/1000
  const sent = server.requests.length;
  const err = await drive(
    clock,
    crm.lookup(['u1']).catch((e: unknown) => e),
  );
  assert.equal((err as { code: string }).code, 'CRM_UNAVAILABLE');
  assert.equal((err as { retryable: boolean }).retryable, true);
  assert.ok(
    (err as { retryAfterMs: number }).retryAfterMs > 0 && (err as { retryAfterMs: number }).retryAfterMs <= 60_000,
  );
  assert.equal(server.requests.length, sent, 'nothing was sent while throttled');
  assert.equal(crm.usage().throttled, 1);
  // after the hold one probe goes out; the org's usage fell back (rolling 24 h), so calls flow again
  await clock.advance(60_000);
  server.setUsage(500, 1000);
  assert.equal((await drive(clock, crm.lookup(['u1']))).size, 1);
  assert.equal((await drive(clock, crm.lookup(['u1']))).size, 1);
});

test('salesforce: REQUEST_LIMIT_EXCEEDED is a retryable CRM_UNAVAILABLE, not an auth failure', async (t) => {
  const { server, clock, crm } = await setup(t);
  server.setUsage(1000, 1000);
  const err = await drive(
    clock,
    crm.lookup(['x']).catch((e: unknown) => e),
  );
  assert.equal((err as { code: string }).code, 'CRM_UNAVAILABLE');
  assert.equal((err as { details: { errorCode: string } }).details.errorCode, 'REQUEST_LIMIT_EXCEEDED');
  assert.ok((err as { retryAfterMs: number }).retryAfterMs > 0);
});

test('salesforce: long id lists are split so each query URI stays short; quoted values never break out', async (t) => {
  const { server, clock, crm } = await setup(t);
  const ids = Array.from({ length: 199 }, (_, i) => `${'x'.repeat(120)}-${i}`);
  for (const id of ids.slice(0, 150)) server.add('Contact', { Switchyard_Contact_Id__c: id });
  server.batchSize = 40; // answers come in pages: nextRecordsUrl must be followed
  const hostile = "o'brien\\' OR Name != '";
  server.add('Contact', { Switchyard_Contact_Id__c: hostile });
  const found = await drive(clock, crm.lookup([...ids, hostile]));
  assert.equal(found.size, 151);
  assert.ok(found.has(hostile));
  assert.ok(
    server.requests.some((r) => /\/query\/01g/.test(r.path)),
    'nextRecordsUrl followed',
  );
  const queries = server.requests.filter((r) => r.soql !== undefined);
  assert.ok(queries.length >= 2, `${queries.length} queries`);
  for (const q of queries) assert.ok(encodeURIComponent(q.soql as string).length < 16_000);
  // the hostile value matched only itself: a contact named otherwise is not returned
  server.add('Contact', { Switchyard_Contact_Id__c: 'bystander', Name: 'someone' });
  assert.deepEqual([...(await drive(clock, crm.lookup([hostile]))).keys()], [hostile]);
});

test('salesforce: opt-outs set HasOptedOutOfEmail on contacts and leads with the address', async (t) => {
  const { server, clock, crm } = await setup(t);
  const c = server.add('Contact', { Switchyard_Contact_Id__c: 'o1', Email: 'Ann@Example.com' });
  const l = server.add('Lead', { Email: 'ann@example.com' });
  const res = await drive(clock, crm.setOptOut([{ email: 'ann@example.com', optedOut: true, reason: 'complaint' }]));
  assert.deepEqual(res, { confirmed: ['ann@example.com'] });
  assert.equal(server.record(c)?.HasOptedOutOfEmail, true);
  assert.equal(server.record(l)?.HasOptedOutOfEmail, true);
  server.refuseUpdates(l, 'Lead is locked for approval');
  const back = await drive(clock, crm.setOptOut([{ email: 'ann@example.com', optedOut: false, reason: 'opt-in' }]));
  assert.deepEqual(back, {
    confirmed: [],
    failed: [{ key: 'ann@example.com', message: 'Lead is locked for approval' }],
  });
});

test('salesforce: change polling pages through equal SystemModstamps, sees deletes, resumes on restart', async (t) => {
  const { server, clock, db, crm } = await setup(t);
  const start = new Date('2026-02-28T00:00:00Z');
  const same = new Date('2026-02-28T10:00:00Z');
  const ids = Array.from({ length: 7 }, (_, i) => server.add('Contact', { Switchyard_Contact_Id__c: `w${i}` }, same));
  const seen: CrmContactChange[] = [];
  const name = `sf-${randomBytes(4).toString('hex')}`;
  const poller = () =>
    createSalesforceChangePoller(
      { db, clock, crm, publish: async (c) => void seen.push(...c) },
      { intervalMs: 60_000, pageSize: 3, startAt: start, name },
    );
  assert.equal(await drive(clock, poller().pollOnce()), 7);
  assert.deepEqual(
    seen.map((c) => c.crmId),
    [...ids].sort(),
  );
  assert.ok(seen.every((c) => c.kind === 'created' && c.source === 'salesforce'));
  assert.equal(seen[0]?.contactId, 'w0');
  // nothing new: nothing repeated
  assert.equal(await drive(clock, poller().pollOnce()), 0);
  // "restart": a new poller reads the watermark from the store
  server.touch(ids[2] as string, { Switchyard_Tier__c: 'enterprise' }, new Date('2026-02-28T11:00:00Z'));
  const late = server.add('Contact', { Switchyard_Contact_Id__c: 'w-late' }, same); // equal stamp, higher Id
  server.remove(ids[4] as string, new Date('2026-02-28T12:00:00Z'));
  seen.length = 0;
  assert.equal(await drive(clock, poller().pollOnce()), 3);
  assert.deepEqual(
    seen.map((c) => [c.crmId, c.kind]),
    [
      [late, 'created'],
      [ids[2], 'updated'],
      [ids[4], 'deleted'],
    ],
  );
  assert.equal(seen[1]?.properties.Switchyard_Tier__c, 'enterprise');
  assert.ok(server.requests.some((r) => r.path.endsWith('/queryAll') && /IsDeleted = true/.test(r.soql ?? '')));
  const eventIds = new Set(seen.map((c) => c.eventId));
  assert.equal(eventIds.size, 3);
});

test('salesforce: a publish failure leaves the watermark where it was, so the page is read again', async (t) => {
  const { server, clock, db, crm } = await setup(t);
  const name = `sf-${randomBytes(4).toString('hex')}`;
  const at = new Date('2026-02-28T10:00:00Z');
  server.add('Contact', { Switchyard_Contact_Id__c: 'f1' }, at);
  const failing = createSalesforceChangePoller(
    {
      db,
      clock,
      crm,
      publish: async () => {
        throw new Error('bus down');
      },
    },
    { intervalMs: 1000, startAt: new Date('2026-02-28T00:00:00Z'), name },
  );
  await assert.rejects(drive(clock, failing.pollOnce()), /bus down/);
  const seen: CrmContactChange[] = [];
  const ok = createSalesforceChangePoller(
    { db, clock, crm, publish: async (c) => void seen.push(...c) },
    { intervalMs: 1000, name },
  );
  assert.equal(await drive(clock, ok.pollOnce()), 1);
  assert.equal(seen[0]?.contactId, 'f1');
});

test('salesforce: the poll loop outlives a refused poll and waits for the hold-off before the next', async (t) => {
  const { server, clock, db, crm } = await setup(t);
  server.setUsage(1000, 1000);
  const warnings: string[] = [];
  const poller = createSalesforceChangePoller(
    { db, clock, crm, publish: async () => undefined, log: { warn: (_o, msg) => void warnings.push(msg) } },
    { intervalMs: 1000, name: `sf-${randomBytes(4).toString('hex')}` },
  );
  const stop = new AbortController();
  const running = poller.run(stop.signal);
  while (clock.pending() === 0 || warnings.length === 0) await new Promise((r) => setImmediate(r));
  assert.deepEqual(warnings, ['Salesforce change poll failed; will retry']);
  const sent = server.requests.length;
  await clock.advance(60_000); // well past the poll interval, inside the 15 min hold-off
  for (let i = 0; i < 20; i += 1) await new Promise((r) => setImmediate(r));
  assert.equal(server.requests.length, sent, 'no request before the hold-off is over');
  assert.equal(warnings.length, 1, 'the loop slept through the hold-off instead of polling every interval');
  stop.abort();
  await running;
});
