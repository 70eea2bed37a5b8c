/**
 * `POST /webhooks/stripe` on the real store (PGlite): events signed with Stripe's own library are
 * stored once and applied; duplicates, replays, bad and stale signatures and malformed bodies are
 * refused with their codes (dead letters for verified bad input); events applied in any order give
 * the same state; an unknown customer's revenue is kept and linked when the contact appears.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import Stripe from 'stripe';
import { registerBillingWebhookRoutes } from '../../src/api/routes/billing-webhooks.ts';
import { createBillingService } from '../../src/billing/service.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { createWebhookVerifiers } from '../../src/composition/webhook-verifiers.ts';
import { stripeRevenueFacts } from '../../src/connectors/billing/stripe/revenue.ts';
import { createWebhookReplayGuard } from '../../src/reactions/webhook-replay.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

const SECRET = 'whsec_i19_test';
const T = 1_780_000_000;
let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
});
after(async () => {
  await db.close();
});

async function harness(): Promise<{ app: FastifyInstance; clock: ReturnType<typeof createManualClock> }> {
  const clock = createManualClock(new Date(T * 1000 + 2_000));
  const bus = createPostgresLogBus({ db, clock });
  const billing = createBillingService({ db, clock });
  const app = Fastify();
  registerBillingWebhookRoutes(app, {
    stripe: createWebhookVerifiers({ stripe: { signingSecret: SECRET } }).stripe,
    facts: stripeRevenueFacts,
    record: (items) => billing.record(items),
    replay: createWebhookReplayGuard({ db, clock }),
    deadLetters: bus.deadLetters,
    refused: { inc() {} },
    clock,
    maxBodyBytes: 1024 * 1024,
  });
  await app.ready();
  return { app, clock };
}

let seq = 0;
export function stripeEvent(type: string, object: Record<string, unknown>, created = T): string {
  seq++;
  return JSON.stringify({
    id: `evt_${seq}_${type}`,
    object: 'event',
    type,
    created,
    livemode: false,
    data: { object },
  });
}

function post(app: FastifyInstance, body: string, header?: string) {
  return app.inject({
    method: 'POST',
    url: '/webhooks/stripe',
    headers: {
      'content-type': 'application/json',
      'stripe-signature':
        header ?? Stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET, timestamp: T }),
    },
    payload: body,
  });
}

const invoice = (id: string, customer: string, amount: number, extra: Record<string, unknown> = {}) => ({
  id,
  object: 'invoice',
  customer,
  customer_email: `${customer}@example.com`,
  amount_paid: amount,
  currency: 'usd',
  charge: `ch_${id}`,
  status_transitions: { paid_at: T - 60 },
  ...extra,
});

describe('POST /webhooks/stripe', () => {
  it('stores a Stripe-signed invoice.paid once; a redelivery is a duplicate', async () => {
    const { app } = await harness();
    const body = stripeEvent('invoice.paid', invoice('in_a', 'cus_a', 4900));
    const first = await post(app, body);
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(first.json().accepted, 1);
    const again = await post(
      app,
      body,
      Stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET, timestamp: T + 1 }),
    );
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().duplicates, 1);
    const { rows } = await db.query<{ amount_minor: number }>(
      `select amount_minor from billing_conversions where id = 'stripe:invoice:in_a'`,
    );
    assert.deepEqual(rows, [{ amount_minor: 4900 }]);
  });

  it('refuses bad and stale signatures (401), a replayed signature, malformed bodies (400, dead letter)', async () => {
    const { app, clock } = await harness();
    const body = stripeEvent('invoice.paid', invoice('in_b', 'cus_b', 100));
    const wrong = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_other', timestamp: T });
    const bad = await post(app, body, wrong);
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.json().error, 'WEBHOOK_SIGNATURE_INVALID');
    const missing = await app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      payload: body,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(missing.statusCode, 401);
    const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET, timestamp: T });
    const okAgain = await post(app, body, header);
    assert.equal(okAgain.statusCode, 200, okAgain.body);
    // the same signature cannot carry a second body
    const replay = await post(app, body.replace('in_b', 'in_x'), header);
    assert.equal(replay.statusCode, 401);
    const notJson = await post(app, '{"id": nope');
    assert.equal(notJson.statusCode, 400);
    assert.equal(notJson.json().error, 'WEBHOOK_PAYLOAD_INVALID');
    const badAmount = await post(app, stripeEvent('invoice.paid', invoice('in_c', 'cus_c', -5)));
    assert.equal(badAmount.statusCode, 400);
    const { rows } = await db.query<{ n: number }>(
      `select count(*)::int as n from dead_letters where stage = 'webhook.stripe'`,
    );
    assert.ok(rows[0]!.n >= 2, 'verified bad input is kept in dead letters');
    await clock.set(new Date((T + 301) * 1000));
    const stale = await post(app, stripeEvent('invoice.paid', invoice('in_s', 'cus_s', 100)));
    assert.equal(stale.statusCode, 401);
    assert.equal(stale.json().error, 'WEBHOOK_STALE');
  });

  it('refund before its invoice, and subscription events out of order, end in the same state', async () => {
    const { app } = await harness();
    const refund = stripeEvent('charge.refunded', {
      id: 'ch_in_r',
      object: 'charge',
      invoice: 'in_r',
      amount_refunded: 1500,
      currency: 'usd',
    });
    const smallerRefund = stripeEvent(
      'charge.refunded',
      {
        id: 'ch_in_r',
        object: 'charge',
        invoice: 'in_r',
        amount_refunded: 500,
        currency: 'usd',
      },
      T - 100,
    );
    assert.equal((await post(app, refund)).statusCode, 200);
    assert.equal((await post(app, smallerRefund)).statusCode, 200);
    assert.equal((await post(app, stripeEvent('invoice.paid', invoice('in_r', 'cus_r', 5000)))).statusCode, 200);
    const { rows } = await db.query<{ net: number }>(
      `select c.amount_minor - coalesce(sum(r.refunded_minor), 0)::int as net
       from billing_conversions c left join billing_refunds r on r.conversion_id = c.id
       where c.id = 'stripe:invoice:in_r' group by c.amount_minor`,
    );
    assert.deepEqual(rows, [{ net: 3500 }]);
    const sub = (status: string, created: number) =>
      stripeEvent(
        `customer.subscription.${status === 'canceled' ? 'deleted' : 'updated'}`,
        {
          id: 'sub_1',
          object: 'subscription',
          customer: 'cus_r',
          status,
          items: { data: [{ price: { id: 'price_pro', unit_amount: 5000, currency: 'usd' } }] },
        },
        created,
      );
    await post(app, sub('canceled', T));
    await post(app, sub('active', T - 10)); // older, arrives later
    const s = await db.query<{ status: string; plan: string }>(
      `select status, plan from billing_subscriptions where id = 'sub_1'`,
    );
    assert.deepEqual(s.rows, [{ status: 'canceled', plan: 'price_pro' }]);
  });

  it('an unknown customer is kept and matched when the contact appears; each link says why', async () => {
    const { app } = await harness();
    await post(
      app,
      stripeEvent('invoice.paid', invoice('in_u', 'cus_u', 700, { customer_email: 'Late.Person@Example.com' })),
    );
    const before = await db.query(`select * from identity_links where key_value = 'stripe:invoice:in_u'`);
    assert.equal(before.rows.length, 0);
    await db.query(
      `insert into send_ledger (campaign_id, contact_id, email, state, chunk, updated_at)
       values ('c1', 'contact-late', 'late.person@example.com', 'sent', 0, now())`,
    );
    const billing = createBillingService({ db, clock: createManualClock(new Date(T * 1000)) });
    await billing.resolveIdentities();
    const why = await billing.explain('stripe:invoice:in_u');
    assert.ok(why.some((l) => l.keyKind === 'conversion' && l.contactId === 'contact-late' && l.rule === 'email'));
    assert.ok(why.some((l) => l.keyKind === 'billing_customer' && l.keyValue === 'stripe:cus_u'));
    // the customer's next invoice without any email resolves through the customer link
    await post(app, stripeEvent('invoice.paid', invoice('in_u2', 'cus_u', 300, { customer_email: null })));
    const next = await billing.explain('stripe:invoice:in_u2');
    assert.ok(
      next.some((l) => l.keyKind === 'conversion' && l.contactId === 'contact-late' && l.rule === 'billing_customer'),
    );
    // metadata.sy_contact beats email
    await post(
      app,
      stripeEvent(
        'invoice.paid',
        invoice('in_m', 'cus_m', 10, {
          metadata: { sy_contact: 'contact-meta' },
          customer_email: 'late.person@example.com',
        }),
      ),
    );
    const meta = await billing.explain('stripe:invoice:in_m');
    assert.ok(
      meta.some(
        (l) => l.keyKind === 'conversion' && l.contactId === 'contact-meta' && l.rule === 'metadata.sy_contact',
      ),
    );
  });
});
