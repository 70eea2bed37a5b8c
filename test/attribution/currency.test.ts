/**
 * Attribution sums one currency's conversions: amounts are minor units of their own currency and
 * are never converted, so a euro conversion is listed apart from a dollar report instead of being
 * added to it (and the other way round). The A/B revenue read keeps to the workspace's currency.
 */
import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import { createAttributionService } from '../../src/attribution/service.ts';
import { createBillingService } from '../../src/billing/service.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { REPORT_MODELS } from '../../src/core/attribution/journeys.ts';
import { migrate } from '../../src/store/migrate.ts';
import type { Db } from '../../src/store/port.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';
import { pgSchemaFixture } from '../support/pg-schema.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-05-01T00:00:00Z');

const dbs: Db[] = [];
const setup = pgSchemaFixture('attr_ccy', async ({ url, schema }) => {
  const db = await createPostgresDb({ url, schema, maxConnections: 2 });
  dbs.push(db);
  await migrate(db);
  return { db };
});
after(async () => {
  for (const db of dbs) await db.close();
});

/** (Once per schema.) Three clicking contacts who pay: 10 000 in usd, 2 500 in USD (a CRM's upper case), 700 in eur. */
async function seed(db: Db): Promise<void> {
  const pays: Array<[string, number, string]> = [
    ['c1', 10_000, 'usd'],
    ['c2', 2_500, 'USD'],
    ['c3', 700, 'eur'],
  ];
  for (const [i, [contact, amount, currency]] of pays.entries()) {
    const clickAt = new Date(T0 + (i + 1) * DAY);
    await db.query(
      `insert into engagement_events (source_id, type, provider, occurred_at, received_at, campaign_id, contact_id,
                                      is_machine, url)
       values ($1, 'clicked', 'test', $2, $2, 'cmp', $3, false, 'https://shop.example.com/') on conflict do nothing`,
      [`click-${contact}`, clickAt, contact],
    );
    const id = `conv-${contact}`;
    await db.query(
      `insert into billing_conversions (id, source, amount_minor, currency, occurred_at, event_id)
       values ($1, 'sql', $2, $3, $4, $1) on conflict do nothing`,
      [id, amount, currency, new Date(clickAt.getTime() + 3_600_000)],
    );
    await db.query(
      `insert into identity_links (key_kind, key_value, contact_id, rule, evidence, created_at)
       values ('conversion', $1, $2, 'test', '{}', $3) on conflict do nothing`,
      [id, contact, clickAt],
    );
  }
}

/** The seeded schema's attribution service (null without PostgreSQL). */
async function seeded(t: TestContext, currency?: string) {
  const f = await setup(t);
  if (f === null) return null;
  const { db } = f;
  await seed(db);
  const billing = createBillingService({ db, clock: createManualClock(new Date(T0)) });
  return createAttributionService({ db, billing, ...(currency ? { currency } : {}) });
}

describe('attribution currency', () => {
  it('a report sums only its currency and lists the others apart, for every model', async (t) => {
    const attribution = await seeded(t);
    if (attribution === null) return;
    const period = { from: new Date(T0), to: new Date(T0 + 10 * DAY), groupBy: 'campaign' as const };
    for (const model of REPORT_MODELS) {
      const usd = await attribution.report({ ...period, model });
      assert.equal(usd.currency, 'usd', model);
      assert.equal(usd.totals.conversions, 2, model);
      assert.equal(usd.totals.netMinor, 12_500, model);
      assert.equal(usd.totals.attributedMinor, 12_500, model);
      assert.deepEqual(usd.otherCurrencies, [{ currency: 'eur', conversions: 1, netMinor: 700 }], model);

      const eur = await attribution.report({ ...period, model, currency: 'EUR' });
      assert.equal(eur.currency, 'eur', model);
      assert.equal(eur.totals.conversions, 1, model);
      assert.equal(eur.totals.netMinor, 700, model);
      assert.equal(Math.round(eur.rows.reduce((s, r) => s + r.valueMinor, 0)), 700, model);
      assert.deepEqual(eur.otherCurrencies, [{ currency: 'usd', conversions: 2, netMinor: 12_500 }], model);
    }
  });

  it("the service's default is the workspace's revenue currency, and the A/B revenue read keeps to it", async (t) => {
    const attribution = await seeded(t, 'EUR');
    if (attribution === null) return;
    const r = await attribution.report({
      from: new Date(T0),
      to: new Date(T0 + 10 * DAY),
      model: 'last',
      groupBy: 'campaign',
    });
    assert.equal(r.currency, 'eur');
    assert.equal(r.totals.netMinor, 700);
    const net = await attribution.netRevenueByContact(['c1', 'c2', 'c3'], new Date(T0));
    assert.deepEqual([...net], [['c3', 700]]);
  });
});
