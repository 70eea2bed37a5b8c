/** The CLI's HTTP calls get through the admin guards (a real listener on port 0, real fetch). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { callApi } from '../../src/cli/http.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { adminGuardOptions, registerAdminGuards } from '../../src/api/guards/register.ts';
import { addDummyRoutes, callsTo, createGuardedApp } from '../support/guarded-app.ts';

describe('campaign CLI against the admin guards', () => {
  it('a body-less action (cancel) sends JSON {} and is accepted; a read and a create work too', async (t) => {
    const g = createGuardedApp();
    await registerAdminGuards(g.app, adminGuardOptions(loadConfig({ SWITCHYARD_ADMIN_PORT: '0' }).admin), {
      clock: createManualClock(),
    });
    addDummyRoutes(g);
    await g.app.listen({ host: '127.0.0.1', port: 0 });
    t.after(() => g.app.close());
    const base = {
      base: `http://127.0.0.1:${(g.app.server.address() as AddressInfo).port}`,
      key: 'sy_test_key',
      keyHint: 'test',
    };

    assert.deepEqual(await callApi(base, 'POST', '/v1/campaigns/c1/cancel'), { ok: true });
    assert.deepEqual(g.bodies, [{}]);
    assert.deepEqual(await callApi(base, 'GET', '/v1/campaigns'), { campaigns: [] });
    assert.deepEqual(await callApi(base, 'POST', '/v1/campaigns', { name: 'x' }), { ok: true });
    assert.equal(callsTo(g, '/v1/campaigns/:id/cancel'), 1);
  });
});
