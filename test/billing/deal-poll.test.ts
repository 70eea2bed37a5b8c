/**
 * The CRM deal poller (src/billing/deal-poll.ts) against the local HubSpot and Salesforce servers,
 * on PGlite and on PostgreSQL (when reachable): an account's closed-won deal becomes equal shares
 * over its contacts that sum to the amount, each linked to its contact; a new amount replaces the
 * shares; a deal moved out of closed-won is reversed (net zero) and restored when won again; a poll
 * that fails mid-page resumes from the last applied page and applies every deal once; re-reading
 * from the start changes nothing; HubSpot searches keep to the Search API's 4 per second;
 * Salesforce answers split by nextRecordsUrl are followed; the stage as app.ts wires it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { createApp } from '../../src/app.ts';
import { pollCrmDeals } from '../../src/billing/deal-poll.ts';
import { loadConfig } from '../../src/config.ts';
import { insertDemoDeal, updateDemoDeal } from '../../src/connectors/crm/demo/queries.ts';
import { REFUNDS_CTE } from '../../src/billing/refunds-sql.ts';
import { createBillingService } from '../../src/billing/service.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { createHubspotCrm } from '../../src/connectors/crm/hubspot/adapter.ts';
import type { Crm } from '../../src/connectors/crm/port.ts';
import { createSalesforceCrm } from '../../src/connectors/crm/salesforce/adapter.ts';
import { budgetBucket, createSharedRateLimiter } from '../../src/connectors/crm/shared-rate-limit.ts';
import type { Db } from '../../src/store/port.ts';
import { type HubspotServer, startHubspotServer } from '../connectors/crm/hubspot-server.ts';
import { type SalesforceServer, startSalesforceServer } from '../connectors/crm/salesforce-server.ts';
import { testDatabases } from '../support/databases.ts';

const SETTLE_MS = 60_000;
let db: Db;

/** Runs the call; moves the clock only while it is asleep on it (the rate limiters' waits). */
async function drive<T>(clock: ManualClock, call: Promise<T>): Promise<T> {
  let settled = false;
  const done = call.finally(() => {
    settled = true;
  });
  done.catch(() => undefined);
  while (!settled) {
    if (clock.pending() > 0) await clock.advance(5);
    else await new Promise((r) => setImmediate(r));
  }
  return done;
}

/** A deal's shares: [contact, gross, net] by contact, net after reversals as attribution nets it. */
async function shares(crm: string, dealId: string): Promise<Array<[string | null, number, number]>> {
  const r = await db.query<{ contact_id: string | null; gross: string; net: string }>(
    `with ${REFUNDS_CTE}
     select l.contact_id, c.amount_minor::text as gross,
            (c.amount_minor - least(coalesce(rf.refunded, 0), c.amount_minor))::text as net
     from billing_conversions c
     left join refunds rf on rf.conversion_id = c.id
     left join identity_links l on l.key_kind = 'conversion' and l.key_value = c.id
     where c.event_id = $1 order by l.contact_id`,
    [`crm:${crm}:deal:${dealId}`],
  );
  return r.rows.map((x) => [x.contact_id, Number(x.gross), Number(x.net)]);
}

function poller(clock: ManualClock, crm: Crm, pageSize = 2) {
  const billing = createBillingService({ db, clock });
  return () => drive(clock, pollCrmDeals({ db, clock, billing, crm }, { settleMs: SETTLE_MS, pageSize }));
}

