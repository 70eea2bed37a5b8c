/**
 * A recipient whose render exceeds the template limits during a blast is a permanent failure for
 * that recipient (a `failed` ledger row naming TEMPLATE_LIMIT_EXCEEDED, a render dead letter),
 * never a crash or a stuck chunk: everyone else in the chunk is sent. Memory limit, so the test
 * does not depend on the machine's speed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { demoContactId } from '../../src/connectors/warehouse/demo/generate.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { drain } from '../support/pipeline.ts';

describe('template limits during a send', () => {
  let db: Db;
  let app: App;
  const clock = createManualClock(new Date('2026-03-10T15:00:00Z'));
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    app = await createApp(
      loadConfig({ SWITCHYARD_TRACKING_SECRET: 's', SWITCHYARD_TEMPLATE_MEMORY_LIMIT: '1000000' }),
      {
        db,
        clock,
        log: pino({ level: 'silent' }),
        newId: () => 'limits-1',
        esp: () => createSandboxEsp({ clock, emit: async () => undefined }),
      },
    );
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  it('the one recipient whose data makes the template blow its memory limit fails; the others are sent', async () => {
    const heavy = demoContactId(2);
    const c = await app.campaigns.create(
      demoCampaign({
        audience: { source: 'demo', size: 8 },
        template: {
          html: `<body>Hi {% if contact.id == '${heavy}' %}{% for i in (1..2000000) %}x{% endfor %}{% endif %}</body>`,
        },
      }),
    );
    assert.deepEqual(await app.campaigns.validate(c.id), { ok: true, errors: [] }, 'on its own the template is fine');
    await app.campaigns.start(c.id);
    await drain(app);
    const { rows } = await db.query<{ contact_id: string; state: string; reason: string | null }>(
      'select contact_id, state, reason from send_ledger where campaign_id = $1 order by contact_id',
      [c.id],
    );
    const failed = rows.filter((r) => r.state === 'failed');
    assert.deepEqual(
      failed.map((r) => r.contact_id),
      [heavy],
    );
    assert.match(failed[0]?.reason ?? '', /^TEMPLATE_LIMIT_EXCEEDED: /);
    assert.ok(
      rows.some((r) => r.state === 'sent'),
      JSON.stringify(rows),
    );
    const letters = await app.bus.deadLetters.list({ stage: 'render' });
    assert.equal(letters.length, 1);
    assert.match(letters[0]?.message ?? '', /TEMPLATE_LIMIT_EXCEEDED/);
  });
});
