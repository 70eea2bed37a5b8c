import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../../src/clock/manual.ts';
import { loadConfig } from '../../../src/config.ts';
import {
  addressBucket,
  keyBucket,
  registerRateLimit,
  type RateLimitOptions,
} from '../../../src/api/guards/rate-limit.ts';
import { adminGuardOptions, publicGuardOptions } from '../../../src/api/guards/register.ts';
import { addDummyRoutes, callsTo, createGuardedApp, type GuardedApp } from '../../support/guarded-app.ts';

const TINY: RateLimitOptions = {
  perAddress: { perMinute: 60, burst: 3 },
  perKey: { perMinute: 60, burst: 2 },
  maxTracked: 1000,
};

async function setup(
  options: RateLimitOptions = TINY,
  trustProxy?: boolean,
): Promise<{ g: GuardedApp; clock: ReturnType<typeof createManualClock> }> {
  const clock = createManualClock();
  const g = createGuardedApp(trustProxy === undefined ? {} : { trustProxy });
  registerRateLimit(g.app, options, { clock });
  addDummyRoutes(g);
  await g.app.ready();
  return { g, clock };
}

const from = (ip: string, headers: Record<string, string> = {}) => ({
  method: 'GET' as const,
  url: '/v1/campaigns',
  remoteAddress: ip,
  headers,
});

