/**
 * A/B tests end to end on the blast road (PGlite, manual clock, sandbox ESP, the real stages):
 * the test share is sent in cells, reactions arrive, the winner is chosen (by the test, by the
 * deadline's fallback, or by hand), the remainder is sent the winner, and every contact gets
 * exactly one message, also when a select step fails halfway and runs again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import type { Audience } from '../../src/campaigns/types.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp, type SandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { createDemoWarehouse } from '../../src/connectors/warehouse/demo/adapter.ts';
import type { Warehouse } from '../../src/connectors/warehouse/port.ts';
import type { EngagementEvent } from '../../src/core/events.ts';
import { SwitchyardError } from '../../src/core/errors.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders } from '../support/api-keys.ts';
import { drain } from '../support/pipeline.ts';

const config = loadConfig({
  SWITCHYARD_TRACKING_SECRET: 'test-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
});

const VARIANTS = [
  { name: 'control' },
  { name: 'short', subject: 'A quick update' },
  { name: 'question', subject: 'Have you seen what is new?', preheader: 'Three new features' },
];

function mulberry(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('A/B tests on the blast road', () => {
  let db: Db;
  let app: App;
  let clock: ManualClock;
  let esp: SandboxEsp;
  /** When set, the demo warehouse fails (retryably) after this many batches, once. */
  let failAfterBatches: number | null = null;
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
    app = await createApp(config, {
      db,
      clock,
      log: pino({ level: 'silent' }),
      esp: ({ clock: c, ingest }) => {
        // simulated reactions are the test's own (below): the sandbox's would come a day later
        esp = createSandboxEsp({ clock: c, emit: async (e) => void (await ingest(e)) }, { eventDelayMs: 86_400_000 });
        return esp;
      },
      governor: { providers: { sandbox: { ratePerSec: 100_000 } } },
      openWarehouse: (audience: Audience): Warehouse => {
        const demo = createDemoWarehouse(audience.source === 'demo' ? audience : {});
        return {
          ...demo,
          stream: async function* (query, opts) {
            let n = 0;
            for await (const batch of demo.stream(query, opts)) {
              if (failAfterBatches !== null && n === failAfterBatches) {
                failAfterBatches = null;
                throw new SwitchyardError('WAREHOUSE_UNREACHABLE', 'connection reset', { retryable: true });
              }
              n++;
              yield batch;
            }
          },
        };
      },
    });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  /** The sandbox's messages of one campaign, by contact. */
  function sentBy(campaignId: string): Map<string, string[]> {
    const by = new Map<string, string[]>();
    for (const r of esp.outbox()) {
      if (r.correlation.campaignId !== campaignId) continue;
      const list = by.get(r.correlation.contactId) ?? [];
      list.push(r.subject);
      by.set(r.correlation.contactId, list);
    }
    return by;
  }

  function clicks(
    campaignId: string,
    contactIds: readonly string[],
    isMachine: boolean,
    tag: string,
  ): EngagementEvent[] {
    return contactIds.map((contactId) => ({
      type: 'clicked',
      sourceId: `test:${tag}:${campaignId}:${contactId}`,
      provider: 'tracking',
      occurredAt: clock.now(),
      campaignId,
      contactId,
      url: 'https://demo.example.com/pricing',
      isMachine,
      raw: {},
    }));
  }

  it('three variants: the test share is sent in cells, the better variant wins, the remainder gets it', async () => {
    const c = await app.campaigns.create(
      demoCampaign({
        audience: { source: 'demo', size: 6_000, seed: 3 },
        abTest: {
          variants: VARIANTS,
          testShare: 0.5,
          minSamplePerCell: 200,
          expectedRate: 0.05,
          minimumLift: 1,
          decideWithinHours: 4,
        },
      }),
    );
    await app.campaigns.start(c.id);
    await drain(app);

    // the test share went out; the campaign waits for its winner, neither completed nor stalled
    let s = await app.campaigns.status(c.id);
    assert.equal(s.campaign.status, 'running');
    assert.equal(s.abTest?.phase, 'testing');
    assert.notEqual(s.abTest?.testSentAt, null);
    assert.equal(s.progress.stalledSince, null);
    const test = sentBy(c.id);
    const total = s.campaign.selected;
    assert.ok(test.size > 2_000 && test.size < 3_000, `${test.size} of ~${total} in a 50 % share`);
    const bySubject = new Map<string, string[]>();
    for (const [contact, subjects] of test) {
      assert.equal(subjects.length, 1);
      bySubject.set(subjects[0]!, [...(bySubject.get(subjects[0]!) ?? []), contact]);
    }
    // the control's subject greets each contact by name
    const control = [...bySubject.entries()]
      .filter(([subject]) => subject.startsWith('What is new'))
      .flatMap((e) => e[1]);
    const short = bySubject.get('A quick update')!;
    const question = bySubject.get('Have you seen what is new?')!;
    assert.equal(control.length + short.length + question.length, test.size);
    for (const cell of [control, short, question]) assert.ok(Math.abs(cell.length - test.size / 3) <= 30);

    // reactions: the question converts 30 %, the others 5 %; scanners click 70 % of "short"
    // (machine clicks never count, or "short" would win)
    const random = mulberry(11);
    const pick = (ids: string[], p: number) => ids.filter(() => random() < p);
    const humanShort = pick(short, 0.05);
    await app.ingest([
      ...clicks(c.id, pick(control, 0.05), false, 'h'),
      ...clicks(c.id, humanShort, false, 'h'),
      ...clicks(c.id, pick(short, 0.7), true, 'm'),
      ...clicks(c.id, pick(question, 0.3), false, 'h'),
    ]);
    await drain(app);

    s = await app.campaigns.status(c.id);
    assert.equal(s.abTest?.decision?.variant, 2);
    assert.equal(s.abTest?.decision?.how, 'test');
    assert.equal(s.abTest?.live.cells[1]?.conversions, humanShort.length);
    assert.equal(s.campaign.status, 'completed');

    // everyone exactly one message; everyone outside the test share got the winner
    const all = sentBy(c.id);
    for (const [contact, subjects] of all) {
      assert.equal(subjects.length, 1, `${contact} got ${subjects.length} messages`);
      if (!test.has(contact)) assert.equal(subjects[0], 'Have you seen what is new?');
    }
    assert.equal(all.size, (s.counts.sent ?? 0) + (s.counts.delivered ?? 0));
    assert.ok(all.size > test.size * 1.8, `${all.size} sent in all, ${test.size} in the test`);
  });

  it('no winner by the deadline: the fallback goes to the remainder', async () => {
    const c = await app.campaigns.create(
      demoCampaign({
        audience: { source: 'demo', size: 3_000, seed: 4 },
        abTest: { variants: VARIANTS.slice(0, 2), testShare: 0.3, decideWithinHours: 2, fallback: 1 },
      }),
    );
    await app.campaigns.start(c.id);
    await drain(app);
    const test = sentBy(c.id);
    let s = await app.campaigns.status(c.id);
    assert.equal(s.abTest?.decision, null);
    assert.match(s.abTest?.live.reason ?? '', /waiting for 1000 recipients per variant/);

    await clock.advance(2 * 3_600_000 - 1);
    await drain(app);
    assert.equal((await app.campaigns.status(c.id)).abTest?.decision, null);
    await clock.advance(1);
    await drain(app);
    s = await app.campaigns.status(c.id);
    assert.equal(s.abTest?.decision?.how, 'deadline');
    assert.equal(s.abTest?.decision?.variant, 1);
    assert.equal(s.campaign.status, 'completed');
    for (const [contact, subjects] of sentBy(c.id)) {
      assert.equal(subjects.length, 1);
      if (!test.has(contact)) assert.equal(subjects[0], 'A quick update');
    }
  });

  it('a select step that fails halfway runs again without sending anyone twice; a winner picked by hand', async () => {
    const c = await app.campaigns.create(
      demoCampaign({
        audience: { source: 'demo', size: 25_000, seed: 5 },
        abTest: { variants: VARIANTS, testShare: 0.2, decideWithinHours: 24 },
      }),
    );
    const headers = await authHeaders(app);
    await app.campaigns.start(c.id);
    // the first step reads 10 chunks; the warehouse drops the connection after the third
    failAfterBatches = 3;
    await drain(app);
    assert.equal(failAfterBatches, null, 'the failure happened');
    // no pick while the test share is still being read (the failed step waits out its backoff)
    const early = await app.adminServer.inject({
      method: 'POST',
      url: `/v1/campaigns/${c.id}/ab-test/winner`,
      headers,
      payload: { variant: 1 },
    });
    assert.equal(early.statusCode, 409);
    for (let i = 0; i < 20 && !(await app.campaigns.get(c.id)).selectDone; i++) {
      await clock.advance(30_000);
      await drain(app);
    }
    const test = sentBy(c.id);
    for (const subjects of test.values()) assert.equal(subjects.length, 1);

    const url = `/v1/campaigns/${c.id}/ab-test`;
    assert.equal((await app.adminServer.inject({ method: 'GET', url })).statusCode, 401);
    const live = await app.adminServer.inject({ method: 'GET', url, headers });
    assert.equal(live.statusCode, 200);
    assert.equal(live.json().phase, 'testing');
    assert.equal(live.json().live.cells.length, 3);
    const bad = await app.adminServer.inject({
      method: 'POST',
      url: `${url}/winner`,
      headers,
      payload: { variant: 9 },
    });
    assert.equal(bad.statusCode, 400);
    const picked = await app.adminServer.inject({
      method: 'POST',
      url: `${url}/winner`,
      headers,
      payload: { variant: 1 },
    });
    assert.equal(picked.statusCode, 200);
    assert.equal(picked.json().decision.how, 'manual');
    const again = await app.adminServer.inject({
      method: 'POST',
      url: `${url}/winner`,
      headers,
      payload: { variant: 2 },
    });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error, 'CAMPAIGN_STATE_CONFLICT');

    await drain(app);
    const s = await app.campaigns.status(c.id);
    assert.equal(s.campaign.status, 'completed');
    const all = sentBy(c.id);
    for (const [contact, subjects] of all) {
      assert.equal(subjects.length, 1, `${contact} got ${subjects.length} messages`);
      if (!test.has(contact)) assert.equal(subjects[0], 'A quick update');
    }
    assert.equal(all.size, (s.counts.sent ?? 0) + (s.counts.delivered ?? 0));
  });

  it('on revenue: the variant whose recipients spend more (net of refunds, from billing) wins', async () => {
    const c = await app.campaigns.create(
      demoCampaign({
        audience: { source: 'demo', size: 2_000, seed: 6 },
        abTest: {
          variants: VARIANTS.slice(0, 2),
          testShare: 0.5,
          metric: 'revenue',
          expectedRate: 500,
          minimumLift: 1,
          minSamplePerCell: 200,
          decideWithinHours: 4,
        },
      }),
    );
    await app.campaigns.start(c.id);
    await drain(app);
    const test = sentBy(c.id);
    const control = [...test].filter(([, s]) => s[0]!.startsWith('What is new')).map(([id]) => id);
    const short = [...test].filter(([, s]) => s[0] === 'A quick update').map(([id]) => id);
    // "short" buyers: 30 % spend 50.00; control: 5 %; one control purchase refunded in full
    const random = mulberry(17);
    const buyers = [...short.filter(() => random() < 0.3), ...control.filter(() => random() < 0.05)];
    await app.billing.applyFacts(
      'sql',
      buyers.map((contactId) => ({
        kind: 'conversion' as const,
        id: `sql:order-${c.id}-${contactId}`,
        contactHint: contactId,
        amountMinor: 5_000,
        currency: 'usd',
        occurredAt: clock.now(),
      })),
    );
    await drain(app);
    const s = await app.campaigns.status(c.id);
    assert.equal(s.abTest?.metric, 'revenue');
    assert.equal(s.abTest?.decision?.variant, 1, s.abTest?.live.reason);
    const shortBuyers = buyers.filter((b) => short.includes(b)).length;
    assert.equal(s.abTest?.live.cells[1]?.sum, shortBuyers * 5_000);
    assert.equal(s.campaign.status, 'completed');
    for (const subjects of sentBy(c.id).values()) assert.equal(subjects.length, 1);

    await assert.rejects(
      app.campaigns.create(
        demoCampaign({
          abTest: { variants: VARIANTS.slice(0, 2), testShare: 0.2, metric: 'revenue', decideWithinHours: 1 },
        }),
      ),
      (err: SwitchyardError) => err.code === 'CAMPAIGN_INVALID' && /expectedRate/.test(err.message),
    );
  });

  it('refuses a test that names a missing fallback, and one variant alone', async () => {
    await assert.rejects(
      app.campaigns.create(
        demoCampaign({ abTest: { variants: VARIANTS.slice(0, 2), testShare: 0.2, decideWithinHours: 1, fallback: 3 } }),
      ),
      (err: SwitchyardError) => err.code === 'CAMPAIGN_INVALID' && /fallback/.test(err.message),
    );
    await assert.rejects(
      app.campaigns.create(demoCampaign({ abTest: { variants: [{}], testShare: 0.2, decideWithinHours: 1 } })),
      (err: SwitchyardError) => err.code === 'CAMPAIGN_INVALID' && /variants/.test(err.message),
    );
  });
});
