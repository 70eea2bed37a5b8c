/**
 * Governor state survives a restart: one governor saves its scopes to a real store, a second
 * governor on the same store loads them and shows the same counters, rates and breakers (and
 * keeps the campaign paused). Reserved test domains raise no alert and pause nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createManualClock } from '../../src/clock/manual.ts';
import { createGovernor } from '../../src/deliverability/governor.ts';
import type { GovernorAlert, GovernorOptions, SendKey } from '../../src/deliverability/governor.ts';
import { createGovernorPersistence } from '../../src/deliverability/governor-persistence.ts';
import type { Db } from '../../src/store/port.ts';
import { isSwitchyardError } from '../../src/core/errors.ts';
import { testDatabases } from '../support/databases.ts';

const silent = pino({ level: 'silent' });
const options: GovernorOptions = {
  breaker: { minSamples: 20, complaintRate: 0.05, operatorComplaintRate: 0.5, halfOpenSamples: 5 },
};
/** Waits (without the clock) until the store holds at least n scopes. */
async function savedRows(db: Db, n: number): Promise<void> {
  for (;;) {
    const { rows } = await db.query<{ n: number }>('select count(*)::int as n from governor_state');
    if ((rows[0]?.n ?? 0) >= n) return;
    await new Promise<void>((r) => setTimeout(r, 5));
  }
}

const key: SendKey = { provider: 'smtp', sendingDomain: 'acme.io', recipientDomain: 'gmail.com', campaignId: 'c1' };

for (const tdb of await testDatabases()) {
  describe(`governor state in the store on ${tdb.label}`, { skip: tdb.skip }, () => {
    let db: Db;
    let passed = false;
    before(async () => {
      db = await tdb.open();
    });
    after(() => tdb.close(passed));

    it('counters, rates and an open breaker are saved periodically and loaded by the next governor', async () => {
      const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
      const alerts: GovernorAlert[] = [];
      const first = createGovernor({ clock, onAlert: (a) => alerts.push(a) }, options);
      const firstStore = createGovernorPersistence({ db, clock, governor: first, log: silent }, 1_000);
      assert.equal(await firstStore.load(), 0, 'an empty store loads nothing');
      const stop = new AbortController();
      const saving = firstStore.run(stop.signal);

      first.reportAccepted(key, 40, 30);
      first.report({
        ...key,
        kind: 'deferred',
        smtpCode: 421,
        enhancedStatus: '4.7.0',
        diagnostic: '421 4.7.0 slow down',
      });
      for (let i = 0; i < 5; i++) first.report({ ...key, kind: 'complained' });
      assert.ok(
        alerts.some((a) => a.kind === 'paused' && a.scope.campaignId === 'c1'),
        'the campaign breaker opened',
      );
      await clock.advance(1_000); // one save round, which writes in the background
      await savedRows(db, 4);
      const before = first.status();

      // a restart: a new governor on the same store, nothing reported to it yet
      const restartAlerts: GovernorAlert[] = [];
      const second = createGovernor({ clock, onAlert: (a) => restartAlerts.push(a) }, options);
      const secondStore = createGovernorPersistence({ db, clock, governor: second, log: silent }, 1_000);
      assert.ok((await secondStore.load()) >= 4, 'provider, group, sending domain and campaign loaded');
      const after = second.status();
      const find = (s: typeof before, id: string) => s.campaigns.find((c) => c.scope.campaignId === id);
      assert.equal(find(after, 'c1')?.attempts, 41);
      assert.equal(find(after, 'c1')?.complaintPct, find(before, 'c1')?.complaintPct);
      assert.equal(find(after, 'c1')?.breaker?.state, 'open');
      assert.equal(find(after, 'c1')?.breaker?.reason, find(before, 'c1')?.breaker?.reason);
      assert.deepEqual(after.providers, before.providers);
      assert.deepEqual(after.receivingGroups, before.receivingGroups);
      assert.deepEqual(restartAlerts, [], 'loading raises no alert');
      assert.throws(
        () => second.tryAcquireMany(1, key),
        (err: unknown) => isSwitchyardError(err) && err.code === 'DELIVERABILITY_PAUSED',
        'the campaign stays paused across the restart',
      );

      // only scopes used since the last save are written again; the loop saves once more on stop
      first.reportAccepted({ ...key, campaignId: 'c2' }, 3);
      stop.abort();
      await saving;
      const third = createGovernor({ clock, onAlert: () => undefined }, options);
      await createGovernorPersistence({ db, clock, governor: third, log: silent }).load();
      assert.equal(third.status().campaigns.find((c) => c.scope.campaignId === 'c2')?.attempts, 3);
      passed = true;
    });

    it('reserved test domains count in statistics but raise no alert and pause nothing', () => {
      const clock = createManualClock();
      const alerts: GovernorAlert[] = [];
      const gov = createGovernor({ clock, onAlert: (a) => alerts.push(a) }, options);
      const demo: SendKey = { ...key, recipientDomain: 'example.com', campaignId: 'demo' };
      gov.reportAccepted(demo, 100, 60_000);
      for (let i = 0; i < 30; i++) gov.report({ ...demo, kind: 'complained' });
      for (let i = 0; i < 30; i++) gov.report({ ...demo, kind: 'bounced_hard', diagnostic: '550 5.7.515 blocked' });
      gov.report({ ...demo, kind: 'deferred', smtpCode: 421, enhancedStatus: '4.7.28', diagnostic: '421 4.7.28' });
      assert.deepEqual(alerts, []);
      assert.equal(gov.tryAcquireMany(5, demo), 5, 'neither the campaign nor the sending domain is paused');
      const c = gov.status().campaigns.find((x) => x.scope.campaignId === 'demo');
      assert.equal(c?.attempts, 101);
      assert.ok((c?.complaintPct ?? 0) > 0, 'the complaints are counted');
      assert.equal(c?.breaker?.state, 'closed');
      const group = gov.status().receivingGroups.find((g) => g.scope.receivingGroup === 'example.com');
      assert.equal(group?.ratePerSec, 50, 'latency and deferrals leave the rate alone');
      assert.equal(group?.heldUntil, null);
    });
  });
}
