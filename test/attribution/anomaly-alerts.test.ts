/**
 * Anomaly alerts from the store, through the app as app.ts wires it (PGlite, postgres-log bus,
 * sandbox ESP, manual clock): ten weeks of daily clicks for two campaigns in two segments, then a
 * day where campaign A's human clicks collapse (machine clicks that day must not hide it) and
 * segment vip's clicks jump. One run judges the newest finished day: campaign A is alerted as
 * under-performing, segment vip as over-performing, B (over) and A's segment (under) are not; each
 * alert is stored, published on anomaly.detected and mailed once on the transactional lane. A
 * second run judges nothing; a detector built after a three-day outage judges exactly the three
 * missed days; rewinding the run row judges a day again and stores, publishes and mails nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createAnomalyService } from '../../src/anomalies/service.ts';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders, type AuthHeaders } from '../support/api-keys.ts';
import { type TestDatabase, testDatabases } from '../support/databases.ts';
import { drain } from '../support/pipeline.ts';
import { capturedSandbox } from '../support/captured-sandbox.ts';

const DAY = 86_400_000;
const D0 = Date.parse('2026-03-23T00:00:00Z'); // a Monday
const JUDGED = 69; // the day with the anomalies
const config = loadConfig({
  SWITCHYARD_TRACKING_SECRET: 'test-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
  SWITCHYARD_MESSAGES_POSTAL_ADDRESS: '1 Main St, Springfield',
  SWITCHYARD_ANOMALY_GRANULARITIES: 'day',
  SWITCHYARD_ANOMALY_RECIPIENTS: 'ops@example.com,cmo@example.com',
  SWITCHYARD_ALERT_FROM: 'alerts@mail.example.com',
});

/** Deterministic day-to-day noise of ±10 around `level`. */
const normal = (level: number, d: number): number => level + ((d * 37) % 21) - 10;

async function seedClicks(
  db: Db,
  campaignId: string,
  days: { from: number; to: number },
  count: (d: number) => number,
  machine = false,
): Promise<void> {
  const counts = Array.from({ length: days.to - days.from + 1 }, (_, i) => count(days.from + i));
  await db.query(
    `insert into engagement_events (source_id, type, provider, occurred_at, received_at, campaign_id, contact_id,
                                    is_machine)
     select 'seed:' || $1 || ':' || $5::text || ':' || d || ':' || k, 'clicked', 'test',
            to_timestamp($2::float8 / 1000) + d * interval '1 day' + interval '12 hours',
            to_timestamp($2::float8 / 1000) + d * interval '1 day' + interval '12 hours', $1, 'c' || k, $5::boolean
     from unnest($3::int[], $4::int[]) as x(d, n), generate_series(1, x.n) k`,
    [campaignId, D0, counts.map((_, i) => days.from + i), counts, machine],
  );
}

async function insertCampaign(db: Db, id: string, audience: Record<string, unknown>): Promise<void> {
  await db.query(
    `insert into campaigns (id, name, status, definition, created_at, updated_at)
     values ($1, $1, 'running', $2, $3, $3)`,
    [id, { name: id, audience }, new Date(D0)],
  );
}

for (const tdb of await testDatabases()) describeAlerts(tdb);

