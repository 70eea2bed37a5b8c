/**
 * `runBillingBackfill` over Stripe's list endpoints, against a local server speaking Stripe's wire
 * format (test/support/fake-stripe.ts: Bearer key, list envelope, starting_after/has_more, 429 with
 * Retry-After, 500s) on the real store (PGlite): every page is read and applied through the
 * webhook's idempotent path, a rerun is all duplicates, Retry-After is waited on the injected clock,
 * a failed run resumes from its saved position, unreadable objects are dead-lettered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type BackfillOptions, runBillingBackfill } from '../../src/billing/backfill.ts';
import { createBillingService } from '../../src/billing/service.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { createStripeBackfillSource } from '../../src/connectors/billing/stripe/backfill.ts';
import { stripeRevenueFacts } from '../../src/connectors/billing/stripe/revenue.ts';
import type { SwitchyardError } from '../../src/core/errors.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { type FakeStripe, startFakeStripe } from '../support/fake-stripe.ts';

const T = 1_780_000_000;
let db: Db;
let stripe: FakeStripe;
const clock: ManualClock = createManualClock(new Date(T * 1000 + 86_400_000));

before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  stripe = await startFakeStripe();
});
after(async () => {
  await stripe.close();
  await db.close();
});

function backfill(options: BackfillOptions & { secretKey?: string } = {}) {
  const billing = createBillingService({ db, clock });
  const bus = createPostgresLogBus({ db, clock });
  const source = createStripeBackfillSource({
    secretKey: options.secretKey ?? stripe.secretKey,
    baseUrl: stripe.baseUrl,
    clock,
  });
  return runBillingBackfill(
    { db, clock, billing, source, facts: stripeRevenueFacts, deadLetters: bus.deadLetters },
    { pageSize: 2, ...options },
  );
}

/** Runs work to the end, moving the clock whenever it waits (a 429's Retry-After, a backoff). */
async function drive<T>(work: Promise<T>): Promise<T> {
  let settled = false;
  const done = work.finally(() => {
    settled = true;
  });
  while (!settled) {
    if (clock.pending() > 0) await clock.advance(1_000);
    else await new Promise<void>((r) => setImmediate(r));
  }
  return done;
}

const invoice = (id: string, customer: string, amount: number, created: number, extra = {}) => ({
  id,
  object: 'invoice',
  customer,
  status: 'paid',
  amount_paid: amount,
  currency: 'eur',
  created,
  status_transitions: { paid_at: created + 60 },
  ...extra,
});

async function rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await db.query<T & Record<string, unknown>>(sql, params)).rows;
}

