/**
 * Data-subject requests end to end on PGlite: intake, the emailed identity link, the fan-out to
 * every connected system over its real adapter and a local server in the vendor's wire format
 * (HubSpot, Stripe, the signed compliance webhook, the sandbox ESP's suppression list, our own
 * store; the PostgreSQL warehouse when the server is reachable), completion, exceptions,
 * duplicates, unknown subjects, expiry, legal holds, access bundles and resume after a crash.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { createManualClock, type ManualClock } from '../../../src/clock/manual.ts';
import { createConsentLedger } from '../../../src/compliance/consent/ledger.ts';
import { createSubjectKeys } from '../../../src/compliance/consent/subject-keys.ts';
import { createDsrRunner, DEFAULT_RUNNER_OPTIONS } from '../../../src/compliance/dsr/runner.ts';
import { createDsrService } from '../../../src/compliance/dsr/service.ts';
import { createOwnStoreEraser, ownStoreSystem } from '../../../src/compliance/dsr/own-store.ts';
import { billingSystem, complianceSystem, crmSystem, espSystem } from '../../../src/compliance/dsr/systems.ts';
import type { DsrSystem } from '../../../src/compliance/dsr/port.ts';
import { createRecordingSuppressionSink } from '../../../src/compliance/sinks.ts';
import { createStripeCustomers } from '../../../src/connectors/billing/stripe/customers.ts';
import { createWebhookComplianceSystem } from '../../../src/connectors/compliance/webhook/adapter.ts';
import { createHubspotCrm } from '../../../src/connectors/crm/hubspot/adapter.ts';
import { budgetBucket, createSharedRateLimiter } from '../../../src/connectors/crm/shared-rate-limit.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { createPgliteDb } from '../../../src/store/pglite/adapter.ts';
import type { Db } from '../../../src/store/port.ts';
import { startHubspotServer, type HubspotServer } from '../../connectors/crm/hubspot-server.ts';
import {
  checkSignature,
  startFakeComplianceSink,
  type FakeComplianceSink,
} from '../../support/fake-compliance-sink.ts';
import { startFakeStripe, type FakeStripe } from '../../support/fake-stripe.ts';

const log = pino({ level: 'silent' });
let db: Db;
let hubspot: HubspotServer;
let stripe: FakeStripe;
let sink: FakeComplianceSink;
const clock: ManualClock = createManualClock(new Date('2026-03-02T09:00:00Z'));
const keys = createSubjectKeys('test-secret');
const mail: { to: string; subject: string; text: string }[] = [];
const callbacks: { url: string; body: string; signature: string }[] = [];
const espSink = createRecordingSuppressionSink('sandbox');

before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  hubspot = await startHubspotServer(() => clock.now().getTime());
  stripe = await startFakeStripe();
  sink = await startFakeComplianceSink();
});
after(async () => {
  await Promise.all([hubspot.close(), stripe.close(), sink.close()]);
  await db.close();
});

function build(extra: { systems?: DsrSystem[]; maxAttempts?: number } = {}) {
  const bucket = budgetBucket(`hubspot:${randomBytes(4).toString('hex')}`, 1000, 10_000);
  const crm = createHubspotCrm(
    { db, clock, limiter: createSharedRateLimiter({ db, clock }, bucket) },
    { token: hubspot.token, baseUrl: hubspot.baseUrl, rateLimit: { requests: 1000, perMs: 10_000 } },
  );
  const systems: DsrSystem[] = extra.systems ?? [
    crmSystem(crm),
    espSystem('sandbox', espSink),
    billingSystem(createStripeCustomers({ secretKey: stripe.secretKey, baseUrl: stripe.baseUrl })),
    complianceSystem(createWebhookComplianceSystem({ clock }, { url: sink.url, secret: sink.secret })),
    ownStoreSystem(createOwnStoreEraser({ db, clock }), { db, clock }),
  ];
  let n = 0;
  const prefix = randomBytes(3).toString('hex');
  const service = createDsrService(
    {
      db,
      clock,
      log,
      keys,
      newId: () => `dsr_${prefix}_${++n}`,
      sendMail: async (m) => {
        mail.push(m);
      },
      systems: systems.map((s) => s.name),
    },
    { publicUrl: 'https://sy.example.com', verifyTtlMs: 7 * 86_400_000 },
  );
  const runner = createDsrRunner(
    {
      db,
      clock,
      log,
      systems,
      callbackSecret: 'cb-secret',
      postJson: async (url, body, headers) => {
        callbacks.push({ url, body, signature: headers['x-switchyard-signature']! });
        return 200;
      },
    },
    { ...DEFAULT_RUNNER_OPTIONS, maxAttempts: extra.maxAttempts ?? DEFAULT_RUNNER_OPTIONS.maxAttempts },
  );
  return { service, runner };
}

const tokenOf = (to: string) => {
  const m = [...mail].reverse().find((x) => x.to === to);
  return /\/dsr\/verify\/(\S+)/.exec(m?.text ?? '')?.[1] ?? '';
};

async function drain(runner: { runOnce(): Promise<number> }, rounds = 10) {
  for (let i = 0; i < rounds; i++) if ((await runner.runOnce()) === 0) break;
  await runner.runOnce();
}

describe('DSR fan-out', () => {
  it('an erasure is verified by the emailed link, reaches every system and completes with evidence', async () => {
    const { service, runner } = build();
    const email = `erase-${randomBytes(3).toString('hex')}@example.com`;
    const hsId = hubspot.addContact({ email, firstname: 'Ada' });
    const keep = stripe.addCustomer(email, 'Ada Lovelace', true);
    const drop = stripe.addCustomer(email, 'Ada L', false);
    await createConsentLedger({ db, clock, log, keys }).record({
      email,
      topic: 'news',
      channel: 'email',
      basis: 'express',
      action: 'grant',
      source: 'form:/signup',
      actor: 'end_user',
      ip: '203.0.113.9',
    });
    const { request, receipt } = await service.submit({
      type: 'erasure',
      identities: [{ type: 'email', value: email.toUpperCase() }],
      jurisdiction: 'gdpr',
      channel: 'api',
      callbackUrl: 'https://controller.example.com/cb',
    });
    assert.equal(request.status, 'pending_verification');
    assert.equal(request.dueAt.toISOString(), '2026-04-02T09:00:00.000Z');
    assert.equal(receipt.signature.length, 64);
    // nothing irreversible before the identity check
    await drain(runner);
    assert.equal(hubspot.gdprDeleted.includes(hsId), false);
    await service.verifyIdentity(tokenOf(email));
    await drain(runner);
    const { request: done, steps, events } = await service.get(request.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.result, 'completed');
    const by = Object.fromEntries(steps.map((s) => [s.system, s]));
    assert.equal(by.crm?.status, 'confirmed');
    assert.ok(hubspot.gdprDeleted.includes(hsId));
    assert.equal(by.esp?.status, 'confirmed');
    assert.ok(espSink.received.some((i) => i.email === email && i.reason === 'erased'));
    assert.equal(by.billing?.status, 'restricted');
    assert.match(String(by.billing?.evidence?.reason), /invoices must be kept/);
    assert.equal(stripe.customers.get(drop)?.deleted, true);
    assert.equal(stripe.customers.get(keep)?.deleted, undefined);
    assert.equal(stripe.customers.get(keep)?.name, null);
    assert.equal((stripe.customers.get(keep)!.metadata as Record<string, string>).switchyard_restricted, 'true');
    assert.equal(by.compliance?.status, 'confirmed');
    assert.ok(sink.received.some((r) => r.requestId === request.id && r.emails.includes(email)));
    assert.equal(by['own-store']?.status, 'confirmed');
    // personal fields gone, the chain intact, the subject still suppressed, the identities deleted
    assert.equal(
      (await db.query('select 1 from consent_pii where subject_hash = $1', [keys.hash(email)])).rows.length,
      0,
    );
    assert.equal((await createConsentLedger({ db, clock, log, keys }).verify()).ok, true);
    assert.equal(
      (await db.query(`select reason from suppressions where email = $1`, [email])).rows[0]?.reason,
      'erased',
    );
    assert.equal((await db.query('select 1 from dsr_subjects where request_id = $1', [request.id])).rows.length, 0);
    assert.ok(events.some((e) => e.event === 'identity_verified'));
    // status callbacks, signed: received, verified, completed
    const mine = callbacks.filter((c) => JSON.parse(c.body).request_id === request.id);
    assert.deepEqual(
      mine.map((c) => JSON.parse(c.body).request_status),
      ['pending_verification', 'in_progress', 'completed'],
    );
    assert.ok(mine.every((c) => checkSignature('cb-secret', c.signature, c.body)));
  });

  it('a duplicate joins the open request; an unknown subject completes with nothing found', async () => {
    const { service, runner } = build();
    const email = `nobody-${randomBytes(3).toString('hex')}@example.com`;
    const intake = {
      type: 'erasure' as const,
      identities: [{ type: 'email' as const, value: email }],
      jurisdiction: 'ccpa' as const,
      channel: 'api' as const,
      identityVerified: true,
    };
    const first = await service.submit(intake);
    const second = await service.submit({ ...intake, channel: 'cli' });
    assert.equal(second.joined, true);
    assert.equal(second.request.id, first.request.id);
    await drain(runner);
    const { request, steps } = await service.get(first.request.id);
    assert.equal(request.status, 'completed');
    assert.equal(request.result, 'nothing_found');
    assert.deepEqual(steps.map((s) => `${s.system}:${s.status}`).sort(), [
      'billing:nothing_found',
      'compliance:nothing_found',
      'crm:nothing_found',
      'esp:confirmed',
      'own-store:nothing_found',
    ]);
  });

  it('an identity never verified expires with the reason', async () => {
    const { service, runner } = build();
    const { request } = await service.submit({
      type: 'access',
      identities: [{ type: 'email', value: `late-${randomBytes(3).toString('hex')}@example.com` }],
      jurisdiction: 'gdpr',
      channel: 'email',
    });
    await clock.advance(7 * 86_400_000 + 1);
    await drain(runner);
    const { request: r } = await service.get(request.id);
    assert.equal(r.status, 'expired');
    assert.match(String(r.reason), /identity not verified/);
    await assert.rejects(service.verifyIdentity(tokenOf('nobody')), { code: 'LINK_INVALID' });
  });

  it('a failing system retries with backoff, then lands in the exceptions queue before the deadline', async () => {
    const { service, runner } = build({ maxAttempts: 3 });
    const email = `fail-${randomBytes(3).toString('hex')}@example.com`;
    sink.failing = true;
    try {
      const { request } = await service.submit({
        type: 'erasure',
        identities: [{ type: 'email', value: email }],
        jurisdiction: 'ccpa',
        channel: 'api',
        identityVerified: true,
      });
      await drain(runner);
      let step = (await service.get(request.id)).steps.find((s) => s.system === 'compliance')!;
      assert.equal(step.status, 'retry');
      assert.match(String(step.lastError), /COMPLIANCE_SINK_UNAVAILABLE/);
      for (let i = 0; i < 3; i++) {
        await clock.advance(DEFAULT_RUNNER_OPTIONS.maxBackoffMs);
        await drain(runner);
      }
      step = (await service.get(request.id)).steps.find((s) => s.system === 'compliance')!;
      assert.equal(step.status, 'failed');
      const ex = (await service.exceptions(true)).filter((e) => e.requestId === request.id);
      assert.deepEqual(
        ex.map((e) => `${e.system}:${e.kind}`),
        ['compliance:step_failed'],
      );
      assert.ok(clock.now() < ex[0]!.dueAt);
      assert.equal((await service.get(request.id)).request.status, 'in_progress');
      // a person fixes the system and retries: the confirmed steps are not called again
      sink.failing = false;
      const crmCalls = hubspot.requests.length;
      await service.resolveException(ex[0]!.id, 'ops@example.com', 'retry');
      await drain(runner);
      assert.equal((await service.get(request.id)).request.status, 'completed');
      assert.equal(hubspot.requests.length, crmCalls);
    } finally {
      sink.failing = false;
    }
  });

  it('80 % of the time used opens a deadline exception; a legal hold holds the erasure', async () => {
    const { service, runner } = build();
    const email = `hold-${randomBytes(3).toString('hex')}@example.com`;
    await service.placeLegalHold(email, 'litigation 2026-17');
    const { request } = await service.submit({
      type: 'erasure',
      identities: [{ type: 'email', value: email }],
      jurisdiction: 'can_spam',
      channel: 'api',
      identityVerified: true,
    });
    await drain(runner);
    const steps = (await service.get(request.id)).steps;
    assert.ok(steps.every((s) => s.status === 'held'));
    let ex = (await service.exceptions(true)).filter((e) => e.requestId === request.id);
    assert.ok(ex.every((e) => e.kind === 'legal_hold') && ex.length === steps.length);
    await clock.set(request.escalateAt);
    await drain(runner);
    ex = (await service.exceptions(true)).filter((e) => e.requestId === request.id);
    assert.ok(ex.some((e) => e.kind === 'deadline_near' && /80 %/.test(e.reason)));
  });

  it('access: one bundle from every system, JSON and HTML, by a signed expiring link', async () => {
    const { service, runner } = build();
    const email = `access-${randomBytes(3).toString('hex')}@example.com`;
    stripe.addCustomer(email, 'Grace Hopper', true);
    await db.query(
      `insert into send_ledger (campaign_id, contact_id, email, state, chunk, updated_at)
       values ('cmp_x', $1, $2, 'sent', 0, $3)`,
      [`c-${email}`, email, clock.now()],
    );
    const { request } = await service.submit({
      type: 'access',
      identities: [{ type: 'email', value: email }],
      jurisdiction: 'gdpr',
      channel: 'api',
    });
    await service.verifyIdentity(tokenOf(email));
    await drain(runner);
    assert.equal((await service.get(request.id)).request.status, 'completed');
    const link = await service.bundleLink(request.id, 3_600_000);
    const token = link.split('/dsr/bundle/')[1]!;
    const bundle = await service.openBundle(token);
    const systems = (bundle.json as { systems: { system: string; data: unknown }[] }).systems;
    assert.ok(JSON.stringify(systems.find((s) => s.system === 'billing')?.data).includes('Grace Hopper'));
    assert.ok(JSON.stringify(systems.find((s) => s.system === 'own-store')?.data).includes('cmp_x'));
    assert.match(bundle.html, /Grace Hopper/);
    await clock.advance(3_600_001);
    await assert.rejects(service.openBundle(token), { code: 'LINK_INVALID' });
  });

  it('after a crash mid-fan-out, only unconfirmed steps run again once their lease expired', async () => {
    const { service, runner } = build();
    const email = `crash-${randomBytes(3).toString('hex')}@example.com`;
    const { request } = await service.submit({
      type: 'opt_out_of_sale',
      identities: [{ type: 'email', value: email }],
      jurisdiction: 'ccpa',
      channel: 'api',
    });
    // what a killed worker leaves: one step confirmed, one claimed (running) and never settled
    await db.query(
      `update dsr_steps set status = 'confirmed', evidence = '{"before":"crash"}'
       where request_id = $1 and system = 'crm'`,
      [request.id],
    );
    await db.query(
      `update dsr_steps set status = 'running', attempts = 1, lease_until = $2
       where request_id = $1 and system = 'compliance'`,
      [request.id, new Date(clock.now().getTime() + DEFAULT_RUNNER_OPTIONS.leaseMs)],
    );
    const crmCalls = hubspot.requests.length;
    await drain(runner);
    let steps = (await service.get(request.id)).steps;
    assert.equal(steps.find((s) => s.system === 'compliance')?.status, 'running');
    await clock.advance(DEFAULT_RUNNER_OPTIONS.leaseMs);
    await drain(runner);
    steps = (await service.get(request.id)).steps;
    assert.ok(
      steps.every((s) => ['confirmed', 'not_applicable'].includes(s.status)),
      JSON.stringify(steps),
    );
    assert.deepEqual(steps.find((s) => s.system === 'crm')?.evidence, { before: 'crash' });
    assert.equal(hubspot.requests.length, crmCalls);
    assert.equal(steps.find((s) => s.system === 'compliance')?.attempts, 2);
  });
});