describe('rate limit guard', () => {
  it('2 000 requests from one address: the burst gets through, then 429 RATE_LIMITED with Retry-After', async (t) => {
    const { g } = await setup({ perAddress: { perMinute: 600, burst: 100 }, maxTracked: 1000 });
    t.after(() => g.app.close());
    const statuses = new Map<number, number>();
    let last: Awaited<ReturnType<typeof g.app.inject>> | undefined;
    for (let i = 0; i < 2000; i++) {
      last = await g.app.inject(from('203.0.113.7'));
      statuses.set(last.statusCode, (statuses.get(last.statusCode) ?? 0) + 1);
    }
    assert.equal(statuses.get(200), 100);
    assert.equal(statuses.get(429), 1900);
    assert.equal(callsTo(g, '/v1/campaigns'), 100, 'refused requests never reach the handler');
    assert.equal(last?.json().error, 'RATE_LIMITED');
    assert.equal(typeof last?.json().message, 'string');
    assert.equal(last?.headers['retry-after'], '1');
  });

  it('Retry-After is whole seconds ≥ 1 and the bucket refills with the clock', async (t) => {
    const { g, clock } = await setup({ perAddress: { perMinute: 2, burst: 1 }, maxTracked: 10 });
    t.after(() => g.app.close());
    assert.equal((await g.app.inject(from('198.51.100.1'))).statusCode, 200);
    const refused = await g.app.inject(from('198.51.100.1'));
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers['retry-after'], '30');
    await clock.advance(29_500);
    assert.equal((await g.app.inject(from('198.51.100.1'))).headers['retry-after'], '1');
    await clock.advance(500);
    assert.equal((await g.app.inject(from('198.51.100.1'))).statusCode, 200);
    assert.equal((await g.app.inject(from('198.51.100.2'))).statusCode, 200, 'another address is unaffected');
  });

  it('a bearer key has its own limit on top of the address limit', async (t) => {
    const { g } = await setup();
    t.after(() => g.app.close());
    const key = { authorization: 'Bearer sk_live_one' };
    assert.equal((await g.app.inject(from('192.0.2.1', key))).statusCode, 200);
    assert.equal((await g.app.inject(from('192.0.2.2', key))).statusCode, 200);
    const third = await g.app.inject(from('192.0.2.3', key));
    assert.equal(third.statusCode, 429, 'the key is limited across addresses');
    assert.match(third.json().message, /API key/);
    assert.doesNotMatch(third.body, /sk_live_one/, 'the key is never echoed');
    assert.equal(
      (await g.app.inject(from('192.0.2.3'))).statusCode,
      200,
      'the address refused by the key limit did not spend its own budget',
    );
  });

  it('rotating made-up keys does not escape the address limit', async (t) => {
    const { g } = await setup();
    t.after(() => g.app.close());
    const codes = [];
    for (let i = 0; i < 10; i++)
      codes.push((await g.app.inject(from('192.0.2.9', { authorization: `Bearer fake-${i}` }))).statusCode);
    assert.deepEqual(codes, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
  });

  it('probes are never limited', async (t) => {
    const { g } = await setup();
    t.after(() => g.app.close());
    for (let i = 0; i < 20; i++) await g.app.inject(from('192.0.2.10'));
    assert.equal((await g.app.inject({ url: '/healthz', remoteAddress: '192.0.2.10' })).statusCode, 200);
    assert.equal((await g.app.inject({ url: '/readyz?full=1', remoteAddress: '192.0.2.10' })).statusCode, 200);
  });

  it('the public options give /webhooks/* its own, larger per-address budget; 0 disables a limit', async (t) => {
    const http = loadConfig({
      SWITCHYARD_RATE_LIMIT_PUBLIC_PER_MIN: '60',
      SWITCHYARD_RATE_LIMIT_PUBLIC_BURST: '2',
      SWITCHYARD_RATE_LIMIT_WEBHOOK_PER_MIN: '0',
    }).http;
    const { g } = await setup(publicGuardOptions(http).rateLimit);
    t.after(() => g.app.close());
    const pixel = () => g.app.inject({ url: '/t/o/abc', remoteAddress: '10.0.0.1' });
    assert.deepEqual(
      [(await pixel()).statusCode, (await pixel()).statusCode, (await pixel()).statusCode],
      [200, 200, 429],
    );
    for (let i = 0; i < 500; i++) {
      const r = await g.app.inject({
        method: 'POST',
        url: '/webhooks/sendgrid',
        remoteAddress: '10.0.0.1',
        payload: {},
      });
      assert.equal(r.statusCode, 200);
    }
    assert.deepEqual(
      publicGuardOptions(http).rateLimit.prefixRules?.map((r) => r.prefix),
      ['/webhooks/', '/t/u/'],
      'one-click unsubscribes from mailbox providers get the provider budget',
    );
  });

  it('uses request.ip: X-Forwarded-For is ignored unless trustProxy is set', async (t) => {
    const direct = await setup();
    t.after(() => direct.g.app.close());
    for (let i = 0; i < 3; i++) await direct.g.app.inject(from('192.0.2.20', { 'x-forwarded-for': `198.51.100.${i}` }));
    assert.equal(
      (await direct.g.app.inject(from('192.0.2.20', { 'x-forwarded-for': '198.51.100.99' }))).statusCode,
      429,
      'a spoofed header does not buy a new bucket',
    );

    const proxied = await setup(TINY, true);
    t.after(() => proxied.g.app.close());
    for (let i = 0; i < 3; i++) await proxied.g.app.inject(from('10.0.0.2', { 'x-forwarded-for': '198.51.100.1' }));
    assert.equal((await proxied.g.app.inject(from('10.0.0.2', { 'x-forwarded-for': '198.51.100.1' }))).statusCode, 429);
    assert.equal(
      (await proxied.g.app.inject(from('10.0.0.2', { 'x-forwarded-for': '198.51.100.2' }))).statusCode,
      200,
      'behind a trusted proxy each client counts apart',
    );
  });

  it('IPv6 addresses count by /64; IPv4-mapped addresses as IPv4', async (t) => {
    assert.equal(addressBucket('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressBucket('2001:db8:1:2:ffff:eeee:dddd:cccc'), '2001:db8:1:2::/64');
    assert.equal(addressBucket('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressBucket('::1'), '0:0:0:0::/64');
    assert.equal(addressBucket('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(addressBucket('192.0.2.1'), '192.0.2.1');
    const { g } = await setup();
    t.after(() => g.app.close());
    const codes = [];
    for (let i = 1; i <= 4; i++) codes.push((await g.app.inject(from(`2001:db8:5:6::${i}`))).statusCode);
    assert.deepEqual(codes, [200, 200, 200, 429]);
  });

  it('keys are bucketed by a SHA-256 of the token, only for Bearer', () => {
    assert.equal(keyBucket(undefined), undefined);
    assert.equal(keyBucket('Basic dXNlcjpwYXNz'), undefined);
    const b = keyBucket('Bearer secret-token');
    assert.equal(b, keyBucket('bearer  secret-token '));
    assert.equal(b?.length, 43);
    assert.ok(!b?.includes('secret'));
  });

  it('memory stays bounded when every request comes from a new address', async (t) => {
    const { g } = await setup({ perAddress: { perMinute: 60, burst: 1 }, maxTracked: 100 });
    t.after(() => g.app.close());
    for (let i = 0; i < 1000; i++) await g.app.inject(from(`10.1.${i >> 8}.${i & 255}`));
    // The oldest addresses were forgotten: the first one is admitted again, the latest is not.
    assert.equal((await g.app.inject(from('10.1.0.0'))).statusCode, 200);
    assert.equal((await g.app.inject(from('10.1.3.231'))).statusCode, 429);
  });

  it('config: defaults, and admin options limit per address and per key', () => {
    const config = loadConfig({});
    assert.equal(config.admin.rateLimit.rule.perMinute, 600);
    assert.equal(config.http.rateLimit.perAddress.perMinute, 6000);
    assert.equal(config.http.rateLimit.maxTracked, 100_000);
    const admin = adminGuardOptions(config.admin);
    assert.deepEqual(admin.rateLimit.perAddress, { perMinute: 600, burst: 120 });
    assert.deepEqual(admin.rateLimit.perKey, { perMinute: 600, burst: 120 });
    assert.equal(publicGuardOptions(config.http).rateLimit.perKey, undefined);
    assert.throws(
      () => loadConfig({ SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN: '-1' }),
      /SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN/,
    );
  });
});
