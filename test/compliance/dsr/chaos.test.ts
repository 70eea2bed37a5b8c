/**
 * Chaos: a real worker process (`switchyard worker --stage dsr`) fans out erasure requests on
 * PostgreSQL to local HTTP sinks that count every call — the signed compliance webhook (per request
 * id) and a Stripe in its wire format — plus the sandbox ESP's suppression list, the demo CRM and
 * our own store. It is SIGKILLed mid-fan-out; a new process resumes. No step confirmed before the
 * kill is called again (the sinks' counts for those requests do not move), the steps that were
 * pending or in flight run (again, once), and every step of every request ends confirmed — except
 * that a step in flight at the kill may find on its second attempt that its first already did the
 * work (then `nothing_found`, which the test allows for those steps only).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createApp } from '../../../src/app.ts';
import { loadConfig } from '../../../src/config.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { createPostgresDb } from '../../../src/store/postgres/adapter.ts';
import { TEST_DATABASE_URL, postgresUnreachable, servicesRequired, uniqueName } from '../../support/databases.ts';
import { startFakeComplianceSink } from '../../support/fake-compliance-sink.ts';
import { startFakeStripe } from '../../support/fake-stripe.ts';

const BIN = new URL('../../../bin/switchyard.js', import.meta.url).pathname;
const REQUESTS = 300;
// longer than a lane's batch takes on a loaded machine, or a live worker's steps would be taken over
const LEASE_MS = 20_000;

describe('chaos: SIGKILL the DSR worker mid-fan-out', async () => {
  const reason = await postgresUnreachable();
  if (reason !== null && servicesRequired) throw new Error(reason);

  it('a new process resumes: no confirmed step repeated, every step confirmed', {
    skip: reason ?? undefined,
    timeout: 240_000,
  }, async (t) => {
    const schema = uniqueName('dsrchaos');
    const url =
      `${TEST_DATABASE_URL}${TEST_DATABASE_URL.includes('?') ? '&' : '?'}options=`
      + `${encodeURIComponent(`-c search_path=${schema},public`)}`;
    const db = await createPostgresDb({ url: TEST_DATABASE_URL, schema });
    await migrate(db);
    // real-time latency, so the fan-out takes seconds and the kill lands inside it
    const sink = await startFakeComplianceSink({ latencyMs: 250 });
    const stripe = await startFakeStripe({ latencyMs: 60 });
    const env = {
      ...process.env,
      DATABASE_URL: url,
      SWITCHYARD_DSR_LEASE_MS: String(LEASE_MS),
      SWITCHYARD_COMPLIANCE_SECRET: 'dsr-chaos',
      SWITCHYARD_COMPLIANCE_WEBHOOK_URL: sink.url,
      SWITCHYARD_COMPLIANCE_WEBHOOK_SECRET: sink.secret,
      SWITCHYARD_STRIPE_SECRET_KEY: stripe.secretKey,
      SWITCHYARD_STRIPE_API_URL: stripe.baseUrl,
      LOG_LEVEL: 'silent',
      SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'dsr-chaos-')),
    };
    const app = await createApp(loadConfig(env), { db, log: pino({ level: 'silent' }) });
    const children: ChildProcess[] = [];
    t.after(async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      await app.close();
      await sink.close();
      await stripe.close();
      await db.close();
    });

    // each subject is known to every system: a Stripe customer, a CRM opt-out, a consent record in our store
    const emails = Array.from({ length: REQUESTS }, (_, i) => `subject${i}@chaos.example.com`);
    await app.crm.setOptOut(emails.map((email) => ({ email, optedOut: true, reason: 'test' })));
    for (const email of emails) {
      stripe.addCustomer(email, 'Chaos Subject', false);
      await app.compliance.consent.record({
        email,
        topic: 'news',
        channel: 'email',
        basis: 'express',
        action: 'grant',
        source: 'test',
        actor: 'end_user',
      });
    }
    const requestOf = new Map<string, string>();
    for (const email of emails) {
      const receipt = await app.compliance.dsr.submit({
        type: 'erasure',
        identities: [{ type: 'email', value: email }],
        jurisdiction: 'gdpr',
        channel: 'api',
        identityVerified: true,
      });
      requestOf.set(email, receipt.request.id);
    }

    let stderr = '';
    const worker = (): { child: ChildProcess; exited: Promise<number | null> } => {
      const child = spawn(process.execPath, [BIN, 'worker', '--stage', 'dsr'], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      return { child, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
    };
    const steps = async () =>
      (
        await db.query<{ request_id: string; system: string; status: string }>(
          'select request_id, system, status from dsr_steps',
        )
      ).rows;
    const completed = async () =>
      Number(
        (await db.query<{ n: number }>(`select count(*)::int as n from dsr_requests where status = 'completed'`))
          .rows[0]!.n,
      );

    // kill once the fan-out is under way: some webhook steps confirmed, most requests still open
    const first = worker();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const all = await steps();
      const confirmedWebhooks = all.filter((s) => s.system === 'compliance' && s.status === 'confirmed').length;
      if (confirmedWebhooks >= 10) break;
      if (first.child.exitCode !== null) assert.fail(`worker exited early (${first.child.exitCode}): ${stderr}`);
      if (Date.now() > deadline) assert.fail(`the fan-out never started: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    first.child.kill('SIGKILL');
    assert.equal(await first.exited, null, 'killed by the signal');

    const atKill = await steps();
    const callsAtKill = new Map<string, number>();
    for (const r of sink.received) callsAtKill.set(r.requestId, (callsAtKill.get(r.requestId) ?? 0) + 1);
    const searchesAtKill = stripe.requests.filter((r) => r.method === 'GET' && r.path === '/v1/customers').length;
    const confirmedAtKill = atKill.filter((s) => s.status === 'confirmed');
    const openAtKill = atKill.filter((s) => s.status !== 'confirmed');
    assert.ok(confirmedAtKill.length > 0, 'some steps were confirmed before the kill');
    assert.ok(openAtKill.length > 0, 'the kill landed mid-fan-out');
    assert.ok((await completed()) < REQUESTS, 'requests were still open at the kill');

    // a new process resumes; steps the dead one held wait out their lease
    const second = worker();
    for (;;) {
      if ((await completed()) === REQUESTS) break;
      if (second.child.exitCode !== null) assert.fail(`second worker exited (${second.child.exitCode}): ${stderr}`);
      if (Date.now() > deadline + 60_000) assert.fail(`not all requests completed: ${await completed()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    second.child.kill('SIGTERM');
    await second.exited;

    // no step confirmed before the kill was called again
    const calls = new Map<string, number>();
    for (const r of sink.received) calls.set(r.requestId, (calls.get(r.requestId) ?? 0) + 1);
    for (const s of confirmedAtKill.filter((x) => x.system === 'compliance'))
      assert.equal(calls.get(s.request_id), callsAtKill.get(s.request_id), `webhook of ${s.request_id} repeated`);
    const billingOpenAtKill = openAtKill.filter((s) => s.system === 'billing').length;
    const searchesAfter =
      stripe.requests.filter((r) => r.method === 'GET' && r.path === '/v1/customers').length - searchesAtKill;
    assert.equal(searchesAfter, billingOpenAtKill, 'Stripe was asked again only for billing steps open at the kill');
    // …and every open one ran: each request reached the webhook, each customer is gone
    for (const email of emails) assert.ok((calls.get(requestOf.get(email)!) ?? 0) >= 1, email);
    assert.ok([...stripe.customers.values()].every((c) => c.deleted === true));

    // every step ends confirmed; only a step in flight at the kill may end `nothing_found` on its
    // second attempt, because its first did the work before the process died (calls are idempotent)
    const runningAtKill = new Set(
      atKill.filter((s) => s.status === 'running').map((s) => `${s.request_id}/${s.system}`),
    );
    const end = (
      await db.query<{ request_id: string; system: string; status: string; attempts: number }>(
        'select request_id, system, status, attempts from dsr_steps',
      )
    ).rows;
    assert.equal(end.length, REQUESTS * 5, 'crm, esp, billing, compliance, own-store per request');
    const unexplained = end
      .filter((s) => s.status !== 'confirmed')
      .filter((s) => !(s.status === 'nothing_found' && runningAtKill.has(`${s.request_id}/${s.system}`)))
      .map((s) => `${s.system}:${s.status}`);
    assert.deepEqual(unexplained, [], 'every step ends confirmed');
    for (const s of end.filter((x) => x.status === 'nothing_found')) assert.ok(Number(s.attempts) >= 2);
    assert.ok(
      end.filter((s) => s.status === 'confirmed').length >= end.length - runningAtKill.size,
      'at most the steps in flight at the kill found their work already done',
    );
    const exceptions = await db.query('select kind, reason from dsr_exceptions');
    assert.deepEqual(exceptions.rows, []);
  });
});
