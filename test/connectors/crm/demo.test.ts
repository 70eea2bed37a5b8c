/** Demo CRM on one in-memory PGlite for the file: the CRM contract plus demo-only behaviour. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createManualClock } from '../../../src/clock/manual.ts';
import { createCrmBatcher } from '../../../src/connectors/crm/batcher.ts';
import { createDemoCrm, ensureDemoCrmSchema, isKnownContact } from '../../../src/connectors/crm/demo/adapter.ts';
import { insertDemoDeal, selectTasks, updateDemoDeal } from '../../../src/connectors/crm/demo/queries.ts';
import type { Crm } from '../../../src/connectors/crm/port.ts';
import { type CrmHarness, crmContract } from './port.contract.ts';
import { filePglite } from '../../support/file-pglite.ts';

const database = filePglite(ensureDemoCrmSchema);

/** `n` fresh ids the demo CRM knows (it pretends not to know ~3%). */
function knownIds(n: number): string[] {
  const prefix = randomBytes(4).toString('hex');
  const out: string[] = [];
  for (let i = 0; out.length < n; i += 1) if (isKnownContact(`${prefix}-${i}`)) out.push(`${prefix}-${i}`);
  return out;
}
/** The demo CRM holds only closed-won deals: an open one is simply not stored. */
const addDeal: NonNullable<CrmHarness['addDeal']> = async (deal) => {
  const id = `deal-${randomBytes(4).toString('hex')}`;
  if (deal.won === false) return id;
  await insertDemoDeal(await database(), {
    id,
    ...(deal.accountContactIds ? { accountId: `acct-${id}` } : {}),
    amountMinor: Math.round(Number(deal.amount) * 100),
    currency: 'usd',
    closedAt: deal.closedAt,
    dealContactIds: deal.dealContactIds,
    accountContactIds: deal.accountContactIds ?? [],
  });
  return id;
};

/** Each change is stamped after every earlier one (the contract's deals close in January 2031). */
let changes = 0;
const changeDeal: NonNullable<CrmHarness['changeDeal']> = async (id, change) => {
  const amountMinor = change.amount === undefined ? undefined : Math.round(Number(change.amount) * 100);
  await updateDemoDeal(
    await database(),
    id,
    { ...(amountMinor === undefined ? {} : { amountMinor }), ...(change.won === undefined ? {} : { won: change.won }) },
    new Date(Date.UTC(2031, 5, 1) + ++changes * 60_000),
  );
};

/** The demo CRM's far side is its own tables: read them through a second instance's lookup. */
function demoFields(crm: Crm): (id: string) => Promise<Record<string, unknown>> {
  return async (id) => (await crm.lookup([id])).get(id)?.fields ?? {};
}

function unknownId(): string {
  for (let i = 0; ; i += 1) if (!isKnownContact(`ghost-${i}`)) return `ghost-${i}`;
}

crmContract('demo', async () => {
  const clock = createManualClock();
  const crm = createDemoCrm({ db: await database(), clock });
  return { crm, knownIds, unknownId: unknownId(), run: (p) => p, addDeal, changeDeal, fieldsOf: demoFields(crm) };
});

crmContract('demo with latency', async () => {
  const clock = createManualClock();
  const crm = createDemoCrm({ db: await database(), clock }, { latencyMs: 250 });
  return {
    crm,
    knownIds,
    addDeal,
    changeDeal,
    unknownId: unknownId(),
    fieldsOf: demoFields(createDemoCrm({ db: await database(), clock })),
    async run(p) {
      let done = false;
      p.then(
        () => {
          done = true;
        },
        () => {
          done = true;
        },
      );
      while (!done) await clock.advance(250);
      return p;
    },
  };
});