for (const tdb of await testDatabases()) {
  describe(`CRM deal poller (${tdb.label})`, { skip: tdb.skip }, () => {
    let passed = 0;
    before(async () => {
      db = await tdb.open();
    });
    after(async () => {
      await tdb.close(passed === 11);
    });
    describe('CRM deal poller: HubSpot', () => {
      let server: HubspotServer;
      let clock: ManualClock;
      let poll: ReturnType<typeof poller>;
      const ids = new Map<string, string>(); // our contact id → HubSpot id
      const contact = (id: string) => {
        const hs = server.addContact({ switchyard_contact_id: id, email: `${id}@example.com` });
        ids.set(id, hs);
        return hs;
      };

      before(async () => {
        clock = createManualClock(new Date('2027-03-01T00:00:00Z'));
        server = await startHubspotServer(() => clock.now().getTime());
        const tag = randomBytes(4).toString('hex');
        const crm = createHubspotCrm(
          {
            db,
            clock,
            limiter: createSharedRateLimiter({ db, clock }, budgetBucket(`hubspot:${tag}`, 100, 10_000)),
            searchLimiter: createSharedRateLimiter({ db, clock }, budgetBucket(`hubspot-search:${tag}`, 4, 1000)),
          },
          { token: server.token, baseUrl: server.baseUrl, rateLimit: { requests: 100, perMs: 10_000 }, maxAttempts: 1 },
        );
        poll = poller(clock, crm);
      });
      after(() => server.close());

      let acme = '';
      it("spreads an account's deal over the account's and the deal's contacts, exactly, each linked", async () => {
        const [ann, bob, cyd, out] = ['hs-ann', 'hs-bob', 'hs-cyd', 'hs-out'].map(contact) as string[];
        acme = server.addDeal({ amount: '1000', closedate: '2027-02-20T00:00:00.000Z', dealstage: 'closedwon' }, [
          ann!,
          out!,
        ]);
        server.addCompany([ann!, bob!, cyd!], [acme]);
        server.addDeal({ amount: '70', closedate: '2027-02-21T00:00:00.000Z', dealstage: 'appointmentscheduled' }, [
          ann!,
        ]);
        await clock.advance(SETTLE_MS + 1000);
        const r = await poll();
        assert.deepEqual({ changes: r.changes, won: r.won, reversed: r.reversed }, { changes: 2, won: 1, reversed: 0 });
        assert.deepEqual(await shares('hubspot', acme), [
          ['hs-ann', 25_000, 25_000],
          ['hs-bob', 25_000, 25_000],
          ['hs-cyd', 25_000, 25_000],
          ['hs-out', 25_000, 25_000],
        ]);
        passed++;
      });

      it('applies a new amount to every share, and a second poll with nothing new changes nothing', async () => {
        server.updateDeal(acme, { amount: '1000.03' });
        await clock.advance(SETTLE_MS + 1000);
        const r = await poll();
        assert.equal(r.won, 1);
        assert.deepEqual(await shares('hubspot', acme), [
          ['hs-ann', 25_001, 25_001],
          ['hs-bob', 25_001, 25_001],
          ['hs-cyd', 25_001, 25_000 + 1],
          ['hs-out', 25_000, 25_000],
        ]);
        assert.deepEqual(await poll(), { pages: 1, changes: 0, won: 0, reversed: 0, unchanged: 0 });
        passed++;
      });

      it('reverses a deal moved out of closed-won and restores it when won again', async () => {
        server.updateDeal(acme, { dealstage: 'closedlost' });
        await clock.advance(SETTLE_MS + 1000);
        assert.equal((await poll()).reversed, 1);
        const reversed = await shares('hubspot', acme);
        assert.deepEqual(
          reversed.map(([, , net]) => net),
          [0, 0, 0, 0],
        );
        assert.equal(
          reversed.reduce((n, [, gross]) => n + gross, 0),
          100_003,
        );
        server.updateDeal(acme, { dealstage: 'closedwon', amount: '400' });
        await clock.advance(SETTLE_MS + 1000);
        assert.equal((await poll()).won, 1);
        assert.deepEqual(
          (await shares('hubspot', acme)).map(([, , net]) => net),
          [10_000, 10_000, 10_000, 10_000],
        );
        passed++;
      });

      it('waits out the settle time: a deal changed moments ago is left for the next poll', async () => {
        server.updateDeal(acme, { amount: '800' });
        await clock.advance(SETTLE_MS - 5000);
        assert.equal((await poll()).changes, 0);
        await clock.advance(10_000);
        assert.equal((await poll()).won, 1);
        assert.equal((await shares('hubspot', acme))[0]?.[1], 20_000);
        passed++;
      });

      it('resumes after a failure mid-page from the last applied page, applying each deal once', async () => {
        const made = Array.from({ length: 5 }, (_, i) => {
          const c = contact(`hs-new-${i}`);
          return server.addDeal(
            { amount: String(10 * (i + 1)), closedate: '2027-02-25T00:00:00.000Z', dealstage: 'closedwon' },
            [c],
          );
        });
        await clock.advance(SETTLE_MS + 1000);
        const searches = () => server.requests.filter((q) => q.path === '/crm/v3/objects/deals/search').length;
        // page 1 (2 deals) is applied; page 2's search answers, then its first association read fails
        server.failPath('/crm/v4/associations/deals/contacts/batch/read', 1);
        const failed = await poll().catch((e: unknown) => e);
        assert.equal((failed as { code?: string }).code, 'CRM_UNAVAILABLE');
        server.clearFailures();
        assert.deepEqual(
          (await shares('hubspot', made[0]!)).map(([, g]) => g),
          [1000],
        );
        assert.deepEqual(await shares('hubspot', made[2]!), []);
        const searchesBefore = searches();
        const again = await poll();
        assert.deepEqual({ changes: again.changes, won: again.won }, { changes: 3, won: 3 });
        // page 1 is not read again: the five share one modified time, so the first search reads that
        // time's deals by id, after page 1's last
        const resumed = server.requests.filter((q) => q.path === '/crm/v3/objects/deals/search')[searchesBefore];
        const { filterGroups, sorts } = resumed!.body as {
          filterGroups: { filters: { propertyName: string; operator: string; value: string }[] }[];
          sorts: { propertyName: string }[];
        };
        assert.deepEqual(
          filterGroups[0]!.filters.find((f) => f.propertyName === 'hs_object_id'),
          { propertyName: 'hs_object_id', operator: 'GT', value: made[1] },
        );
        assert.deepEqual(
          sorts.map((x) => x.propertyName),
          ['hs_object_id'],
        );
        assert.ok(searches() - searchesBefore >= 2);
        for (const [i, d] of made.entries())
          assert.deepEqual(
            (await shares('hubspot', d)).map(([c, g]) => [c, g]),
            [[`hs-new-${i}`, 1000 * (i + 1)]],
          );
        passed++;
      });

      it('re-reading every deal from the start is idempotent by deal id', async () => {
        const snapshot = await db.query(
          `select id, amount_minor from billing_conversions where source = 'crm' order by id`,
        );
        await db.query(`delete from billing_sync_cursors where source = 'crm' and stream = 'hubspot:changes'`);
        const r = await poll();
        assert.equal(r.won + r.reversed, 0);
        assert.equal(r.unchanged, r.changes);
        assert.deepEqual(
          (await db.query(`select id, amount_minor from billing_conversions where source = 'crm' order by id`)).rows,
          snapshot.rows,
        );
        passed++;
      });

      it('keeps HubSpot deal searches within 4 per second', () => {
        const at = server.requests.filter((q) => q.path === '/crm/v3/objects/deals/search').map((q) => q.at);
        assert.ok(at.length > 10);
        for (let i = 4; i < at.length; i++)
          assert.ok(at[i]! - at[i - 4]! >= 1000, `5 searches within a second at ${i}`);
        passed++;
      });
    });

    describe('CRM deal poller: Salesforce', () => {
      let server: SalesforceServer;
      let clock: ManualClock;
      let poll: ReturnType<typeof poller>;
      const contact = (id: string, accountId: string | null = null) =>
        server.add('Contact', { Email: `${id}@example.com`, Switchyard_Contact_Id__c: id, AccountId: accountId });

      before(async () => {
        clock = createManualClock(new Date('2027-03-01T00:00:00Z'));
        server = await startSalesforceServer({ now: () => clock.now() });
        server.batchSize = 2; // answers split by nextRecordsUrl
        const crm = createSalesforceCrm(
          {
            db,
            clock,
            limiter: createSharedRateLimiter(
              { db, clock },
              budgetBucket(`sf:${randomBytes(4).toString('hex')}`, 25, 1000),
            ),
          },
          {
            loginUrl: server.baseUrl,
            apiVersion: '62.0',
            credentials: { flow: 'client-credentials', clientId: server.clientId, clientSecret: server.clientSecret },
            rateLimit: { requests: 25, perMs: 1000 },
          },
        );
        poll = poller(clock, crm, 3);
      });
      after(() => server.close());

      it('spreads an Opportunity over its Account and roles, applies a new amount, reverses a loss', async () => {
        const account = server.add('Account', { Name: 'Acme GmbH' });
        for (const id of ['sf-ann', 'sf-bob']) contact(id, account);
        const outside = contact('sf-out');
        const opp = server.add('Opportunity', {
          Name: 'Renewal',
          Amount: 900,
          CloseDate: '2027-02-20',
          IsClosed: true,
          IsWon: true,
          StageName: 'Closed Won',
          AccountId: account,
        });
        server.add('OpportunityContactRole', { OpportunityId: opp, ContactId: outside, IsPrimary: true });
        for (let i = 0; i < 4; i++)
          server.add('Opportunity', { Name: `Open ${i}`, Amount: 5, CloseDate: '2027-03-20', IsWon: false });
        await clock.advance(SETTLE_MS + 1000);
        const first = await poll();
        assert.deepEqual({ pages: first.pages, won: first.won }, { pages: 2, won: 1 });
        assert.deepEqual(await shares('salesforce', opp), [
          ['sf-ann', 30_000, 30_000],
          ['sf-bob', 30_000, 30_000],
          ['sf-out', 30_000, 30_000],
        ]);
        server.touch(opp, { Amount: 300 });
        await clock.advance(SETTLE_MS + 1000);
        assert.equal((await poll()).won, 1);
        assert.deepEqual(
          (await shares('salesforce', opp)).map(([, g, n]) => [g, n]),
          [
            [10_000, 10_000],
            [10_000, 10_000],
            [10_000, 10_000],
          ],
        );
        server.touch(opp, { IsWon: false, StageName: 'Closed Lost' });
        await clock.advance(SETTLE_MS + 1000);
        assert.equal((await poll()).reversed, 1);
        assert.deepEqual(
          (await shares('salesforce', opp)).map(([, , n]) => n),
          [0, 0, 0],
        );
        const soql = server.requests
          .map((q) => q.soql ?? '')
          .filter((q) => q.startsWith('SELECT Id, Amount, CloseDate'));
        assert.ok(soql.every((q) => /WHERE SystemModstamp < \S+/.test(q) && /ORDER BY SystemModstamp, Id/.test(q)));
        passed++;
      });

      it('resumes after a failure mid-page from the last applied page, applying each Opportunity once', async () => {
        const made = Array.from({ length: 4 }, (_, i) => {
          const c = contact(`sf-new-${i}`);
          const opp = server.add('Opportunity', {
            Name: `New ${i}`,
            Amount: i + 1,
            CloseDate: '2027-02-25',
            IsClosed: true,
            IsWon: true,
            StageName: 'Closed Won',
          });
          server.add('OpportunityContactRole', { OpportunityId: opp, ContactId: c, IsPrimary: true });
          return opp;
        });
        await clock.advance(SETTLE_MS + 1000);
        // page 1 (3 Opportunities) is applied; page 2's contact-role query fails
        server.failQueries('SELECT OpportunityId, ContactId FROM OpportunityContactRole', 1);
        const failed = await poll().catch((e: unknown) => e);
        assert.equal((failed as { code?: string }).code, 'CRM_UNAVAILABLE');
        server.clearFailures();
        assert.equal((await shares('salesforce', made[0]!)).length, 1);
        assert.deepEqual(await shares('salesforce', made[3]!), []);
        const r = await poll();
        assert.equal(r.won, 1);
        for (const [i, opp] of made.entries())
          assert.deepEqual(
            (await shares('salesforce', opp)).map(([c, g]) => [c, g]),
            [[`sf-new-${i}`, 100 * (i + 1)]],
          );
        assert.equal((await poll()).changes, 0);
        passed++;
      });
    });

    describe('CRM deal poller: the crm-deals stage as app.ts wires it (demo CRM)', () => {
      const env = {
        SWITCHYARD_TRACKING_SECRET: 'test-secret',
        SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
        SWITCHYARD_CRM: 'demo',
        SWITCHYARD_ANOMALY_GRANULARITIES: '',
      };

      it('runs the stage with a CRM, and `billing poll-deals` applies won deals and reversals', async () => {
        const clock = createManualClock(new Date('2027-05-01T00:00:00Z'));
        const app = await createApp(loadConfig(env), { db, clock, log: pino({ level: 'silent' }) });
        try {
          assert.ok(app.stages.some((s) => s.name === 'crm-deals'));
          await insertDemoDeal(db, {
            id: 'demo-1',
            accountId: 'acme',
            amountMinor: 600,
            currency: 'eur',
            closedAt: new Date('2027-04-20T00:00:00Z'),
            dealContactIds: ['c-1'],
            accountContactIds: ['c-2', 'c-3'],
          });
          assert.equal((await app.billingReaders.pollDeals()).won, 1);
          assert.deepEqual(
            (await shares('demo', 'demo-1')).map(([c, g]) => [c, g]),
            [
              ['c-1', 200],
              ['c-2', 200],
              ['c-3', 200],
            ],
          );
          await updateDemoDeal(db, 'demo-1', { won: false }, new Date('2027-04-30T00:00:00Z'));
          assert.equal((await app.billingReaders.pollDeals()).reversed, 1);
          assert.deepEqual(
            (await shares('demo', 'demo-1')).map(([, , n]) => n),
            [0, 0, 0],
          );
        } finally {
          await app.close();
        }
        passed++;
      });

      it('has no crm-deals stage without a CRM or with the poll interval at 0', async () => {
        const clock = createManualClock(new Date('2027-05-01T00:00:00Z'));
        for (const over of [{ SWITCHYARD_CRM: 'none' }, { SWITCHYARD_CRM_DEALS_POLL_INTERVAL_MS: '0' }]) {
          const app = await createApp(loadConfig({ ...env, ...over }), { db, clock, log: pino({ level: 'silent' }) });
          try {
            assert.ok(!app.stages.some((s) => s.name === 'crm-deals'));
          } finally {
            await app.close();
          }
        }
        passed++;
      });
    });
  });
}
