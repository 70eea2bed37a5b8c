/**
 * HubSpot webhooks: signature v3 checked against an independent implementation of HubSpot's
 * documented algorithm (stale timestamp, tampered URI and body, wrong secret, decoded URI
 * characters), the normaliser on a recorded-shape batch, POST /webhooks/hubspot on a real
 * postgres-log bus (changes on contact.changed, deduplicated by event id; forged, stale and
 * malformed requests refused and dead-lettered), and `switchyard webhooks verify --provider hubspot`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { registerCrmWebhookRoutes } from '../../../src/api/routes/crm-webhooks.ts';
import { createPostgresLogBus } from '../../../src/bus/postgres-log/adapter.ts';
import { createManualClock } from '../../../src/clock/manual.ts';
import { createContactChangePublisher } from '../../../src/composition/crm.ts';
import { createWebhookVerifiers } from '../../../src/composition/webhook-verifiers.ts';
import { normalize } from '../../../src/connectors/crm/hubspot/normalize.ts';
import { verify } from '../../../src/connectors/crm/hubspot/verify.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { createPgliteDb } from '../../../src/store/pglite/adapter.ts';
import type { Db } from '../../../src/store/port.ts';

const SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';
const URL_CALLED = 'https://hooks.example.com/webhooks/hubspot';
const NOW = new Date('2026-03-02T00:00:00Z');
const BATCH = readFileSync(new URL('../../fixtures/crm/hubspot/contact-events-batch.json', import.meta.url), 'utf8');

/** HubSpot's v3 steps written out independently of src/: decode the listed characters, concat, HMAC, base64. */
function hubspotSigns(secret: string, method: string, uri: string, body: string, ts: number): string {
  const decoded = uri
    .replaceAll('%3A', ':')
    .replaceAll('%2F', '/')
    .replaceAll('%3F', '?')
    .replaceAll('%40', '@')
    .replaceAll('%21', '!')
    .replaceAll('%24', '$')
    .replaceAll('%27', "'")
    .replaceAll('%28', '(')
    .replaceAll('%29', ')')
    .replaceAll('%2A', '*')
    .replaceAll('%2C', ',')
    .replaceAll('%3B', ';');
  return createHmac('sha256', secret).update(`${method}${decoded}${body}${ts}`, 'utf8').digest('base64');
}

function signed(body: string, ts = NOW.getTime() - 1000, url = URL_CALLED, secret = SECRET) {
  return {
    'content-type': 'application/json',
    'x-hubspot-signature-v3': hubspotSigns(secret, 'POST', url, body, ts),
    'x-hubspot-request-timestamp': String(ts),
  };
}

test('signature v3: a correctly signed request verifies', () => {
  const res = verify(
    { body: BATCH, headers: signed(BATCH), method: 'POST', url: URL_CALLED },
    { clientSecret: SECRET },
    NOW,
  );
  assert.deepEqual(res, { ok: true });
});

test('signature v3: a timestamp older than 5 minutes is WEBHOOK_STALE, even when signed correctly', () => {
  const ts = NOW.getTime() - 301_000;
  const res = verify(
    { body: BATCH, headers: signed(BATCH, ts), method: 'POST', url: URL_CALLED },
    { clientSecret: SECRET },
    NOW,
  );
  assert.equal(res.ok, false);
  assert.equal(!res.ok && res.code, 'WEBHOOK_STALE');
  const fresh = NOW.getTime() - 299_000;
  assert.equal(
    verify(
      { body: BATCH, headers: signed(BATCH, fresh), method: 'POST', url: URL_CALLED },
      { clientSecret: SECRET },
      NOW,
    ).ok,
    true,
  );
});

test('signature v3: a tampered URI, body, method, timestamp or a wrong secret is WEBHOOK_SIGNATURE_INVALID', () => {
  const headers = signed(BATCH);
  const cases = [
    { body: BATCH, url: `${URL_CALLED}?portal=1`, method: 'POST', headers },
    { body: BATCH, url: 'https://evil.example.com/webhooks/hubspot', method: 'POST', headers },
    { body: BATCH.replace('customer', 'churned'), url: URL_CALLED, method: 'POST', headers },
    { body: BATCH, url: URL_CALLED, method: 'PUT', headers },
    {
      body: BATCH,
      url: URL_CALLED,
      method: 'POST',
      headers: { ...headers, 'x-hubspot-request-timestamp': String(NOW.getTime() - 2000) },
    },
    { body: BATCH, url: URL_CALLED, method: 'POST', headers: signed(BATCH, NOW.getTime() - 1000, URL_CALLED, 'other') },
    { body: BATCH, url: URL_CALLED, method: 'POST', headers: { ...headers, 'x-hubspot-signature-v3': 'not base64!' } },
  ];
  for (const c of cases) {
    const res = verify(c, { clientSecret: SECRET }, NOW);
    assert.equal(!res.ok && res.code, 'WEBHOOK_SIGNATURE_INVALID', JSON.stringify(c.url));
  }
  const { 'x-hubspot-signature-v3': _, ...unsigned } = headers;
  const missing = verify(
    { body: BATCH, url: URL_CALLED, method: 'POST', headers: unsigned },
    { clientSecret: SECRET },
    NOW,
  );
  assert.match(!missing.ok ? missing.reason : '', /missing header X-HubSpot-Signature-v3/);
});