test('demo CRM: account fields are derived from the contact id, the same every time', async () => {
  const clock = createManualClock();
  const db = await database();
  const ids = knownIds(400);
  const a = await createDemoCrm({ db, clock }).lookup(ids.slice(0, 100));
  const b = await createDemoCrm({ db, clock }).lookup(ids.slice(0, 100));
  assert.deepEqual(a, b);
  const all = await createCrmBatcher(createDemoCrm({ db, clock }, { rateLimit: { requests: 100, perMs: 1000 } }), {
    clock,
  }).lookup(ids);
  const statuses = new Set([...all.values()].map((r) => r.accountStatus));
  assert.deepEqual([...statuses].sort(), ['churned', 'customer', 'prospect', 'trial']);
  assert.ok([...all.values()].every((r) => (r.accountStatus === 'prospect') === (r.owner === undefined)));
  assert.ok([...all.values()].every((r) => r.owner === undefined || r.owner.email.endsWith('@crm.example.com')));
});

test('demo CRM: failRate makes reproducible retryable CRM_UNAVAILABLE failures that change nothing', async () => {
  const clock = createManualClock();
  const db = await database();
  const outcomes = async (): Promise<string[]> => {
    const crm = createDemoCrm({ db, clock }, { failRate: 0.5, seed: 42 });
    const out: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      out.push(
        await crm.lookup(['x']).then(
          () => 'ok',
          (e: { code: string; retryable: boolean }) => `${e.code}:${e.retryable}`,
        ),
      );
    }
    return out;
  };
  const first = await outcomes();
  assert.deepEqual(await outcomes(), first);
  assert.ok(first.includes('ok'));
  assert.ok(first.includes('CRM_UNAVAILABLE:true'));
  assert.ok(first.every((o) => o === 'ok' || o === 'CRM_UNAVAILABLE:true'));
  const [id] = knownIds(1) as [string];
  const always = createDemoCrm({ db, clock }, { failRate: 1 });
  await assert.rejects(always.updateEngagement([{ contactId: id, score: 90, lastEngagedAt: clock.now() }]), {
    code: 'CRM_UNAVAILABLE',
  });
  assert.equal((await createDemoCrm({ db, clock }).lookup([id])).get(id)?.engagementScore, undefined);
});

test('demo CRM: tasks are stored with the clock time; bad input is VALIDATION_FAILED naming the field', async () => {
  const clock = createManualClock(new Date('2026-05-01T09:00:00Z'));
  const db = await database();
  const crm = createDemoCrm({ db, clock });
  const [id] = knownIds(1) as [string];
  const { id: taskId } = await crm.createTask({
    contactId: id,
    kind: 'churn-risk',
    title: 'Call them',
    body: 'Score dropped',
  });
  assert.deepEqual(await selectTasks(db, id), [
    {
      id: taskId,
      contactId: id,
      kind: 'churn-risk',
      title: 'Call them',
      body: 'Score dropped',
      createdAt: new Date('2026-05-01T09:00:00Z'),
    },
  ]);
  await assert.rejects(crm.createTask({ contactId: unknownId(), kind: 'x', title: 'y', body: '' }), {
    code: 'VALIDATION_FAILED',
  });
  await assert.rejects(
    crm.updateEngagement([{ contactId: id, score: 101, lastEngagedAt: clock.now() }]),
    /must be within 0…100, got 101/,
  );
  await assert.rejects(
    crm.setOptOut([{ email: 'not-an-address', optedOut: true, reason: 'x' }]),
    /opt-out email is not an address: "not-an-address"/,
  );
});

