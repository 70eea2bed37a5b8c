/**
 * A blast through the real campaign path (PGlite, sandbox ESP, the HubSpot adapter against the
 * local HubSpot) while HubSpot answers 429 with Retry-After for a while: the blast waits (its
 * status says it waits on the CRM's rate limit and for how long), every recipient is handled,
 * every message carries the contact's CRM tier, and no 10 s window holds more requests than the
 * configured budget. A second blast of the same audience reads the warm profile cache and asks
 * HubSpot nothing. Time is the manual clock's; it moves only while something sleeps on it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp, type SandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { demoContactId } from '../../src/connectors/warehouse/demo/generate.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { formatStatus } from '../../src/cli/format.ts';
import { drain } from '../support/pipeline.ts';
import { startHubspotServer, type HubspotServer } from '../connectors/crm/hubspot-server.ts';

const SIZE = 1_500;
const BUDGET = 10; // requests per 10 s
const WINDOW_MS = 10_000;
const TIERS = ['smb', 'mid-market', 'enterprise'];
const tierOf = (i: number): string => TIERS[i % TIERS.length]!;

describe('a blast while HubSpot rate-limits', () => {
  let db: Db;
  let app: App;
  let clock: ManualClock;
  let hubspot: HubspotServer;
  let esp: SandboxEsp | undefined;
  before(async () => {
    clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
    hubspot = await startHubspotServer(() => clock.now().getTime());
    for (let i = 0; i < SIZE; i++)
      hubspot.addContact({
        switchyard_contact_id: demoContactId(i),
        switchyard_tier: tierOf(i),
        lifecyclestage: 'customer',
      });
    db = await createPgliteDb({});
    await migrate(db);
    app = await createApp(
      loadConfig({
        SWITCHYARD_TRACKING_SECRET: 'test-secret',
        SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
        SWITCHYARD_DEMO: 'true',
        SWITCHYARD_CRM: 'hubspot',
        SWITCHYARD_HUBSPOT_TOKEN: hubspot.token,
        SWITCHYARD_HUBSPOT_BASE_URL: hubspot.baseUrl,
        SWITCHYARD_HUBSPOT_RATE: String(BUDGET),
      }),
      {
        db,
        clock,
        log: pino({ level: 'silent' }),
        esp: ({ clock: c, ingest }) => {
          esp = createSandboxEsp({ clock: c, emit: async (e) => void (await ingest(e)) }, { eventDelayMs: 86_400_000 });
          return esp;
        },
        governor: { providers: { sandbox: { ratePerSec: 100_000 } } },
      },
    );
  });
  after(async () => {
    await app.close();
    await db.close();
    await hubspot.close();
  });

  /** Drains the pipeline, moving the clock only while a stage sleeps on it or waits for a retry. */
  async function runToEnd(campaignId: string, onPass: () => Promise<void>): Promise<void> {
    for (let pass = 0; pass < 2_000; pass++) {
      if ((await app.campaigns.get(campaignId)).status === 'completed') return;
      let settled = false;
      const drained = drain(app).finally(() => (settled = true));
      while (!settled) {
        if (clock.pending() > 0) await clock.advance(100);
        else await new Promise((r) => setImmediate(r));
      }
      await drained;
      await onPass();
      await clock.advance(500);
    }
    assert.fail('the campaign did not complete');
  }

  const subject = 'Your {{ contact.crm.tier }} plan, {{ contact.firstName | default: "friend" }}';

  it('waits out the 429s, loses nothing, sends nothing unenriched and keeps within the budget', {
    timeout: 120_000,
  }, async () => {
    const c = await app.campaigns.create(demoCampaign({ subject, audience: { source: 'demo', size: SIZE } }));
    // HubSpot refuses the next 9 requests with Retry-After: 3 s (the adapter retries 4 times a call)
    hubspot.throttle(9, 3);
    const startedAt = clock.now().getTime();
    await app.campaigns.start(c.id);
    const waits: { reason: string; expectedWaitSeconds: number }[] = [];
    let shown: string[] = [];
    await runToEnd(c.id, async () => {
      const s = await app.campaigns.status(c.id);
      if (s.progress.waitingOnCrm === undefined) return;
      waits.push(s.progress.waitingOnCrm);
      shown = formatStatus(JSON.parse(JSON.stringify(s)));
    });
    const tookMs = clock.now().getTime() - startedAt;

    // the status said what it waited on and for how long
    assert.ok(
      waits.some((w) => /rate limit \(hubspot\)/.test(w.reason) && w.expectedWaitSeconds > 0),
      JSON.stringify(waits.slice(0, 3)),
    );
    assert.match(shown.join('\n'), /waiting on the CRM's rate limit \(hubspot\).*, about \d+s more/);
    // nothing lost: every recipient has its ledger row, and the campaign completed
    const { rows } = await db.query<{ state: string; n: number }>(
      'select state, count(*)::int as n from send_ledger where campaign_id = $1 group by state',
      [c.id],
    );
    const states = Object.fromEntries(rows.map((r) => [r.state, r.n]));
    assert.equal(
      Object.values(states).reduce((a, b) => a + b, 0),
      SIZE,
    );
    assert.ok((states.sent ?? 0) > SIZE / 2, JSON.stringify(states));
    // nothing unenriched: every message carries its contact's HubSpot tier
    const outbox = [...esp!.outbox()];
    assert.equal(outbox.length, states.sent);
    for (const m of outbox) {
      const i = Number(m.correlation.contactId.slice(4)) - 1;
      assert.equal(
        m.subject.startsWith(`Your ${tierOf(i)} plan,`),
        true,
        `${m.subject} for ${m.correlation.contactId}`,
      );
    }
    // the 429s happened, and the blast slowed for them
    const reads = hubspot.requests.filter((r) => r.path === '/crm/v3/objects/contacts/batch/read');
    assert.equal(reads.filter((r) => r.status === 429).length, 9);
    assert.ok(tookMs >= 9 * 3_000, `took ${tookMs} ms`);
    // profiles are fetched once each, 100 per request (failures retried, not re-fetched)
    const okReads = reads.filter((r) => r.status === 200 || r.status === 207);
    const eligible = new Set(outbox.map((m) => m.correlation.contactId));
    assert.ok(okReads.length >= Math.ceil(eligible.size / 100) && okReads.length <= Math.ceil(SIZE / 100) + 2);
    // no 10 s window ever held more requests than the budget, 429s included
    const at = hubspot.requests.map((r) => r.at).sort((a, b) => a - b);
    for (let i = 0; i < at.length; i++) {
      const inWindow = at.filter((t) => t >= at[i]! && t < at[i]! + WINDOW_MS).length;
      assert.ok(inWindow <= BUDGET, `${inWindow} requests in the 10 s from ${new Date(at[i]!).toISOString()}`);
    }

    // a second blast of the same audience: the warm cache asks HubSpot nothing
    const before = hubspot.requests.length;
    const again = await app.campaigns.create(demoCampaign({ subject, audience: { source: 'demo', size: SIZE } }));
    await app.campaigns.start(again.id);
    await runToEnd(again.id, async () => undefined);
    assert.equal(hubspot.requests.length, before);
    assert.equal(esp!.outbox().length, 2 * outbox.length);
  });
});