test('signature v3: the percent-encodings HubSpot lists are decoded before hashing', () => {
  const url = 'https://hooks.example.com/webhooks/hubspot?next=%2Fhome%3Fa%3A1%40b&x=%20y';
  const headers = signed(BATCH, NOW.getTime() - 1000, url);
  assert.equal(verify({ body: BATCH, headers, method: 'POST', url }, { clientSecret: SECRET }, NOW).ok, true);
  // %20 is not on the list: signing it decoded does not verify
  const other = 'https://hooks.example.com/webhooks/hubspot?next=%2Fhome%3Fa%3A1%40b&x= y';
  const res = verify(
    { body: BATCH, headers: signed(BATCH, NOW.getTime() - 1000, other), method: 'POST', url },
    { clientSecret: SECRET },
    NOW,
  );
  assert.equal(res.ok, false);
});

test('normalize: creations, property changes, deletions, merges; other objects ignored; bad events rejected', () => {
  const out = normalize(JSON.parse(BATCH));
  assert.deepEqual(
    out.changes.map((c) => [c.eventId, c.kind, c.crmId, c.properties, c.mergedCrmIds]),
    [
      ['62515:1001', 'created', '123', {}, undefined],
      ['62515:1002', 'updated', '123', { lifecyclestage: 'customer' }, undefined],
      ['62515:1003', 'deleted', '456', {}, undefined],
      ['62515:1004', 'merged', '792', {}, ['790', '791', '789']],
    ],
  );
  assert.equal(out.changes[0]?.occurredAt, '2026-03-02T00:00:00.000Z');
  assert.deepEqual(
    out.ignored.map((i) => i.index),
    [4],
  );
  assert.deepEqual(out.rejected, [{ index: 5, reason: 'eventId and portalId must be numeric ids' }]);
  assert.throws(() => normalize({ eventId: 1 }), { code: 'WEBHOOK_PAYLOAD_INVALID' });
});

let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
});
after(async () => {
  await db.close();
});

async function routeHarness(t: { after(fn: () => Promise<void>): void }) {
  const clock = createManualClock(NOW);
  const bus = createPostgresLogBus({ db, clock, instanceId: 'test-hubspot' });
  const app = Fastify();
  registerCrmWebhookRoutes(app, {
    hubspot: createWebhookVerifiers({ hubspot: { clientSecret: SECRET } }).hubspot,
    publishChanges: createContactChangePublisher(bus),
    deadLetters: bus.deadLetters,
    refused: { inc() {} },
    clock,
    maxBodyBytes: 1024 * 1024,
    publicUrl: 'https://hooks.example.com/',
  });
  await app.ready();
  t.after(() => app.close());
  const post = (body: string, headers: Record<string, string>, path = '/webhooks/hubspot') =>
    app.inject({ method: 'POST', url: path, payload: body, headers });
  const deadLetters = async (stage: string) =>
    (
      await db.query<{ code: string; message: string }>('select code, message from dead_letters where stage = $1', [
        stage,
      ])
    ).rows;
  return { post, deadLetters };
}

