/**
 * The governor's fleet budgets on a real store: three governors, each with its own leases as if
 * in its own process, admit together what one receiving group's rate allows (never more, nearly
 * all of it), an AIMD decrease seen by one reaches the others through the shared row, and a pause
 * raised in one (and an operator's resume in another) reaches every one with the breaker sync.
 * Time is a manual clock: every governor waits on it, and the test moves it once all three wait.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import {
  createGovernor,
  type Governor,
  type GovernorOptions,
  type SendKey,
} from '../../src/deliverability/governor.ts';
import { createBreakerSync, createFleetLeases } from '../../src/deliverability/governor-fleet.ts';
import { isSwitchyardError } from '../../src/core/errors.ts';
import { pino } from 'pino';
import type { Db } from '../../src/store/port.ts';
import { testDatabases } from '../support/databases.ts';

const RATE = 200;
const options: GovernorOptions = {
  providers: { smtp: { ratePerSec: 100_000 } },
  receivingGroups: { 'fleet.example.net': { initial: RATE, floor: RATE, ceiling: RATE } },
  receivingAimd: { initial: 100, ceiling: 100, floor: 1 },
  exemptReservedDomains: false,
};
const key = (recipientDomain: string): SendKey => ({
  provider: 'smtp',
  sendingDomain: 'news.example.com',
  recipientDomain,
  campaignId: 'c1',
});

/** Resolves once n sleepers wait on the clock (the governors' waits), polling in real time. */
async function sleepers(clock: ManualClock, n: number): Promise<void> {
  for (let i = 0; clock.pending() < n; i++) {
    if (i > 20_000) throw new Error(`only ${clock.pending()} of ${n} waiting`);
    await new Promise<void>((r) => setTimeout(r, 1));
  }
}

/** Awaits p, moving the clock 10 ms whenever something waits on it. */
async function driven<T>(clock: ManualClock, p: Promise<T>): Promise<T> {
  let done = false;
  const out = p.finally(() => {
    done = true;
  });
  out.catch(() => undefined); // handled by the caller's await below, not an unhandled rejection

  while (!done) {
    if (clock.pending() > 0) await clock.advance(10);
    else await new Promise<void>((r) => setTimeout(r, 1));
  }
  return out;
}

