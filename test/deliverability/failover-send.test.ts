/**
 * Failover through the real send stage (manual clock, two sandbox ESPs): the primary fails, its
 * messages come back retryable, the chunk retry re-claims them in the ledger and they go to the
 * secondary. Every sent ledger row is in exactly one outbox; nothing is in both.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp, type SandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { createFailoverEsp, type FailoverEsp } from '../../src/deliverability/failover-esp.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { drain } from '../support/pipeline.ts';

const silent = pino({ level: 'silent' });
const config = loadConfig({
  SWITCHYARD_TRACKING_SECRET: 'test-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
});

describe('failover ESP in the send stage', () => {
  let db: Db;
  let app: App;
  let primary: SandboxEsp;
  let secondary: SandboxEsp;
  let esp: FailoverEsp;
  const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    app = await createApp(config, {
      db,
      clock,
      log: silent,
      newId: () => 'cmp-failover',
      esp: ({ clock: c }) => {
        const emit = async (): Promise<void> => undefined;
        primary = createSandboxEsp({ clock: c, emit }, { eventDelayMs: 86_400_000 });
        secondary = createSandboxEsp({ clock: c, emit }, { eventDelayMs: 86_400_000 });
        esp = createFailoverEsp(primary, secondary, { clock: c, failureThreshold: 1, coolDownMs: 15 * 60_000 });
        return esp;
      },
      governor: { providers: { sandbox: { ratePerSec: 100_000 } } },
    });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('a failing primary: the chunk retry goes to the secondary, and no message reaches both', async () => {
    primary.failNext(1); // the first request fails: its chunk is retried after the switch
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: 400, seed: 5 } }));
    await app.campaigns.start(c.id);
    await drain(app);
    assert.ok(secondary.outbox().length > 0 || esp.active() === 'secondary', 'switched after the failed request');
    for (let i = 0; i < 10 && (await app.campaigns.get(c.id)).status === 'running'; i++) {
      await clock.advance(10 * 60_000);
      await drain(app);
    }
    assert.equal((await app.campaigns.get(c.id)).status, 'completed');
    const { rows } = await db.query<{ contact_id: string }>(
      `select contact_id from send_ledger where campaign_id = $1 and state = 'sent'`,
      [c.id],
    );
    const inPrimary = primary.outbox().map((m) => m.correlation.contactId);
    const inSecondary = secondary.outbox().map((m) => m.correlation.contactId);
    assert.ok(inSecondary.length > 0, 'the secondary took over');
    const all = [...inPrimary, ...inSecondary];
    assert.equal(new Set(all).size, all.length, 'no message in both outboxes, nobody got two');
    assert.deepEqual(
      new Set(all),
      new Set(rows.map((r) => r.contact_id)),
      'every sent ledger row is in exactly one outbox',
    );
    assert.ok(rows.length > 100);
  });
});
