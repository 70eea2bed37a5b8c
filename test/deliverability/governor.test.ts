import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/clock/manual.ts';
import { createGovernor } from '../../src/deliverability/governor.ts';
import type { GovernorAlert, SendKey } from '../../src/deliverability/governor.ts';
import type { GovernorOptions } from '../../src/deliverability/governor-options.ts';
import { isSwitchyardError, type SwitchyardError } from '../../src/core/errors.ts';

const key: SendKey = {
  provider: 'sandbox',
  sendingDomain: 'news.example.com',
  recipientDomain: 'someone@gmail.com',
  campaignId: 'c1',
};

function setup(options: GovernorOptions = {}) {
  const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
  const alerts: GovernorAlert[] = [];
  const gov = createGovernor({ clock, onAlert: (a) => alerts.push(a) }, options);
  return { clock, alerts, gov };
}

async function caught(p: Promise<unknown>): Promise<SwitchyardError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isSwitchyardError(err), `expected a SwitchyardError, got ${String(err)}`);
  return err;
}

function complainOut(gov: ReturnType<typeof setup>['gov'], sent: number, complaints: number, k: SendKey = key): void {
  for (let i = 0; i < sent; i++) gov.report({ ...k, kind: 'accepted' });
  for (let i = 0; i < complaints; i++) gov.report({ ...k, kind: 'complained' });
}

