/**
 * Salesforce wired from configuration through the composition root: SWITCHYARD_CRM=salesforce
 * gives the stages a batched Salesforce CRM talking to the local Salesforce, the org's daily API
 * usage shows on /metrics, the crm-changes stage polls changed contacts onto contact.changed, and
 * a bad configuration names its key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../../src/app.ts';
import { createManualClock } from '../../../src/clock/manual.ts';
import { loadConfig } from '../../../src/config.ts';
import { createPgliteDb } from '../../../src/store/pglite/adapter.ts';
import type { Db } from '../../../src/store/port.ts';
import { startSalesforceServer, type SalesforceServer } from './salesforce-server.ts';

let db: Db;
let app: App;
let salesforce: SalesforceServer;
/** The contact the first test adds, stamped at the clock's start. */
let first = '';
const clock = createManualClock(new Date('2026-03-02T00:00:00Z'));

before(async () => {
  salesforce = await startSalesforceServer({ now: () => clock.now() });
  db = await createPgliteDb({});
  app = await createApp(
    loadConfig({
      SWITCHYARD_DEMO: 'false',
      SWITCHYARD_CRM: 'salesforce',
      SWITCHYARD_SALESFORCE_LOGIN_URL: salesforce.baseUrl,
      SWITCHYARD_SALESFORCE_CLIENT_ID: salesforce.clientId,
      SWITCHYARD_SALESFORCE_CLIENT_SECRET: salesforce.clientSecret,
      SWITCHYARD_SALESFORCE_FIELDS: 'idField=Warehouse_Id__c,tier=Plan__c,Title',
      SWITCHYARD_SALESFORCE_RATE: '50',
    }),
    { db, clock, log: pino({ level: 'silent' }) },
  );
});
after(async () => {
  await app.close();
  await db.close();
  await salesforce.close();
});

test('SWITCHYARD_CRM=salesforce: lookups use the mapped fields and the daily usage shows on /metrics', async () => {
  first = salesforce.add('Contact', { Warehouse_Id__c: 'w-1', Plan__c: 'enterprise', Title: 'CTO' });
  assert.equal(app.crm.name, 'salesforce');
  assert.ok(app.suppressionSystems.includes('crm'));
  const found = await app.crm.lookup(['w-1', 'w-2']);
  assert.deepEqual([...found.keys()], ['w-1']);
  assert.equal(found.get('w-1')?.tier, 'enterprise');
  assert.equal(found.get('w-1')?.fields.title, 'CTO');
  assert.match(salesforce.requests.find((r) => r.soql)?.soql ?? '', /WHERE Warehouse_Id__c IN \('w-1','w-2'\)/);
  const metrics = (await app.adminServer.inject('/metrics')).body;
  assert.match(metrics, /switchyard_crm_daily_limit\{crm="salesforce"\} 100000/);
  assert.match(metrics, /switchyard_crm_daily_remaining\{crm="salesforce"\} 9999\d/);
  assert.match(metrics, /switchyard_crm_requests\{crm="salesforce"\} [1-9]/);
});

test('the crm-changes stage polls changed Salesforce contacts onto contact.changed', async () => {
  assert.ok(app.stages.some((s) => s.name === 'crm-changes'));
  const id = salesforce.add(
    'Contact',
    { Warehouse_Id__c: 'w-9', Plan__c: 'smb' },
    new Date(clock.now().getTime() + 1000),
  );
  app.startWorkers(['crm-changes']);
  let rows: { msg_id: string }[] = [];
  while (rows.length === 0) {
    await new Promise((r) => setImmediate(r));
    ({ rows } = await db.query<{ msg_id: string }>("select msg_id from bus_messages where topic = 'contact.changed'"));
  }
  // the first poll starts at the clock's now: the contact stamped then (previous test) is included
  assert.deepEqual(
    rows.map((r) => r.msg_id),
    [`salesforce:${first}@2026-03-02T00:00:00.000Z`, `salesforce:${id}@2026-03-02T00:00:01.000Z`],
  );
});

test('configuration: salesforce without credentials, or a bad field mapping, is CONFIG_INVALID naming the key', () => {
  assert.throws(() => loadConfig({ SWITCHYARD_CRM: 'salesforce' }), /SWITCHYARD_SALESFORCE_CLIENT_ID: required/);
  assert.throws(
    () => loadConfig({ SWITCHYARD_CRM: 'salesforce', SWITCHYARD_SALESFORCE_CLIENT_ID: 'c' }),
    /SWITCHYARD_SALESFORCE_CLIENT_SECRET: required/,
  );
  assert.throws(
    () =>
      loadConfig({
        SWITCHYARD_CRM: 'salesforce',
        SWITCHYARD_SALESFORCE_CLIENT_ID: 'c',
        SWITCHYARD_SALESFORCE_CLIENT_SECRET: 's',
        SWITCHYARD_SALESFORCE_FIELDS: "tier=Plan__c' OR Id != '",
      }),
    /SWITCHYARD_SALESFORCE_FIELDS/,
  );
  const jwt = loadConfig({
    SWITCHYARD_CRM: 'salesforce',
    SWITCHYARD_SALESFORCE_CLIENT_ID: 'c',
    SWITCHYARD_SALESFORCE_JWT_KEY_FILE: '/keys/sf.pem',
    SWITCHYARD_SALESFORCE_USERNAME: 'integration@example.com',
  }).crm;
  assert.equal(jwt.kind === 'salesforce' && jwt.salesforce.jwt?.username, 'integration@example.com');
  assert.throws(
    () => loadConfig({ SWITCHYARD_SALESFORCE_USAGE_THRESHOLD: '1.5' }),
    /SWITCHYARD_SALESFORCE_USAGE_THRESHOLD/,
  );
});