test('demo CRM: ensureDemoCrmSchema again leaves the tables and every row the CRM holds as they were', async () => {
  const clock = createManualClock(new Date('2026-05-02T09:00:00Z'));
  const db = await database();
  const crm = createDemoCrm({ db, clock });
  const [id] = knownIds(1) as [string];
  const email = `${id}@example.com`;
  await crm.updateEngagement([{ contactId: id, score: 42, lastEngagedAt: clock.now() }]);
  await crm.setOptOut([{ email, contactId: id, optedOut: true, reason: 'unsubscribed' }]);
  await crm.createTask({ contactId: id, kind: 'churn-risk', title: 'Call them', body: '' });
  const snapshot = async () => ({
    columns: (
      await db.query(`select table_name, column_name, data_type, is_nullable from information_schema.columns
      where table_name like 'demo_crm_%' order by table_name, ordinal_position`)
    ).rows,
    record: (await crm.lookup([id])).get(id),
    optOuts: (
      await db.query('select email, contact_id, opted_out, reason from demo_crm_opt_outs where email = $1', [email])
    ).rows,
    tasks: await selectTasks(db, id),
  });
  const before = await snapshot();
  assert.deepEqual(
    before.columns.map((c) => c.table_name).filter((t, i, all) => all.indexOf(t) === i),
    ['demo_crm_accounts', 'demo_crm_deals', 'demo_crm_opt_outs', 'demo_crm_tasks'],
  );
  assert.equal(before.record?.engagementScore, 42);
  assert.equal(before.record?.optedOut, true);
  assert.deepEqual(before.optOuts, [{ email, contact_id: id, opted_out: true, reason: 'unsubscribed' }]);
  assert.equal(before.tasks.length, 1);

  await ensureDemoCrmSchema(db);
  await ensureDemoCrmSchema(db);
  assert.deepEqual(await snapshot(), before);
});

test('demo CRM: simulated deals close for a share of engaged contacts, once each, worth their tier', async () => {
  const db = await database();
  const clock = createManualClock(new Date('2032-03-01T10:00:00Z'));
  const crm = createDemoCrm({ db, clock }, { maxBatchSize: 1000, simulateDeals: { share: 0.2 } });
  const engaged = knownIds(500);
  const cold = knownIds(200);
  const update = (ids: string[], score: number) =>
    crm.updateEngagement(ids.map((contactId) => ({ contactId, score, lastEngagedAt: clock.now() })));
  await update(engaged, 33);
  await update(cold, 9.5); // one open: below the default 25
  const read = async () =>
    (await crm.readChangedDeals({ until: new Date('2032-03-02T00:00:00Z'), limit: 1000 })).changes.filter((c) =>
      [...engaged, ...cold].some((id) => c.won?.dealContactIds.includes(id)),
    );
  const first = await read();
  const share = first.length / engaged.length;
  assert.ok(share > 0.12 && share < 0.28, `about a fifth of the engaged contacts closed a deal (${share})`);
  assert.ok(
    first.every((c) => engaged.includes(c.won!.dealContactIds[0]!)),
    'no contact below the score closed one',
  );
  const tiers = new Map((await crm.lookup(first.map((c) => c.won!.dealContactIds[0]!))).entries());
  const amounts: Record<string, number> = { smb: 120_000, 'mid-market': 960_000, enterprise: 4_800_000 };
  for (const c of first) {
    const contact = c.won!.dealContactIds[0]!;
    assert.equal(c.won!.amountMinor, amounts[tiers.get(contact)!.tier!], `a year of ${contact}'s tier`);
    assert.equal(c.won!.currency, 'usd');
    assert.deepEqual(c.won!.accountContactIds, [contact]);
    assert.equal(c.won!.closedAt.toISOString(), '2032-03-01T10:00:00.000Z');
  }

  // the same contacts again, later and more engaged: no second deal, the first one unchanged
  await clock.advance(3_600_000);
  await update(engaged, 80);
  assert.deepEqual(await read(), first);
  // without the option (any other demo CRM) nothing closes
  const plain = createDemoCrm({ db, clock }, { maxBatchSize: 1000 });
  const others = knownIds(300);
  await plain.updateEngagement(others.map((contactId) => ({ contactId, score: 90, lastEngagedAt: clock.now() })));
  const none = (await crm.readChangedDeals({ until: new Date('2032-03-02T00:00:00Z'), limit: 1000 })).changes;
  assert.ok(none.every((c) => !others.includes(c.won?.dealContactIds[0] ?? '')));
});