describe('Stripe backfill', () => {
  before(() => {
    stripe.lists.customers.push(
      {
        id: 'cus_bf1',
        object: 'customer',
        email: 'ada@example.com',
        created: T - 900,
        metadata: { sy_contact: 'c-ada' },
      },
      { id: 'cus_bf2', object: 'customer', email: 'bob@example.com', created: T - 800, metadata: {} },
      { id: 'cus_bf3', object: 'customer', created: T - 700, metadata: {} },
    );
    stripe.lists.invoices.push(
      invoice('in_bf1', 'cus_bf1', 1000, T - 500, { charge: 'ch_bf_in1' }),
      invoice('in_bf2', 'cus_bf1', 2000, T - 400),
      invoice('in_bf3', 'cus_bf2', 3000, T - 300),
      invoice('in_bf4', 'cus_bf3', 4000, T - 200),
      invoice('in_bf5', 'cus_bf2', 5000, T - 100),
      invoice('in_bf_open', 'cus_bf2', 7000, T - 50, { status: 'open' }),
      // a negative amount cannot be revenue: dead-lettered, the run goes on
      invoice('in_bf_bad', 'cus_bf2', -5, T - 40),
    );
    stripe.lists.charges.push(
      {
        id: 'ch_bf_in1',
        object: 'charge',
        customer: 'cus_bf1',
        invoice: 'in_bf1',
        status: 'succeeded',
        amount: 1000,
        amount_captured: 1000,
        amount_refunded: 400,
        currency: 'eur',
        created: T - 500,
      },
      {
        id: 'ch_bf_once',
        object: 'charge',
        customer: 'cus_bf2',
        status: 'succeeded',
        amount: 900,
        amount_captured: 900,
        amount_refunded: 0,
        currency: 'eur',
        created: T - 450,
      },
      {
        id: 'ch_bf_failed',
        object: 'charge',
        customer: 'cus_bf2',
        status: 'failed',
        amount: 800,
        amount_refunded: 0,
        currency: 'eur',
        created: T - 440,
      },
      { object: 'charge', status: 'succeeded', created: T - 430 },
    );
    stripe.lists.subscriptions.push(
      {
        id: 'sub_bf1',
        object: 'subscription',
        customer: 'cus_bf1',
        status: 'active',
        created: T - 600,
        items: { data: [{ price: { id: 'price_pro', unit_amount: 2000, currency: 'eur' } }] },
      },
      { id: 'sub_bf2', object: 'subscription', customer: 'cus_bf2', status: 'canceled', created: T - 590, items: {} },
    );
  });

  it('pages every list with starting_after and applies paid invoices, charges, refunds, subscriptions', async () => {
    stripe.throttle(1);
    const before = clock.now().getTime();
    const r = await drive(backfill());
    // the first request was answered 429 Retry-After: 2, waited on our clock
    assert.equal(r.streams[0]?.waits, 1);
    assert.ok(clock.now().getTime() - before >= 2_000);
    const by = Object.fromEntries(r.streams.map((s) => [s.stream, s]));
    assert.deepEqual(Object.fromEntries(r.streams.map((s) => [s.stream, [s.pages, s.objects, s.invalid]])), {
      customers: [2, 3, 0],
      invoices: [3, 6, 1],
      charges: [2, 4, 1],
      subscriptions: [1, 2, 0],
    });
    assert.equal(by.invoices?.accepted, 5);

    const lists = stripe.requests.filter((q) => q.path === '/v1/invoices');
    assert.deepEqual(
      lists.map((q) => [q.query.get('starting_after'), q.query.get('status'), q.query.get('limit')]),
      [
        [null, 'paid', '2'],
        ['in_bf5', 'paid', '2'],
        ['in_bf3', 'paid', '2'],
      ],
    );
    const subs = stripe.requests.filter((q) => q.path === '/v1/subscriptions');
    assert.equal(subs[0]?.query.get('status'), 'all');

    const conv = await rows<{ id: string; amount_minor: string }>(
      `select id, amount_minor::text from billing_conversions where id like 'stripe:%bf%' order by id`,
    );
    assert.deepEqual(
      conv.map((c) => [c.id, Number(c.amount_minor)]),
      [
        ['stripe:charge:ch_bf_once', 900],
        ['stripe:invoice:in_bf1', 1000],
        ['stripe:invoice:in_bf2', 2000],
        ['stripe:invoice:in_bf3', 3000],
        ['stripe:invoice:in_bf4', 4000],
        ['stripe:invoice:in_bf5', 5000],
      ],
    );
    // the charge of an invoice refunds the invoice's conversion, not a second conversion
    const refunds = await rows<{ conversion_id: string; refunded_minor: string }>(
      `select conversion_id, refunded_minor::text from billing_refunds where charge_id = 'ch_bf_in1'`,
    );
    assert.deepEqual(
      refunds.map((x) => [x.conversion_id, Number(x.refunded_minor)]),
      [['stripe:invoice:in_bf1', 400]],
    );
    const subscriptions = await rows<{ id: string; status: string; plan: string | null }>(
      `select id, status, plan from billing_subscriptions where id like 'sub_bf%' order by id`,
    );
    assert.deepEqual(
      subscriptions.map((s) => [s.id, s.status, s.plan]),
      [
        ['sub_bf1', 'active', 'price_pro'],
        ['sub_bf2', 'canceled', null],
      ],
    );
    // identity: the customer's metadata.sy_contact links its invoices
    const links = await rows<{ key_value: string; contact_id: string }>(
      `select key_value, contact_id from identity_links where key_kind = 'conversion' and key_value like '%in_bf%'
       order by key_value`,
    );
    assert.deepEqual(
      links.map((l) => [l.key_value, l.contact_id]),
      [
        ['stripe:invoice:in_bf1', 'c-ada'],
        ['stripe:invoice:in_bf2', 'c-ada'],
      ],
    );
    const bus = createPostgresLogBus({ db, clock });
    const dead = await bus.deadLetters.list({ stage: 'backfill.stripe' });
    assert.equal(dead.length, 2);
    assert.ok(dead.every((d) => d.code === 'WEBHOOK_PAYLOAD_INVALID'));
    assert.deepEqual(
      dead.map((d) => (d.payload as { objectId: string | null }).objectId).sort(),
      [null, 'in_bf_bad'].sort(),
    );
  });

  it('a second run is all duplicates: the same objects change nothing', async () => {
    const before = await rows<{ n: number }>(`select count(*)::int as n from billing_events`);
    const r = await drive(backfill());
    assert.ok(r.streams.every((s) => !s.resumed && s.accepted === 0));
    assert.equal(r.streams.find((s) => s.stream === 'invoices')?.duplicates, 5);
    const afterRun = await rows<{ n: number }>(`select count(*)::int as n from billing_events`);
    assert.deepEqual(afterRun, before);
  });

  it('a further refund on a charge read again applies: the refunded amount grows, nothing else', async () => {
    const charge = stripe.lists.charges.find((c) => c.id === 'ch_bf_in1') as Record<string, unknown>;
    charge.amount_refunded = 1000;
    const r = await drive(backfill({ streams: ['charges'] }));
    assert.equal(r.streams[0]?.accepted, 2); // charge.succeeded and charge.refunded of the new version
    const refunds = await rows<{ refunded_minor: string }>(
      `select refunded_minor::text from billing_refunds where charge_id = 'ch_bf_in1'`,
    );
    assert.equal(Number(refunds[0]?.refunded_minor), 1000);
    const n = await rows<{ n: number }>(`select count(*)::int as n from billing_conversions where id like '%bf%'`);
    assert.equal(n[0]?.n, 6);
  });

  it('a run that gives up mid-list resumes after the last applied page; --since filters by created', async () => {
    const since = new Date((T - 450) * 1000);
    const seen = stripe.requests.length;
    stripe.failNext(0);
    // page 1 of invoices applies, then Stripe keeps failing: the run stops with a retryable error
    let calls = 0;
    const realPage = createStripeBackfillSource({ secretKey: stripe.secretKey, baseUrl: stripe.baseUrl, clock });
    const billing = createBillingService({ db, clock });
    const bus = createPostgresLogBus({ db, clock });
    const failing = {
      name: 'stripe',
      page: async (...args: Parameters<typeof realPage.page>) => {
        calls++;
        if (calls === 2) stripe.failNext(3);
        return realPage.page(...args);
      },
    };
    const err = await drive(
      runBillingBackfill(
        { db, clock, billing, source: failing, facts: stripeRevenueFacts, deadLetters: bus.deadLetters },
        { pageSize: 2, since, streams: ['invoices'], maxAttempts: 3 },
      ).catch((e: unknown) => e),
    );
    assert.equal((err as SwitchyardError).code, 'BILLING_UNAVAILABLE');
    assert.equal((err as SwitchyardError).retryable, true);
    const r = await drive(backfill({ since, streams: ['invoices'] }));
    assert.equal(r.streams[0]?.resumed, true);
    const asked = stripe.requests.slice(seen).filter((q) => q.path === '/v1/invoices');
    assert.equal(asked[0]?.query.get('created[gte]'), String(T - 450));
    // the failed run: page 1 (ends at in_bf5), page 2 failing three times; the rerun starts after in_bf5
    assert.deepEqual(
      asked.map((q) => q.query.get('starting_after')),
      [null, 'in_bf5', 'in_bf5', 'in_bf5', 'in_bf5', 'in_bf3'],
    );
  });

  it('a refused key is BILLING_AUTH_FAILED, permanent, without waiting', async () => {
    const err = await drive(backfill({ secretKey: 'sk_test_wrong', streams: ['customers'] }).catch((e: unknown) => e));
    assert.equal((err as SwitchyardError).code, 'BILLING_AUTH_FAILED');
    assert.equal((err as SwitchyardError).retryable, false);
  });
});
