/**
 * HubSpot wired from configuration through the composition root: SWITCHYARD_CRM=hubspot gives the
 * stages a batched HubSpot CRM talking to the local HubSpot, its daily allowance shows on
 * /metrics, suppressions propagate to it, a signed webhook on the public listener lands on
 * contact.changed, and a bad configuration names its key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { pino } from 'pino';
import { createApp, type App } from '../../../src/app.ts';
import { createManualClock } from '../../../src/clock/manual.ts';
import { loadConfig } from '../../../src/config.ts';
import { createPgliteDb } from '../../../src/store/pglite/adapter.ts';
import type { Db } from '../../../src/store/port.ts';
import { startHubspotServer, type HubspotServer } from './hubspot-server.ts';

const SECRET = 'app-client-secret';
let db: Db;
let app: App;
let hubspot: HubspotServer;
const clock = createManualClock(new Date('2026-03-02T00:00:00Z'));

before(async () => {
  hubspot = await startHubspotServer(() => clock.now().getTime());
  db = await createPgliteDb({});
  app = await createApp(
    loadConfig({
      SWITCHYARD_DEMO: 'false',
      SWITCHYARD_CRM: 'hubspot',
      SWITCHYARD_HUBSPOT_TOKEN: hubspot.token,
      SWITCHYARD_HUBSPOT_BASE_URL: hubspot.baseUrl,
      SWITCHYARD_HUBSPOT_RATE: '50',
      SWITCHYARD_HUBSPOT_PROPERTIES: 'idProperty=warehouse_id,tier=plan_tier,jobtitle',
      SWITCHYARD_HUBSPOT_CLIENT_SECRET: SECRET,
      SWITCHYARD_PUBLIC_URL: 'https://hooks.example.com',
    }),
    { db, clock, log: pino({ level: 'silent' }) },
  );
});
after(async () => {
  await app.close();
  await db.close();
  await hubspot.close();
});

test('SWITCHYARD_CRM=hubspot: lookups use the mapped properties and the allowance shows on /metrics', async () => {
  hubspot.addContact({ warehouse_id: 'w-1', plan_tier: 'enterprise', lifecyclestage: 'customer', jobtitle: 'CTO' });
  assert.equal(app.crm.name, 'hubspot');
  assert.ok(app.suppressionSystems.includes('crm'));
  const found = await app.crm.lookup(['w-1', 'w-2']);
  assert.deepEqual([...found.keys()], ['w-1']);
  assert.equal(found.get('w-1')?.tier, 'enterprise');
  assert.equal(found.get('w-1')?.fields.jobtitle, 'CTO');
  const read = hubspot.requests.find((r) => r.path === '/crm/v3/objects/contacts/batch/read');
  assert.equal((read?.body as { idProperty?: string } | undefined)?.idProperty, 'warehouse_id');
  const metrics = (await app.adminServer.inject('/metrics')).body;
  assert.match(metrics, /switchyard_crm_daily_limit\{crm="hubspot"\} 250000/);
  assert.match(metrics, /switchyard_crm_daily_remaining\{crm="hubspot"\} \d+/);
  assert.match(metrics, /switchyard_crm_requests\{crm="hubspot"\} [1-9]/);
});

test('a signed HubSpot webhook on the public listener lands on contact.changed', async () => {
  const body = JSON.stringify([
    {
      eventId: 77,
      portalId: 9,
      occurredAt: clock.now().getTime() - 2000,
      subscriptionType: 'contact.propertyChange',
      objectId: 51,
      propertyName: 'plan_tier',
      propertyValue: 'smb',
    },
  ]);
  const ts = clock.now().getTime() - 1000;
  const signature = createHmac('sha256', SECRET)
    .update(`POSThttps://hooks.example.com/webhooks/hubspot${body}${ts}`)
    .digest('base64');
  const res = await app.publicServer.inject({
    method: 'POST',
    url: '/webhooks/hubspot',
    payload: body,
    headers: {
      'content-type': 'application/json',
      'x-hubspot-signature-v3': signature,
      'x-hubspot-request-timestamp': String(ts),
    },
  });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), { accepted: 1, duplicates: 0, rejected: 0, ignored: 0 });
  const { rows } = await db.query<{ msg_id: string }>(
    "select msg_id from bus_messages where topic = 'contact.changed'",
  );
  assert.deepEqual(
    rows.map((r) => r.msg_id),
    ['hubspot:9:77'],
  );
});

test('configuration: hubspot without a token, or a bad property mapping, is CONFIG_INVALID naming the key', () => {
  assert.throws(() => loadConfig({ SWITCHYARD_CRM: 'hubspot' }), /SWITCHYARD_HUBSPOT_TOKEN: required/);
  assert.throws(
    () =>
      loadConfig({
        SWITCHYARD_CRM: 'hubspot',
        SWITCHYARD_HUBSPOT_TOKEN: 't',
        SWITCHYARD_HUBSPOT_PROPERTIES: 'colour=x',
      }),
    /SWITCHYARD_HUBSPOT_PROPERTIES: "colour=x" is not role=property/,
  );
  assert.throws(() => loadConfig({ SWITCHYARD_HUBSPOT_RATE: '1' }), /SWITCHYARD_HUBSPOT_RATE/);
  assert.equal(loadConfig({}).crm.kind, 'demo');
  assert.equal(loadConfig({ SWITCHYARD_DEMO: 'false' }).crm.kind, 'none');
});
