/**
 * CRM closed-won deals into revenue (src/billing/crm-deals.ts) through the demo CRM on the real
 * store (PGlite): a deal on an account becomes equal shares over the account's and the deal's
 * contacts that sum exactly to the amount, each linked to its contact; a deal is stored once, so a
 * rerun, or a later change of the account's contacts, adds nothing; reading resumes after the last
 * deal; a deal with no known contact is kept unlinked on its account.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { syncCrmDeals } from '../../src/billing/crm-deals.ts';
import { createBillingService } from '../../src/billing/service.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { createDemoCrm, ensureDemoCrmSchema } from '../../src/connectors/crm/demo/adapter.ts';
import { insertDemoDeal } from '../../src/connectors/crm/demo/queries.ts';
import { splitDeal } from '../../src/core/attribution/deal-split.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

const clock = createManualClock(new Date('2027-02-01T00:00:00Z'));
const since = new Date('2027-01-01T00:00:00Z');
let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  await ensureDemoCrmSchema(db);
});
after(() => db.close());

const sync = (pageSize = 2) =>
  syncCrmDeals(
    { db, clock, billing: createBillingService({ db, clock }), crm: createDemoCrm({ db, clock }) },
    { since, pageSize },
  );

async function conversions(prefix: string) {
  const r = await db.query<{ id: string; amount_minor: string; customer_id: string | null; contact_id: string | null }>(
    `select c.id, c.amount_minor::text, c.customer_id, l.contact_id
     from billing_conversions c
     left join identity_links l on l.key_kind = 'conversion' and l.key_value = c.id
     where c.id like $1 order by c.id`,
    [`${prefix}%`],
  );
  return r.rows.map((x) => [x.id, Number(x.amount_minor), x.customer_id, x.contact_id]);
}

describe('CRM deals', () => {
  it('splits each deal equally over the account and deal contacts, exactly, and links every share', async () => {
    const day = (n: number) => new Date(Date.UTC(2027, 0, n));
    await insertDemoDeal(db, {
      id: 'd1',
      accountId: 'acme',
      amountMinor: 100_000,
      currency: 'eur',
      closedAt: day(5),
      dealContactIds: ['c-ann', 'c-out'],
      accountContactIds: ['c-bob', 'c-ann'],
    });
    await insertDemoDeal(db, {
      id: 'd2',
      amountMinor: 999,
      currency: 'eur',
      closedAt: day(6),
      dealContactIds: [],
      accountContactIds: [],
    });
    await insertDemoDeal(db, {
      id: 'd0',
      accountId: 'old',
      amountMinor: 5,
      currency: 'eur',
      closedAt: new Date('2026-12-31T00:00:00Z'),
      dealContactIds: ['c-ann'],
      accountContactIds: [],
    });
    const r = await sync();
    // two deals fill the page of 2, so a second (empty) read confirms the end
    assert.deepEqual(r, { pages: 2, deals: 2, accepted: 2, duplicates: 0, conversions: 4 });
    assert.deepEqual(await conversions('crm:demo:deal:'), [
      ['crm:demo:deal:d1:c-ann', 33_334, 'crm:demo:account:acme', 'c-ann'],
      ['crm:demo:deal:d1:c-bob', 33_333, 'crm:demo:account:acme', 'c-bob'],
      ['crm:demo:deal:d1:c-out', 33_333, 'crm:demo:account:acme', 'c-out'],
      // no known contact: kept, unlinked, until an identity appears
      ['crm:demo:deal:d2', 999, null, null],
    ]);
    const source = await db.query<{ source: string }>(
      `select distinct source from billing_conversions where id like 'crm:%'`,
    );
    assert.deepEqual(source.rows, [{ source: 'crm' }]);
  });

  it('a deal is stored once: a full rerun and a new account contact add nothing', async () => {
    await db.query(`update demo_crm_deals set account_contact_ids = account_contact_ids || '{c-new}' where id = 'd1'`);
    await db.query(`delete from billing_sync_cursors where source = 'crm'`);
    const r = await sync();
    assert.equal(r.accepted, 0);
    assert.equal(r.duplicates, 2);
    assert.equal((await conversions('crm:demo:deal:d1')).length, 3);
  });

  it('a later poll reads only deals after the saved position', async () => {
    await insertDemoDeal(db, {
      id: 'd3',
      accountId: 'acme',
      amountMinor: 10,
      currency: 'eur',
      closedAt: new Date('2027-01-20T00:00:00Z'),
      dealContactIds: ['c-ann'],
      accountContactIds: [],
    });
    const r = await sync();
    assert.deepEqual({ deals: r.deals, accepted: r.accepted }, { deals: 1, accepted: 1 });
    assert.deepEqual(await conversions('crm:demo:deal:d3'), [
      ['crm:demo:deal:d3:c-ann', 10, 'crm:demo:account:acme', 'c-ann'],
    ]);
  });

  it('property: shares are whole, differ by at most one unit, and sum to the amount', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.array(fc.string({ minLength: 1, maxLength: 3 }), { maxLength: 8 }),
        fc.array(fc.string({ minLength: 1, maxLength: 3 }), { maxLength: 8 }),
        (amount, deal, account) => {
          const shares = splitDeal(amount, deal, account);
          assert.equal(shares.length, new Set([...deal, ...account]).size);
          if (shares.length === 0) return;
          assert.equal(
            shares.reduce((n, s) => n + s.amountMinor, 0),
            amount,
          );
          const v = shares.map((s) => s.amountMinor);
          assert.ok(Math.max(...v) - Math.min(...v) <= 1 && v.every(Number.isInteger));
        },
      ),
    );
  });
});
