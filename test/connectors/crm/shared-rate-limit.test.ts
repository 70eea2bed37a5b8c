/**
 * The store-held token bucket on the manual clock: several limiters on one row (as several
 * processes would be) never grant more than the budget in any window, a hold-off stops them all,
 * and the row survives being removed. Runs on PGlite, and on the PostgreSQL server when reachable
 * (real concurrency on the row lock).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createManualClock, type ManualClock } from '../../../src/clock/manual.ts';
import { budgetBucket, createSharedRateLimiter } from '../../../src/connectors/crm/shared-rate-limit.ts';
import type { Db } from '../../../src/store/port.ts';
import { testDatabases, uniqueName } from '../../support/databases.ts';

/** Acquires `n` grants per limiter concurrently, moving the clock only while all callers wait on it. */
async function grantTimes(clock: ManualClock, limiters: { acquire(): Promise<void> }[], n: number): Promise<number[]> {
  const times: number[] = [];
  let active = limiters.length;
  const runs = limiters.map(async (l) => {
    for (let i = 0; i < n; i += 1) {
      await l.acquire();
      times.push(clock.now().getTime());
    }
    active -= 1;
  });
  let done = false;
  void Promise.all(runs).then(() => (done = true));
  while (!done) {
    if (active > 0 && clock.pending() >= active) await clock.advance(1);
    else await new Promise((r) => setImmediate(r));
  }
  await Promise.all(runs);
  return times.sort((a, b) => a - b);
}

function maxInWindow(times: number[], windowMs: number): number {
  let most = 0;
  for (const start of times) most = Math.max(most, times.filter((t) => t >= start && t < start + windowMs).length);
  return most;
}

const databases = await testDatabases();
after(async () => {
  for (const d of databases) await d.close(true);
});

for (const database of databases) {
  const open = (): Promise<Db> => database.open();

  test(`${database.label}: three processes on one bucket stay within the budget in every window`, {
    skip: database.skip,
  }, async () => {
    const db = await open();
    const clock = createManualClock();
    const bucket = budgetBucket(uniqueName('b'), 20, 1000);
    const limiters = [1, 2, 3].map(() => createSharedRateLimiter({ db, clock }, bucket));
    const times = await grantTimes(clock, limiters, 30);
    assert.equal(times.length, 90);
    assert.ok(maxInWindow(times, 1000) <= 20, `${maxInWindow(times, 1000)} grants in one second`);
    // and it is not idle either: 90 grants at 20/s take a little over 4 s, not much more
    const span = (times.at(-1) ?? 0) - (times[0] ?? 0);
    assert.ok(span < 5000, `took ${span} ms`);
  });

  test(`${database.label}: a hold-off stops every limiter on the bucket until it has passed`, {
    skip: database.skip,
  }, async () => {
    const db = await open();
    const clock = createManualClock();
    const bucket = budgetBucket(uniqueName('b'), 10, 10_000);
    const [a, b] = [createSharedRateLimiter({ db, clock }, bucket), createSharedRateLimiter({ db, clock }, bucket)];
    const start = clock.now().getTime();
    await a!.holdOff(3000);
    const times = await grantTimes(clock, [b!], 1);
    assert.ok((times[0] ?? 0) - start >= 3000, `granted after ${(times[0] ?? 0) - start} ms`);
  });

  test(`${database.label}: budgetBucket never allows more than the budget for any burst pattern`, {
    skip: database.skip,
  }, async () => {
    const db = await open();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 3 }), async (requests, processes) => {
        const clock = createManualClock();
        const bucket = budgetBucket(uniqueName('p'), requests, 1000);
        const limiters = Array.from({ length: processes }, () => createSharedRateLimiter({ db, clock }, bucket));
        const times = await grantTimes(clock, limiters, Math.ceil((requests * 2) / processes));
        return maxInWindow(times, 1000) <= requests;
      }),
      { numRuns: 8, seed: 16 },
    );
  });
}
