import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

describe('HTTP server', () => {
  let db: Db;
  let app: App;
  before(async () => {
    db = await createPgliteDb({});
    app = await createApp(loadConfig({ SWITCHYARD_DEMO: 'false' }), { db, clock: createManualClock(), log: pino({ level: 'silent' }) });
  });
  after(async () => { await app.close(); await db.close(); });

  it('/healthz and /readyz answer; /readyz checks store and bus', async () => {
    assert.deepEqual((await app.server.inject('/healthz')).json(), { status: 'ok' });
    const ready = await app.server.inject('/readyz');
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json().checks, { store: 'ok', bus: 'ok' });
  });

  it('/metrics exposes bus depth, lag and dead letters per topic and group', async () => {
    await app.bus.publish('demo.metrics', [{ id: 'a', payload: {} }, { id: 'b', payload: {} }]);
    await app.bus.ensureGroup({ topic: 'demo.metrics', group: 'watcher' });
    await app.bus.deadLetters.add({ stage: 'webhook.test', payload: {}, code: 'WEBHOOK_PAYLOAD_INVALID', message: 'bad' });
    const res = await app.server.inject('/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /switchyard_bus_pending_messages\{topic="demo.metrics",group="watcher"\} 2/);
    assert.match(res.body, /switchyard_bus_consumer_lag_seconds\{topic="demo.metrics",group="watcher"\}/);
    assert.match(res.body, /switchyard_dead_letters 1/);
    assert.match(res.body, /switchyard_http_request_duration_seconds_bucket/);
  });

  it('serves an OpenAPI document and the docs UI', async () => {
    const spec = (await app.server.inject('/openapi.json')).json();
    assert.equal(spec.openapi, '3.0.3');
    assert.ok(spec.paths['/v1/dead-letters']);
    assert.equal((await app.server.inject('/docs/')).statusCode, 200);
  });

  it('lists and retries dead letters; bad input is a 400 naming the problem', async () => {
    const list = (await app.server.inject('/v1/dead-letters?stage=webhook.test')).json();
    assert.equal(list.deadLetters[0].code, 'WEBHOOK_PAYLOAD_INVALID');
    const retry = await app.server.inject({ method: 'POST', url: '/v1/dead-letters/retry', payload: { ids: [list.deadLetters[0].id] } });
    assert.deepEqual(retry.json(), { retried: [] });
    const bad = await app.server.inject({ method: 'POST', url: '/v1/dead-letters/retry', payload: { ids: 'all' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error, 'VALIDATION_FAILED');
    assert.match(bad.json().message, /ids/);
  });
});
