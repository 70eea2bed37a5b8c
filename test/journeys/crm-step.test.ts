/**
 * The journey `updateCrm` step end to end, on the manual clock: SWITCHYARD_CRM=hubspot against the
 * local HubSpot wire server. The dispatcher queues one outbox message per (run, step); the
 * journeys stage's consumer PATCHes the contact; an outage is retried with backoff and each
 * attempt is written in the run history; a field the vendor refuses is recorded as failed and
 * dead-lettered, not retried; a redelivered message and a replayed pass set nothing twice.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { TOPICS } from '../../src/bus/topics.ts';
import { crmUpdateId } from '../../src/journeys/dispatcher.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { startHubspotServer, type HubspotServer } from '../connectors/crm/hubspot-server.ts';
import { drain } from '../support/pipeline.ts';

let db: Db;
let app: App;
let hubspot: HubspotServer;
const clock = createManualClock(new Date('2026-03-02T10:00:00Z'));

before(async () => {
  hubspot = await startHubspotServer(() => clock.now().getTime());
  db = await createPgliteDb({});
  await migrate(db);
  app = await createApp(
    loadConfig({
      SWITCHYARD_TRACKING_SECRET: 'test-secret',
      SWITCHYARD_DEMO: 'false',
      SWITCHYARD_CRM: 'hubspot',
      SWITCHYARD_HUBSPOT_TOKEN: hubspot.token,
      SWITCHYARD_HUBSPOT_BASE_URL: hubspot.baseUrl,
      SWITCHYARD_HUBSPOT_RATE: '50',
      SWITCHYARD_HUBSPOT_PROPERTIES: 'idProperty=warehouse_id',
    }),
    {
      db,
      clock,
      log: pino({ level: 'silent' }),
      esp: (d) => createSandboxEsp({ clock: d.clock, emit: async () => {} }),
    },
  );
});
after(async () => {
  await app.close();
  await db.close();
  await hubspot.close();
});

async function outcome(contactId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ outcome: string }>(
    `select s.outcome from journey_steps s join journey_runs r on r.id = s.run_id
      where r.contact_id = $1 and s.step_id = 'mark'`,
    [contactId],
  );
  return rows[0]?.outcome;
}

it('sets CRM fields through the outbox, retries an outage with backoff, records a refusal', async () => {
  const ok = hubspot.addContact({ warehouse_id: 'w-ok', lifecyclestage: 'lead' });
  const flaky = hubspot.addContact({ warehouse_id: 'w-flaky', lifecyclestage: 'lead' });
  const refused = hubspot.addContact({ warehouse_id: 'w-refused', lifecyclestage: 'lead' });
  hubspot.refuseUpdates(refused, 'Property "journey_stage" is read-only');
  await app.journeys.save('crm', {
    name: 'CRM',
    trigger: { type: 'manual' },
    from: { address: 'hello@mail.example.com' },
    postalAddress: '1 Main St, Springfield',
    start: 'mark',
    steps: [{ id: 'mark', type: 'updateCrm', fields: { journey_stage: 'nurtured', journey_hot: true } }],
  });
  await app.journeys.enter('crm', [{ id: 'w-ok' }, { id: 'w-missing' }, { id: 'w-refused' }], { key: 'a' });
  while ((await app.journeyDispatcher.runOnce()) > 0);
  assert.equal(await outcome('w-ok'), 'CRM update queued: journey_hot, journey_stage');

  await drain(app, { only: ['journeys'] });
  assert.equal(hubspot.contact(ok)?.properties.journey_stage, 'nurtured');
  assert.equal(hubspot.contact(ok)?.properties.journey_hot, 'true');
  assert.equal(await outcome('w-ok'), 'CRM fields set: journey_hot, journey_stage');
  assert.equal(await outcome('w-missing'), 'CRM update skipped: the CRM has no record of w-missing');
  assert.match(
    (await outcome('w-refused')) ?? '',
    /^CRM update failed after 1 attempt\(s\), not retried: VALIDATION_FAILED .*read-only/,
  );
  assert.equal(hubspot.contact(refused)?.properties.journey_stage, undefined);
  const dead = (await app.bus.deadLetters.list({ stage: 'journeys' })).filter(
    (d) => d.topic === TOPICS.journeyCrmUpdate,
  );
  assert.deepEqual(
    dead.map((d) => [d.messageId, d.code]),
    [[crmUpdateId('crm:w-refused:1', 'mark'), 'VALIDATION_FAILED']],
  );

  // HubSpot is down for the first two attempts: the bus retries with backoff on the clock
  await app.journeys.enter('crm', [{ id: 'w-flaky' }], { key: 'b' });
  while ((await app.journeyDispatcher.runOnce()) > 0);
  hubspot.outage(2);
  await drain(app, { only: ['journeys'] });
  assert.match((await outcome('w-flaky')) ?? '', /^CRM update failed \(attempt 1 of 10\), retrying: CRM_UNAVAILABLE/);
  assert.equal(hubspot.contact(flaky)?.properties.journey_stage, undefined);
  await clock.advance(3_000);
  await drain(app, { only: ['journeys'] });
  assert.match((await outcome('w-flaky')) ?? '', /\(attempt 2 of 10\), retrying/);
  await clock.advance(5_000);
  await drain(app, { only: ['journeys'] });
  assert.equal(await outcome('w-flaky'), 'CRM fields set: journey_hot, journey_stage');
  assert.equal(hubspot.contact(flaky)?.properties.journey_stage, 'nurtured');

  // a redelivery of a done update calls nothing: the history says it was set
  const patches = () => hubspot.requests.filter((r) => r.method === 'PATCH').length;
  const before = patches();
  await app.bus.publish(TOPICS.journeyCrmUpdate, [
    {
      id: `${crmUpdateId('crm:w-ok:1', 'mark')}:again`,
      key: 'w-ok',
      payload: { journeyId: 'crm', runId: 'crm:w-ok:1', stepId: 'mark', contactId: 'w-ok', fields: { x: 1 } },
    },
  ]);
  await drain(app, { only: ['journeys'] });
  assert.equal(patches(), before);
});
