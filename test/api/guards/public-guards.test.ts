import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../../src/clock/manual.ts';
import { loadConfig } from '../../../src/config.ts';
import { registerTrackingRoutes, type TrackingDeps } from '../../../src/api/routes/tracking.ts';
import { publicGuardOptions, registerPublicGuards } from '../../../src/api/guards/register.ts';
import { signToken } from '../../../src/core/tracking-token.ts';
import { createGuardedApp } from '../../support/guarded-app.ts';

const SECRETS = ['s1'];
const LEDGER = 'camp-1:contact-1';

describe('public guards with the real tracking routes', () => {
  it('pixel, preference page and RFC 8058 one-click keep working; the page keeps its own CSP', async (t) => {
    const clock = createManualClock();
    const g = createGuardedApp();
    const unsubscribes: Parameters<TrackingDeps['unsubscribe']>[0][] = [];
    registerPublicGuards(g.app, publicGuardOptions(loadConfig({}).http), { clock });
    await registerTrackingRoutes(g.app, {
      secrets: SECRETS,
      clock,
      async record() {},
      async unsubscribe(input) {
        unsubscribes.push(input);
      },
      async template() {
        return { links: [] };
      },
    });
    await g.app.ready();
    t.after(() => g.app.close());

    const pixel = await g.app.inject(`/t/o/${signToken(SECRETS, { kind: 'o', ledgerId: LEDGER })}`);
    assert.equal(pixel.statusCode, 200);
    assert.equal(pixel.headers['content-type'], 'image/gif');
    assert.equal(pixel.headers['x-content-type-options'], 'nosniff');

    const unsub = signToken(SECRETS, { kind: 'u', ledgerId: LEDGER });
    const page = await g.app.inject(`/t/u/${unsub}`);
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-security-policy']), /style-src 'unsafe-inline'; form-action 'self'/);
    assert.equal(page.headers['x-frame-options'], 'DENY');

    const oneClick = await g.app.inject({
      method: 'POST',
      url: `/t/u/${unsub}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    assert.equal(oneClick.statusCode, 200);
    assert.equal(unsubscribes.length, 1);
  });

  it('a flood of pixel hits from one address is cut at the configured limit, with Retry-After', async (t) => {
    const clock = createManualClock();
    const g = createGuardedApp();
    const http = loadConfig({
      SWITCHYARD_RATE_LIMIT_PUBLIC_PER_MIN: '600',
      SWITCHYARD_RATE_LIMIT_PUBLIC_BURST: '50',
    }).http;
    registerPublicGuards(g.app, publicGuardOptions(http), { clock });
    await registerTrackingRoutes(g.app, {
      secrets: SECRETS,
      clock,
      async record() {},
      async unsubscribe() {},
      async template() {
        return { links: [] };
      },
    });
    t.after(() => g.app.close());
    const url = `/t/o/${signToken(SECRETS, { kind: 'o', ledgerId: LEDGER })}`;
    let admitted = 0;
    for (let i = 0; i < 200; i++)
      if ((await g.app.inject({ url, remoteAddress: '198.51.100.5' })).statusCode === 200) admitted++;
    assert.equal(admitted, 50);
    await clock.advance(100);
    const after = await g.app.inject({ url, remoteAddress: '198.51.100.5' });
    assert.equal(after.statusCode, 200, '600/min refills one every 100 ms');
    const refused = await g.app.inject({ url, remoteAddress: '198.51.100.5' });
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.headers['x-content-type-options'], 'nosniff');
  });
});