describe('governor', () => {
  it('admits the burst at once, then makes acquire wait on the clock', async () => {
    const { clock, gov } = setup();
    assert.equal(gov.tryAcquireMany(500, key), 50); // receiving group starts at 50/s, burst 1 s
    let done = false;
    const p = gov.acquire(key).then(() => {
      done = true;
    });
    await clock.advance(0);
    assert.equal(done, false);
    await clock.advance(20);
    await p;
    assert.equal(done, true);
    assert.equal(await gov.acquireMany(0, key), 0);
  });

  it('an aborted acquire rejects with the signal reason and leaves no sleeper', async () => {
    const { clock, gov } = setup();
    gov.tryAcquireMany(50, key);
    const ac = new AbortController();
    const p = gov.acquire(key, ac.signal).then(
      () => 'ok',
      (e: unknown) => e,
    );
    await clock.advance(0);
    ac.abort(new Error('stage shutting down'));
    assert.equal(((await p) as Error).message, 'stage shutting down');
    assert.equal(clock.pending(), 0);
  });

  it('pauses a campaign over the complaint threshold, says why, and an operator resumes it', async () => {
    const { gov, alerts } = setup();
    complainOut(gov, 1_000, 2);
    const err = await caught(gov.acquire(key));
    assert.equal(err.code, 'DELIVERABILITY_PAUSED');
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, 30 * 60_000);
    assert.match(err.message, /campaign c1 is paused: complaint rate 0\.20% \(2 of 1000 sent\)/);
    const campaign = gov.status().campaigns.find((c) => c.scope.campaignId === 'c1');
    assert.equal(campaign?.breaker?.state, 'open');
    assert.equal(campaign?.complaintPct, 0.2);
    assert.equal(alerts.filter((a) => a.kind === 'paused').length, 2); // campaign and its sending domain

    gov.resume({ campaignId: 'c1', sendingDomain: key.sendingDomain }, { operator: true });
    await gov.acquire(key);
    gov.report({ ...key, kind: 'accepted' }); // old complaints must not re-trip it
    assert.equal(gov.status().campaigns[0]?.breaker?.state, 'closed');
    assert.deepEqual(
      alerts.filter((a) => a.kind === 'resumed').map((a) => a.reason),
      ['resumed by operator', 'resumed by operator'],
    );
  });

  it('a waiting acquire throws when its campaign is paused meanwhile; other campaigns keep going', async () => {
    const { clock, gov } = setup();
    gov.tryAcquireMany(50, key);
    const p = caught(gov.acquire(key));
    await clock.advance(0);
    complainOut(gov, 1_000, 10);
    await clock.advance(20);
    assert.equal((await p).code, 'DELIVERABILITY_PAUSED');
    const other = { ...key, campaignId: 'c2', sendingDomain: 'other.example.com' };
    assert.equal(gov.tryAcquireMany(1, other), 1);
  });

  it('half-opens after the cool-down at a reduced rate and closes after clean sends', async () => {
    const { clock, gov, alerts } = setup({
      breaker: { cooldownMs: 60_000, halfOpenSamples: 100, halfOpenRatePerSec: 2 },
    });
    const k = { ...key, campaignId: 'c3' };
    complainOut(gov, 1_000, 2, k);
    await clock.advance(60_000);
    assert.equal(gov.status().campaigns.find((c) => c.scope.campaignId === 'c3')?.breaker?.state, 'half_open');
    assert.equal(gov.tryAcquireMany(100, k), 1); // half-open bucket: 2/s, burst 1
    await clock.advance(500);
    assert.equal(gov.tryAcquireMany(100, k), 1);
    for (let i = 0; i < 100; i++) gov.report({ ...k, kind: 'accepted' });
    assert.equal(gov.status().campaigns.find((c) => c.scope.campaignId === 'c3')?.breaker?.state, 'closed');
    assert.ok(alerts.some((a) => a.kind === 'resumed' && /closed after 100 clean sends/.test(a.reason)));
  });

  it('at 0.3% complaints the pause needs an operator: not retryable, no half-open', async () => {
    const { clock, gov } = setup({ breaker: { cooldownMs: 60_000 } });
    complainOut(gov, 1_000, 3);
    await clock.advance(120_000);
    const err = await caught(gov.acquire(key));
    assert.equal(err.retryable, false);
    assert.match(err.message, /an operator must resume/);
    assert.equal(gov.status().campaigns[0]?.breaker?.requiresOperator, true);
  });

  it('a provider block (5.7.515) pauses the sending domain until an operator resumes it', async () => {
    const { clock, gov } = setup();
    gov.report({
      ...key,
      recipientDomain: 'x@outlook.com',
      kind: 'bounced_hard',
      smtpCode: 550,
      enhancedStatus: '5.7.515',
      diagnostic: 'Access denied',
    });
    await clock.advance(24 * 3_600_000);
    const err = await caught(gov.acquire({ ...key, campaignId: 'another' }));
    assert.equal(err.retryable, false);
    assert.deepEqual(err.details?.scope, { sendingDomain: key.sendingDomain });
    gov.resume({ sendingDomain: key.sendingDomain }, { operator: true });
    await gov.acquire({ ...key, campaignId: 'another' });
  });

  it('a 4.7.28 deferral halves and holds that receiving group for 10 minutes only', async () => {
    const { clock, gov, alerts } = setup();
    gov.report({
      ...key,
      kind: 'deferred',
      smtpCode: 421,
      enhancedStatus: '4.7.28',
      diagnostic: 'unusual rate of unsolicited mail',
    });
    assert.equal(gov.tryAcquireMany(10, key), 0);
    assert.equal(gov.tryAcquireMany(10, { ...key, recipientDomain: 'yahoo.com' }), 10);
    const google = gov.status().receivingGroups.find((g) => g.scope.receivingGroup === 'google');
    assert.equal(google?.ratePerSec, 25);
    assert.ok(google?.heldUntil !== null);
    assert.match(alerts[0]?.reason ?? '', /hard deferral 4\.7\.28: 50\.0 → 25\.0/);
    await clock.advance(600_000);
    assert.equal(gov.tryAcquireMany(10, key), 10);
  });

  it('a recipient-level deferral (4.2.1) neither slows the domain nor counts as a deferral', () => {
    const { gov } = setup();
    for (let i = 0; i < 20; i++) gov.report({ ...key, kind: 'deferred', smtpCode: 450, enhancedStatus: '4.2.1' });
    const google = gov.status().receivingGroups[0];
    assert.equal(google?.ratePerSec, 50);
    assert.equal(google?.deferralPct, 0);
  });

  it('a 429 with Retry-After holds the provider and lowers its rate', async () => {
    const { clock, gov } = setup({ providers: { sandbox: { ratePerSec: 100 } } });
    for (let i = 0; i < 10; i++) gov.report({ ...key, kind: 'accepted' });
    gov.report({ ...key, kind: 'deferred', httpStatus: 429, retryAfterMs: 5_000 });
    assert.equal(gov.tryAcquireMany(1, key), 0);
    assert.equal(gov.status().providers[0]?.ratePerSec, 70); // 1 of 11 recent attempts deferred: × 0.7
    await clock.advance(5_000);
    assert.equal(gov.tryAcquireMany(1, key), 1);
  });

  it('caps a warming sending domain per day and waits for the next day', async () => {
    const { clock, gov } = setup({
      sendingDomains: { 'new.example.com': { warmup: { startedAt: new Date('2026-03-02T00:00:00Z') } } },
    });
    const k = { ...key, sendingDomain: 'new.example.com', campaignId: 'w1' };
    let sent = 0;
    for (let i = 0; i < 40; i++) {
      sent += gov.tryAcquireMany(1_000, k);
      for (let j = 0; j < 20; j++) gov.report({ ...k, kind: 'accepted' });
      await clock.advance(1_000);
    }
    assert.equal(sent, 480);
    const p = gov.acquire(k);
    await clock.advance(0);
    await clock.set(new Date('2026-03-03T00:00:00Z'));
    await p;
    const domain = gov.status().sendingDomains.find((d) => d.scope.sendingDomain === 'new.example.com');
    assert.deepEqual(domain?.warmup, { step: 1, dailyCap: 672, usedToday: 1 });
  });

  it('warm-up holds its step after a 4.7.28 day and halves after a provider block', async () => {
    const { clock, gov } = setup({
      sendingDomains: {
        'new.example.com': {
          warmup: { startedAt: new Date('2026-03-02T00:00:00Z'), ramp: { dailyCaps: [100, 200, 400, 800] }, step: 2 },
        },
      },
    });
    const k = { ...key, sendingDomain: 'new.example.com', campaignId: 'w2' };
    const warmup = () => gov.status().sendingDomains.find((d) => d.scope.sendingDomain === 'new.example.com')?.warmup;
    assert.equal(gov.tryAcquireMany(10, k), 10);
    for (let i = 0; i < 10; i++) gov.report({ ...k, kind: 'accepted' });
    gov.report({ ...k, kind: 'deferred', smtpCode: 421, enhancedStatus: '4.7.28' });
    await clock.set(new Date('2026-03-03T00:10:00Z'));
    gov.tryAcquireMany(1, k);
    assert.deepEqual(warmup(), { step: 2, dailyCap: 400, usedToday: 1 });
    gov.report({ ...k, kind: 'bounced_hard', enhancedStatus: '5.7.515' });
    gov.resume({ sendingDomain: 'new.example.com' }, { operator: true });
    await clock.set(new Date('2026-03-04T00:10:00Z'));
    gov.tryAcquireMany(1, k);
    assert.deepEqual(warmup(), { step: 1, dailyCap: 200, usedToday: 1 });
  });

  it('slow answers (latency above target) lower the receiving group rate and raise an alert', () => {
    const { gov, alerts } = setup();
    gov.report({ ...key, kind: 'accepted', latencyMs: 30_000 });
    assert.equal(gov.status().receivingGroups[0]?.ratePerSec, 45);
    assert.match(alerts[0]?.reason ?? '', /latency 30000 ms above target/);
  });

  it('forgets idle keys but never a paused one (bounded memory)', async () => {
    const { clock, gov } = setup({ maxKeys: 20, idleEvictMs: 60_000 });
    complainOut(gov, 1_000, 10, { ...key, campaignId: 'paused-one', sendingDomain: 'other.example.com' });
    for (let i = 0; i < 200; i++)
      gov.tryAcquireMany(1, { ...key, campaignId: `c${i}`, recipientDomain: `d${i}.example` });
    const s = gov.status();
    const total = s.providers.length + s.sendingDomains.length + s.receivingGroups.length + s.campaigns.length;
    assert.ok(total <= 22, `tracking ${total} keys`); // 20 + the paused campaign and its domain
    await clock.advance(120_000);
    gov.tryAcquireMany(1, { ...key, campaignId: 'fresh' });
    assert.ok(gov.status().campaigns.some((c) => c.scope.campaignId === 'paused-one'));
  });

  it('refuses bad options naming each key', () => {
    assert.throws(
      () => setup({ receivingAimd: { decreaseFactor: 1.5 }, breaker: { complaintRate: 0 } }),
      (e: unknown) =>
        isSwitchyardError(e)
        && e.code === 'CONFIG_INVALID'
        && /receivingAimd\.decreaseFactor/.test(e.message)
        && /breaker\.complaintRate/.test(e.message),
    );
  });
});
