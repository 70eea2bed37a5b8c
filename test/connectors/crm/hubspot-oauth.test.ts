/**
 * The HubSpot adapter with an OAuth app instead of a private-app token, against the local HubSpot
 * (its /oauth/v1/token speaks HubSpot's form-encoded refresh grant): an access token is requested
 * once and reused, renewed before it expires on the manual clock, renewed once when HubSpot refuses
 * it early, one renewal shared by concurrent calls; bad app credentials are CRM_AUTH_FAILED naming
 * what to check and never echoing a secret; and the configuration takes either way, not both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createManualClock } from '../../../src/clock/manual.ts';
import { loadConfig } from '../../../src/config.ts';
import { createHubspotCrm } from '../../../src/connectors/crm/hubspot/adapter.ts';
import { budgetBucket, createSharedRateLimiter } from '../../../src/connectors/crm/shared-rate-limit.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { startHubspotServer } from './hubspot-server.ts';
import { filePglite } from '../../support/file-pglite.ts';

const database = filePglite(migrate);

const APP = { clientId: 'a1b2-client', clientSecret: 'app-secret-value', refreshToken: 'refresh-secret-value' };

async function setup(t: { after(fn: () => Promise<void>): void }, oauth = APP) {
  const clock = createManualClock(new Date('2026-03-01T00:00:00Z'));
  const server = await startHubspotServer(() => clock.now().getTime());
  t.after(() => server.close());
  server.installOAuthApp({ ...APP, lifetimeSeconds: 1800 });
  const db = await database();
  const bucket = budgetBucket(`hubspot:${randomBytes(4).toString('hex')}`, 1000, 10_000);
  const crm = createHubspotCrm(
    { db, clock, limiter: createSharedRateLimiter({ db, clock }, bucket) },
    { oauth, baseUrl: server.baseUrl, rateLimit: { requests: 1000, perMs: 10_000 } },
  );
  server.addContact({ switchyard_contact_id: 'c-1', lifecyclestage: 'customer' });
  return { clock, server, crm };
}

test('hubspot oauth: one access token for many calls, renewed five minutes before it expires', async (t) => {
  const { clock, server, crm } = await setup(t);
  for (let i = 0; i < 3; i++) assert.equal((await crm.lookup(['c-1'])).get('c-1')?.accountStatus, 'customer');
  assert.equal(server.oauthRequests.length, 1, 'one token request for three calls');
  assert.deepEqual(server.oauthRequests[0]!.form, {
    grant_type: 'refresh_token',
    client_id: APP.clientId,
    client_secret: APP.clientSecret,
    refresh_token: APP.refreshToken,
  });
  await clock.advance(24 * 60_000); // 24 of its 30 minutes: still used
  await crm.lookup(['c-1']);
  assert.equal(server.oauthRequests.length, 1);
  await clock.advance(2 * 60_000); // 26 minutes: within the last five, renewed before the call
  await crm.lookup(['c-1']);
  assert.equal(server.oauthRequests.length, 2);
  assert.ok(
    server.requests.every((r) => r.status === 200 || r.status === 207),
    'no call was refused',
  );
});

test('hubspot oauth: a token refused early is renewed once, concurrent calls sharing the renewal', async (t) => {
  const { server, crm } = await setup(t);
  await crm.lookup(['c-1']);
  server.revokeAccessTokens();
  const results = await Promise.all([crm.lookup(['c-1']), crm.lookup(['c-1']), crm.lookup(['c-1'])]);
  for (const r of results) assert.equal(r.get('c-1')?.accountStatus, 'customer');
  assert.equal(server.oauthRequests.length, 2, 'one renewal for the three refused calls');
  assert.equal(server.requests.filter((r) => r.status === 401).length, 3);

  // refused again right after renewing (the installation removed): one renewal, then the failure
  server.revokeAccessTokens();
  server.installOAuthApp({ ...APP, refreshToken: 'another-installation' });
  const err = await crm.lookup(['c-1']).then(
    () => assert.fail('a removed installation cannot succeed'),
    (e: unknown) => e as { code: string; message: string },
  );
  assert.equal(err.code, 'CRM_AUTH_FAILED');
  assert.match(err.message, /BAD_REFRESH_TOKEN.*SWITCHYARD_HUBSPOT_REFRESH_TOKEN/);
});

test('hubspot oauth: wrong app credentials are CRM_AUTH_FAILED naming what to check, no secret in it', async (t) => {
  const { server, crm } = await setup(t, { ...APP, clientSecret: 'not-the-secret' });
  const err = await crm.lookup(['c-1']).then(
    () => assert.fail('wrong credentials cannot succeed'),
    (e: unknown) => e as { code: string; message: string; retryable?: boolean },
  );
  assert.equal(err.code, 'CRM_AUTH_FAILED');
  assert.notEqual(err.retryable, true);
  assert.match(err.message, /BAD_CLIENT_SECRET/);
  assert.match(err.message, /SWITCHYARD_HUBSPOT_CLIENT_SECRET/);
  for (const secret of ['not-the-secret', APP.clientSecret, APP.refreshToken])
    assert.ok(!err.message.includes(secret), 'no secret in the message');
  assert.equal(server.requests.length, 0, 'no CRM call was sent without a token');

  // HubSpot's token endpoint down: retryable, not an auth failure
  await server.close();
  const down = await crm.lookup(['c-1']).then(
    () => assert.fail('no server'),
    (e: unknown) => e as { code: string; retryable?: boolean },
  );
  assert.equal(down.code, 'CRM_UNAVAILABLE');
  assert.equal(down.retryable, true);
});

test('hubspot oauth: the configuration takes a private-app token or a whole OAuth app, not both', () => {
  const oauthEnv = {
    SWITCHYARD_CRM: 'hubspot',
    SWITCHYARD_HUBSPOT_CLIENT_ID: APP.clientId,
    SWITCHYARD_HUBSPOT_CLIENT_SECRET: APP.clientSecret,
    SWITCHYARD_HUBSPOT_REFRESH_TOKEN: APP.refreshToken,
  };
  const crm = loadConfig(oauthEnv).crm;
  assert.ok(crm.kind === 'hubspot');
  assert.deepEqual(crm.hubspot.oauth, APP);
  assert.equal(crm.hubspot.token, undefined);
  const { SWITCHYARD_HUBSPOT_REFRESH_TOKEN: _omitted, ...partial } = oauthEnv;
  assert.throws(() => loadConfig(partial), /SWITCHYARD_HUBSPOT_TOKEN: required .* unless an OAuth app/);
  assert.throws(
    () => loadConfig({ ...oauthEnv, SWITCHYARD_HUBSPOT_TOKEN: 'pat-na1-x' }),
    /SWITCHYARD_HUBSPOT_REFRESH_TOKEN: set either it/,
  );
  const token = loadConfig({ SWITCHYARD_CRM: 'hubspot', SWITCHYARD_HUBSPOT_TOKEN: 'pat-na1-x' }).crm;
  assert.ok(token.kind === 'hubspot');
  assert.equal(token.hubspot.token, 'pat-na1-x');
  assert.equal(token.hubspot.oauth, undefined);
});