for (const tdb of await testDatabases()) {
  describe(`fleet-wide governor budgets on ${tdb.label}`, { skip: tdb.skip }, () => {
    let db: Db;
    let passed = false;
    before(async () => {
      db = await tdb.open();
    });
    after(() => tdb.close(passed));

    it('three governors together admit the group rate: at most rate × time, at least 90 % of it', async () => {
      const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
      const governors: Governor[] = [0, 1, 2].map(() =>
        createGovernor({ clock, onAlert: () => undefined, fleet: createFleetLeases({ db }) }, options),
      );
      const admitted = [0, 0, 0];
      const stop = new AbortController();
      const loops = governors.map(async (g, i) => {
        for (;;) admitted[i]! += await g.acquireMany(1000, key('fleet.example.net'), stop.signal);
      });
      const seconds = 3;
      for (let step = 0; step < (seconds * 1000) / 50; step++) {
        await sleepers(clock, 3);
        await clock.advance(50);
      }
      await sleepers(clock, 3);
      stop.abort();
      await Promise.allSettled(loops);
      const total = admitted.reduce((a, b) => a + b, 0);
      // the shared bucket starts with one burst (1 s of RATE, as one process's bucket does) and
      // refills at RATE: three processes together may admit no more than one process could
      const burst = RATE;
      assert.ok(
        total <= RATE * seconds + burst,
        `admitted ${total} in ${seconds} s at ${RATE}/s (${admitted.join(' + ')})`,
      );
      assert.ok(total >= 0.9 * RATE * seconds, `admitted ${total}, below 90 % of ${RATE * seconds}`);
      const { rows } = await db.query<{ rate: number }>(
        `select rate from governor_fleet_budgets where scope_key like 'g:%fleet.example.net'`,
      );
      assert.deepEqual(
        rows.map((r) => Number(r.rate)),
        [RATE],
      );
    });

    it("one governor's AIMD decrease reaches the others with their next lease", async () => {
      const clock = createManualClock(new Date('2026-03-02T11:00:00Z'));
      const [a, b] = [0, 1].map(() =>
        createGovernor({ clock, onAlert: () => undefined, fleet: createFleetLeases({ db }) }, options),
      ) as [Governor, Governor];
      const gmail = key('gmail.com');
      const rateOf = (g: Governor): number | null | undefined =>
        g.status().receivingGroups.find((s) => s.scope.receivingGroup === 'google')?.ratePerSec;
      assert.equal(await driven(clock, a.acquireMany(1, gmail)), 1);
      assert.equal(await driven(clock, b.acquireMany(1, gmail)), 1);
      a.report({ ...gmail, kind: 'deferred', smtpCode: 421, enhancedStatus: '4.7.0', diagnostic: 'slow down' });
      const lowered = rateOf(a)!;
      assert.ok(lowered < 100, `a lowered its rate (${lowered})`);
      assert.equal(rateOf(b), 100, 'b has not leased since');
      // a's next lease publishes the decrease (after its block runs out), b's next lease adopts it
      await clock.advance(2_000);
      await driven(clock, a.acquireMany(1, gmail));
      await clock.advance(2_000);
      await driven(clock, b.acquireMany(1, gmail));
      assert.equal(rateOf(b), lowered, 'b adopted the fleet rate');
      const { rows } = await db.query<{ rate: number; version: number }>(
        `select rate, version from governor_fleet_budgets where scope_key like 'g:%|google'`,
      );
      assert.equal(Number(rows[0]!.rate), lowered);
      assert.ok(Number(rows[0]!.version) >= 1, 'the change bumped the version');
    });

    it('a pause raised in one governor stops the others; an operator resume in another reopens all', async () => {
      const clock = createManualClock(new Date('2026-03-02T12:00:00Z'));
      const opts: GovernorOptions = {
        ...options,
        breaker: { minSamples: 20, complaintRate: 0.05, operatorComplaintRate: 0.5, halfOpenSamples: 5 },
      };
      const [a, b] = [0, 1].map(() =>
        createGovernor({ clock, onAlert: () => undefined, fleet: createFleetLeases({ db }) }, opts),
      ) as [Governor, Governor];
      const log = pino({ level: 'silent' });
      const [syncA, syncB] = [a, b].map((governor) => createBreakerSync({ db, clock, governor, log }));
      const k = { ...key('fleet.example.net'), campaignId: 'c-paused' };
      const paused = async (g: Governor): Promise<boolean> => {
        try {
          await driven(clock, g.acquireMany(1, k));
          return false;
        } catch (err) {
          if (isSwitchyardError(err) && err.code === 'DELIVERABILITY_PAUSED') return true;
          throw err;
        }
      };
      assert.equal(await paused(b), false);
      a.reportAccepted(k, 40);
      for (let i = 0; i < 5; i++) a.report({ ...k, kind: 'complained' });
      assert.equal(await paused(a), true, 'a paused the campaign itself');
      assert.equal(await paused(b), false, 'b has not synced yet');
      await syncA!.sync();
      await syncB!.sync();
      assert.equal(await paused(b), true, 'b adopted the pause');
      assert.match(b.status().campaigns.find((c) => c.scope.campaignId === 'c-paused')?.breaker?.reason ?? '', /compl/);
      await clock.advance(5);
      // the complaints paused the campaign and its sending domain: the operator resumes both
      b.resume({ campaignId: 'c-paused', sendingDomain: 'news.example.com' }, { operator: true });
      await syncB!.sync();
      await syncA!.sync();
      assert.equal(await paused(a), false, "b's resume reached a");
      const { rows } = await db.query<{ scope_key: string; phase: string }>(
        'select scope_key, phase from governor_fleet_breakers order by scope_key',
      );
      assert.deepEqual(
        rows.map((r) => [r.scope_key, r.phase]),
        [
          ['c:c-paused', 'closed'],
          ['d:news.example.com', 'closed'],
        ],
      );
      passed = true;
    });
  });
}