test('POST /webhooks/hubspot: changes go on contact.changed once per event id; redelivery = duplicates', async (t) => {
  const h = await routeHarness(t);
  const first = await h.post(BATCH, signed(BATCH));
  assert.equal(first.statusCode, 200, first.body);
  assert.deepEqual(first.json(), { accepted: 4, duplicates: 0, rejected: 1, ignored: 1 });
  const again = await h.post(BATCH, signed(BATCH, NOW.getTime() - 500));
  assert.deepEqual(again.json(), { accepted: 0, duplicates: 4, rejected: 1, ignored: 1 });
  const { rows } = await db.query<{ msg_id: string; msg_key: string; payload: string }>(
    "select msg_id, msg_key, payload::text as payload from bus_messages where topic = 'contact.changed' order by seq",
  );
  assert.deepEqual(
    rows.map((r) => {
      const payload = JSON.parse(r.payload) as { kind: string; source: string };
      return [r.msg_id, r.msg_key, payload.kind, payload.source];
    }),
    [
      ['hubspot:62515:1001', '123', 'created', 'hubspot'],
      ['hubspot:62515:1002', '123', 'updated', 'hubspot'],
      ['hubspot:62515:1003', '456', 'deleted', 'hubspot'],
      ['hubspot:62515:1004', '792', 'merged', 'hubspot'],
    ],
  );
  const rejected = await h.deadLetters('webhook.hubspot');
  assert.ok(rejected.some((d) => d.code === 'WEBHOOK_PAYLOAD_INVALID' && /numeric ids/.test(d.message)));
});

test('POST /webhooks/hubspot: forged, stale, malformed requests are 401/400 with a code, dead-lettered', async (t) => {
  const h = await routeHarness(t);
  const forged = await h.post(BATCH, signed(BATCH, NOW.getTime() - 1000, URL_CALLED, 'guess'));
  assert.equal(forged.statusCode, 401);
  assert.equal(forged.json().error, 'WEBHOOK_SIGNATURE_INVALID');
  const stale = await h.post(BATCH, signed(BATCH, NOW.getTime() - 600_000));
  assert.equal(stale.statusCode, 401);
  assert.equal(stale.json().error, 'WEBHOOK_STALE');
  // signed for another URL: the path HubSpot was configured with is part of what is signed
  const elsewhere = await h.post(BATCH, signed(BATCH), '/webhooks/hubspot?x=1');
  assert.equal(elsewhere.statusCode, 401);
  const notArray = '{"eventId":1}';
  const malformed = await h.post(notArray, signed(notArray));
  assert.equal(malformed.statusCode, 400);
  assert.equal(malformed.json().error, 'WEBHOOK_PAYLOAD_INVALID');
  const notJson = 'eventId=1';
  const garbage = await h.post(notJson, signed(notJson));
  assert.equal(garbage.statusCode, 400);
  const refused = await h.deadLetters('webhook.hubspot.refused');
  assert.deepEqual(refused.map((d) => d.code).sort(), [
    'WEBHOOK_SIGNATURE_INVALID',
    'WEBHOOK_SIGNATURE_INVALID',
    'WEBHOOK_STALE',
  ]);
  const verified = await h.deadLetters('webhook.hubspot');
  assert.ok(verified.some((d) => /must be a JSON array/.test(d.message)));
  assert.ok(verified.some((d) => d.message === 'body is not JSON'));
});

const CLI = fileURLToPath(new URL('../../support/webhook-cli.ts', import.meta.url));
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, 'webhooks', 'verify', ...args],
      { timeout: 20_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

test('switchyard webhooks verify --provider hubspot: valid, stale, tampered URI, and usage errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-hubspot-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bodyFile = join(dir, 'batch.json');
  writeFileSync(bodyFile, BATCH);
  const ts = NOW.getTime() - 1000;
  const base = [
    '--provider',
    'hubspot',
    '--body-file',
    bodyFile,
    '--secret',
    SECRET,
    '--header',
    `X-HubSpot-Signature-v3: ${hubspotSigns(SECRET, 'POST', URL_CALLED, BATCH, ts)}`,
    '--header',
    `X-HubSpot-Request-Timestamp: ${ts}`,
  ];
  const ok = await cli([...base, '--url', URL_CALLED, '--now', NOW.toISOString()]);
  assert.deepEqual([ok.code, ok.stdout], [0, 'valid\n']);
  const stale = await cli([...base, '--url', URL_CALLED, '--now', '2026-03-02T01:00:00Z']);
  assert.equal(stale.code, 1);
  assert.match(stale.stdout, /^invalid: WEBHOOK_STALE/);
  const tampered = await cli([...base, '--url', `${URL_CALLED}?a=1`, '--now', NOW.toISOString()]);
  assert.equal(tampered.code, 1);
  assert.match(tampered.stdout, /^invalid: WEBHOOK_SIGNATURE_INVALID/);
  const put = await cli([...base, '--url', URL_CALLED, '--method', 'put', '--now', NOW.toISOString()]);
  assert.equal(put.code, 1);
  const noUrl = await cli([...base, '--now', NOW.toISOString()]);
  assert.equal(noUrl.code, 2);
  assert.match(noUrl.stderr, /hubspot needs --url/);
});
