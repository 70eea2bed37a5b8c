/**
 * CRM batcher on the manual clock: chunking to maxBatchSize and pacing to rateLimit. The CRM
 * behind it is a recording stand-in (the batcher, not an adapter, is under test here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createManualClock, type ManualClock } from '../../../src/clock/manual.ts';
import { createCrmBatcher } from '../../../src/connectors/crm/batcher.ts';
import type { Crm, CrmRecord } from '../../../src/connectors/crm/port.ts';
import { SwitchyardError } from '../../../src/core/errors.ts';

interface Call {
  at: number;
  method: string;
  size: number;
  items: string[];
}

function recordingCrm(
  clock: ManualClock,
  maxBatchSize: number,
  rateLimit: Crm['rateLimit'],
  failOn?: (call: Call) => boolean,
) {
  const calls: Call[] = [];
  const record = (method: string, items: string[]): void => {
    if (items.length > maxBatchSize) throw new SwitchyardError('VALIDATION_FAILED', `too many items: ${items.length}`);
    const call = { at: clock.now().getTime(), method, size: items.length, items };
    calls.push(call);
    if (failOn?.(call)) throw new SwitchyardError('CRM_UNAVAILABLE', 'down', { retryable: true });
  };
  const crm: Crm = {
    readClosedWonDeals: async () => ({ deals: [], more: false }),
    readChangedDeals: async () => ({ changes: [], more: false }),
    name: 'recording',
    maxBatchSize,
    rateLimit,
    async updateFields(update) {
      record('updateFields', [update.contactId]);
      return { updated: true };
    },
    async eraseContacts(emails) {
      record('eraseContacts', [...emails]);
      return { erased: [...emails], notFound: [] };
    },
    async lookup(ids) {
      record('lookup', [...ids]);
      return new Map(ids.filter((id) => !id.endsWith('x')).map((id) => [id, { contactId: id } as CrmRecord]));
    },
    async updateEngagement(updates) {
      record(
        'updateEngagement',
        updates.map((u) => u.contactId),
      );
      return { updated: updates.length };
    },
    async setOptOut(items) {
      record(
        'setOptOut',
        items.map((i) => i.email),
      );
      return { confirmed: items.map((i) => i.email) };
    },
    async createTask(task) {
      record('createTask', [task.contactId]);
      return { id: `t-${calls.length}` };
    },
  };
  return { crm, calls };
}

/** Advances the clock in steps until the promise settles. */
async function settle<T>(clock: ManualClock, p: Promise<T>, stepMs: number): Promise<T> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await clock.advance(0); // let requests due now start before time moves
  for (let i = 0; i < 10_000 && !done; i += 1) await clock.advance(stepMs);
  return p;
}

const ids = (n: number, prefix = 'c'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('batcher: splits a lookup into maxBatchSize chunks and merges the maps', async () => {
  const clock = createManualClock();
  const { crm, calls } = recordingCrm(clock, 100, { requests: 10, perMs: 10_000 });
  const batcher = createCrmBatcher(crm, { clock });
  const all = [...ids(349), 'gonex', 'c5'];
  const found = await settle(clock, batcher.lookup(all), 1000);
  assert.deepEqual(
    calls.map((c) => c.size),
    [100, 100, 100, 50],
  );
  assert.equal(found.size, 349, 'duplicates asked once, unknown ids absent');
  assert.equal(batcher.maxBatchSize, Number.POSITIVE_INFINITY);
});

test('batcher: spaces requests to the rate limit (HubSpot-like 100 per 10 s)', async () => {
  const clock = createManualClock();
  const { crm, calls } = recordingCrm(clock, 100, { requests: 2, perMs: 10_000 });
  const batcher = createCrmBatcher(crm, { clock });
  const updates = ids(450).map((contactId) => ({ contactId, score: 50, lastEngagedAt: clock.now() }));
  const result = await settle(clock, batcher.updateEngagement(updates), 1000);
  assert.equal(result.updated, 450);
  const t0 = new Date('2026-01-01T00:00:00Z').getTime();
  assert.deepEqual(
    calls.map((c) => c.at - t0),
    [0, 0, 10_000, 10_000, 20_000],
  );
});

test('batcher: concurrent callers share one window; createTask counts as a request', async () => {
  const clock = createManualClock();
  const { crm, calls } = recordingCrm(clock, 200, { requests: 1, perMs: 1000 });
  const batcher = createCrmBatcher(crm, { clock });
  const optOuts = batcher.setOptOut(
    ids(300, 'u').map((u) => ({ email: `${u}@example.com`, optedOut: true, reason: 'unsubscribe link' })),
  );
  const task = batcher.createTask({
    contactId: 'c1',
    kind: 'reply-follow-up',
    title: 'Reply',
    body: 'They asked for pricing',
  });
  const [confirmed] = await settle(clock, Promise.all([optOuts, task]), 250);
  assert.equal(confirmed.confirmed.length, 300);
  const t0 = new Date('2026-01-01T00:00:00Z').getTime();
  assert.deepEqual(
    calls.map((c) => [c.method, c.at - t0]),
    [
      ['setOptOut', 0],
      ['createTask', 1000],
      ['setOptOut', 2000],
    ],
  );
});

test('batcher: a failing chunk rejects the call with the CRM error and frees the window for later calls', async () => {
  const clock = createManualClock();
  const { crm, calls } = recordingCrm(clock, 10, { requests: 5, perMs: 1000 }, (c) => c.items.includes('c15'));
  const batcher = createCrmBatcher(crm, { clock });
  const err = await settle(clock, batcher.lookup(ids(30)), 100).catch((e: unknown) => e);
  assert.equal((err as SwitchyardError).code, 'CRM_UNAVAILABLE');
  assert.equal(calls.length, 2, 'stops at the failing chunk');
  const ok = await settle(clock, batcher.lookup(['c1']), 100);
  assert.equal(ok.size, 1);
});

test(
  'batcher: property — any mix of calls stays within ' + 'the rate limit and delivers every item once, in order',
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 6 }),
        async (maxBatchSize, requests, perMs, sizes) => {
          const clock = createManualClock();
          const { crm, calls } = recordingCrm(clock, maxBatchSize, { requests, perMs });
          const batcher = createCrmBatcher(crm, { clock });
          await settle(
            clock,
            Promise.all(
              sizes.map((n, k) =>
                batcher.updateEngagement(
                  ids(n, `k${k}-`).map((contactId) => ({ contactId, score: 1, lastEngagedAt: clock.now() })),
                ),
              ),
            ),
            Math.max(1, Math.floor(perMs / 3)),
          );
          for (const c of calls) {
            const inWindow = calls.filter((d) => d.at <= c.at && d.at > c.at - perMs).length;
            assert.ok(inWindow <= requests, `${inWindow} requests within ${perMs} ms`);
          }
          sizes.forEach((n, k) => {
            const delivered = calls.flatMap((c) => c.items).filter((id) => id.startsWith(`k${k}-`));
            assert.deepEqual(delivered, ids(n, `k${k}-`));
          });
        },
      ),
      { numRuns: 60 },
    );
  },
);