function describeAlerts(tdb: TestDatabase): void {
  describe(`anomaly alerts from the store (${tdb.label})`, { skip: tdb.skip }, () => {
    let db: Db;
    let passed = 0;
    let app: App;
    const sandbox = capturedSandbox();
    let admin: AuthHeaders;
    const clock = createManualClock(new Date(D0 + (JUDGED + 1) * DAY + 3_600_000));

    before(async () => {
      db = await tdb.open();
      app = await createApp(config, {
        db,
        clock,
        log: pino({ level: 'silent' }),
        esp: sandbox.factory,
      });
      admin = await authHeaders(app);
      await insertCampaign(db, 'cmp-a', { source: 'demo', size: 10 });
      await insertCampaign(db, 'cmp-b', { source: 'list', list: 'vip' });
      await seedClicks(db, 'cmp-a', { from: 0, to: JUDGED }, (d) => (d === JUDGED ? 12 : normal(100, d)));
      // a link scanner clicks A's links that day: excluded, so A's drop still shows
      await seedClicks(db, 'cmp-a', { from: JUDGED, to: JUDGED }, () => 150, true);
      await seedClicks(db, 'cmp-b', { from: 0, to: JUDGED }, (d) => (d === JUDGED ? 400 : normal(60, d)));
    });
    after(async () => {
      await app?.close();
      await tdb.close(passed === 5);
    });

    const anomalyEvents = async (): Promise<{ msg_id: string }[]> =>
      (await db.query<{ msg_id: string }>(`select msg_id from bus_messages where topic = 'anomaly.detected'`)).rows;

    it('alerts campaign A under- and segment vip over-performing: stored, published, mailed once', async () => {
      const r = await app.anomalies.runOnce();
      assert.equal(r.judgedBuckets, 1);
      const res = await app.adminServer.inject({ method: 'GET', url: '/v1/anomalies?granularity=day', headers: admin });
      assert.equal(res.statusCode, 200, res.body);
      const list = res.json().anomalies as { scope: string; key: string; metric: string; performance: string }[];
      const names = list.map((a) => `${a.scope}:${a.key}:${a.metric}:${a.performance}`).sort();
      assert.ok(names.includes('campaign:cmp-a:clicks:under'), names.join(' '));
      assert.ok(names.includes('segment:vip:clicks:over'), names.join(' '));
      assert.ok(!names.some((n) => n.startsWith('campaign:cmp-b')), names.join(' '));
      assert.ok(!names.some((n) => n.startsWith('segment:demo')), names.join(' '));
      const a = list.find((x) => x.scope === 'campaign') as unknown as Record<string, unknown>;
      assert.equal(a.bucket, new Date(D0 + JUDGED * DAY).toISOString());
      assert.equal(a.value, 12);
      assert.equal(a.direction, 'low');
      assert.equal(r.stored, list.length);
      // one bus event per stored anomaly, its id the anomaly's
      assert.deepEqual(
        (await anomalyEvents()).map((e) => e.msg_id).sort(),
        list.map((x) => (x as never as { id: string }).id).sort(),
      );
      // one email per recipient for the judged day, on the transactional lane
      assert.equal(r.emailed, 2);
      await drain(app, { only: ['send'] });
      const mails = sandbox.esp.outbox().filter((m) => m.subject.includes('anomal'));
      assert.deepEqual(mails.map((m) => m.to).sort(), ['cmo@example.com', 'ops@example.com']);
      assert.match(mails[0]?.subject ?? '', /in the day of 2026-05-31/);
      passed++;
    });

    it('is admin only and refuses a bad filter with a 400', async () => {
      const analyst = await authHeaders(app, 'analyst');
      assert.equal(
        (await app.adminServer.inject({ method: 'GET', url: '/v1/anomalies', headers: analyst })).statusCode,
        403,
      );
      assert.equal((await app.adminServer.inject({ method: 'GET', url: '/v1/anomalies' })).statusCode, 401);
      const bad = await app.adminServer.inject({ method: 'GET', url: '/v1/anomalies?scope=planet', headers: admin });
      assert.equal(bad.statusCode, 400);
      const backwards = await app.adminServer.inject({
        method: 'GET',
        url: '/v1/anomalies?from=2026-06-02T00:00:00Z&to=2026-06-01T00:00:00Z',
        headers: admin,
      });
      assert.equal(backwards.statusCode, 400);
      passed++;
    });

    it('a second run judges nothing new', async () => {
      const before = (await anomalyEvents()).length;
      const r = await app.anomalies.runOnce();
      assert.deepEqual(r, { judgedBuckets: 0, stored: 0, emailed: 0 });
      assert.equal((await anomalyEvents()).length, before);
      passed++;
    });

    it('after a three-day outage a new detector judges exactly the three missed days', async () => {
      await seedClicks(db, 'cmp-a', { from: JUDGED + 1, to: JUDGED + 3 }, (d) =>
        d === JUDGED + 2 ? 5 : normal(100, d),
      );
      await seedClicks(db, 'cmp-b', { from: JUDGED + 1, to: JUDGED + 3 }, (d) => normal(60, d));
      await clock.advance(3 * DAY);
      const restarted = createAnomalyService(
        { db, bus: app.bus, clock, log: pino({ level: 'silent' }), messages: app.messages },
        { ...config.anomalies, recipients: [] },
      );
      const r = await restarted.runOnce();
      assert.equal(r.judgedBuckets, 3);
      const days = (await restarted.list({ scope: 'campaign', granularity: 'day' })).map((a) => a.bucket);
      assert.deepEqual(days, [
        new Date(D0 + (JUDGED + 2) * DAY).toISOString(),
        new Date(D0 + JUDGED * DAY).toISOString(),
      ]);
      const { rows } = await db.query<{ last_bucket: Date }>(
        `select last_bucket from anomaly_runs where granularity = 'day'`,
      );
      assert.equal(rows[0]?.last_bucket.getTime(), D0 + (JUDGED + 3) * DAY);
      passed++;
    });

    it('judging a day again (run row rewound) stores, publishes and mails nothing', async () => {
      const events = (await anomalyEvents()).length;
      const stored = (await app.anomalies.list({ limit: 1000 })).length;
      await db.query(`update anomaly_runs set last_bucket = last_bucket - interval '2 days' where granularity = 'day'`);
      const r = await app.anomalies.runOnce();
      assert.equal(r.judgedBuckets, 2);
      assert.equal(r.stored, 0);
      assert.equal(r.emailed, 0);
      assert.equal((await anomalyEvents()).length, events);
      assert.equal((await app.anomalies.list({ limit: 1000 })).length, stored);
      passed++;
    });
  });
}
