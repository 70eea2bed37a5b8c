/**
 * Crypto-shredding end to end (issue 18): a subject is mailed by a blast, reacts (opens through the
 * sandbox, an unsubscribe webhook), lands in a dead letter; then erasure. After it, a scan of every
 * table of the store (every column, the row cast to text), the bus log, the dead letters and the
 * captured log output finds no plain-text trace of the address or the name, the ledger rows that
 * remain cannot be opened, and the subject is still suppressed: a second blast to the same audience
 * does not mail them. Tables of the external-system fakes (demo_*) are the CRM's and warehouse's own
 * data, erased by their own fan-out steps, and are left out of the scan.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type App } from '../../src/app.ts';
import { findSuppressed } from '../../src/compliance/suppression.ts';
import { loadConfig } from '../../src/config.ts';
import { createSandboxEsp, type SandboxEsp } from '../../src/connectors/esp/sandbox/adapter.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { listReviewItems } from '../../src/reactions/review-queue.ts';
import { drain } from '../support/pipeline.ts';

const dir = mkdtempSync(join(tmpdir(), 'erasure-'));
const dataDir = mkdtempSync(join(tmpdir(), 'erasure-data-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

const SUBJECT = {
  id: 'cus_subject',
  email: 'Zebedee.Quixoteworth@Example.org',
  first: 'Zebedee',
  last: 'Quixoteworth',
};
const needles = [SUBJECT.email.toLowerCase(), SUBJECT.first.toLowerCase(), SUBJECT.last.toLowerCase()];
// what the subject's reactions carry besides the address: their reading IP and user agent (a vendor's
// open event) and their own words (a reply)
const IP = '203.0.113.77';
const AGENT = 'Mozilla/5.0 (Quixophone) ZebAgent/9';
const REPLY = 'who gave you this address? marmalade umbrella';
const traces = [...needles, IP, AGENT.toLowerCase(), 'marmalade umbrella'];

describe('erasure of one subject', () => {
  let db: Db;
  let app: App;
  let esp: SandboxEsp | undefined;
  const logged: string[] = [];
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
    const lines = ['customer_id,email_address,country_code,marketing_opt_in,first_name,last_name'];
    lines.push(`${SUBJECT.id},${SUBJECT.email},US,true,${SUBJECT.first},${SUBJECT.last}`);
    for (let i = 0; i < 40; i++) lines.push(`cus_other${i},other${i}@example.com,US,true,Other${i},Person`);
    writeFileSync(join(dir, 'audience.csv'), `${lines.join('\n')}\n`);
    const config = loadConfig({
      SWITCHYARD_TRACKING_SECRET: 'test-secret',
      SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
      SWITCHYARD_CSV_DIRS: dir,
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_DEMO: 'false',
    });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logged.push(chunk.toString());
        done();
      },
    });
    app = await createApp(config, {
      db,
      log: createLogger('debug', sink),
      // durable simulated events (sandbox_events holds addresses until they are emitted)
      esp: ({ clock, ingest }) =>
        (esp = createSandboxEsp(
          {
            clock,
            db,
            emit: async (e) => {
              await ingest(e);
            },
          },
          { eventDelayMs: 0, seed: 7 },
        )),
    });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  const campaign = () =>
    demoCampaign({
      audience: {
        source: 'csv',
        path: join(dir, 'audience.csv'),
        mapping: {
          columns: {
            id: 'customer_id',
            email: 'email_address',
            country: 'country_code',
            marketingOptIn: 'marketing_opt_in',
            firstName: 'first_name',
            lastName: 'last_name',
          },
        },
      },
    });

  it('leaves no plain-text trace in any table, the bus log, dead letters or logs; the subject stays suppressed', {
    timeout: 120_000,
  }, async () => {
    const first = await app.campaigns.create(campaign());
    await app.campaigns.start(first.id);
    await drain(app, { log: app.log });
    assert.ok(
      esp!.outbox().some((m) => m.to.toLowerCase() === needles[0]),
      'the subject was mailed',
    );
    await esp!.flushDue();
    // reactions naming the address, and a failure kept for inspection
    await app.ingest([
      {
        type: 'unsubscribed',
        sourceId: 'sendgrid:erasure-1',
        provider: 'sendgrid',
        occurredAt: app.clock.now(),
        email: SUBJECT.email,
        raw: { email: SUBJECT.email, note: `${SUBJECT.first} ${SUBJECT.last} clicked unsubscribe` },
      },
    ]);
    await app.ingest([
      {
        type: 'opened',
        sourceId: 'sendgrid:erasure-open-1',
        provider: 'sendgrid',
        occurredAt: app.clock.now(),
        email: SUBJECT.email,
        contactId: SUBJECT.id,
        campaignId: first.id,
        ip: IP,
        userAgent: AGENT,
        raw: { email: SUBJECT.email, ip: IP, useragent: AGENT, event: 'open' },
      },
      {
        type: 'replied',
        sourceId: 'inbound:erasure-reply-1',
        provider: 'inbound',
        occurredAt: app.clock.now(),
        email: SUBJECT.email,
        contactId: SUBJECT.id,
        campaignId: first.id,
        raw: { verified: true, text: REPLY, from: SUBJECT.email },
      },
    ]);
    await app.bus.deadLetters.add({
      stage: 'test',
      payload: { recipient: { email: SUBJECT.email, firstName: SUBJECT.first } },
      code: 'BUS_HANDLER_FAILED',
      message: `could not handle ${SUBJECT.email}`,
    });
    await drain(app, { log: app.log });
    assert.ok((await scan(db)).length > 0, 'before erasure the subject is in the store (the scan can find it)');
    // at rest before any erasure: the open keeps neither the vendor payload (IP, user agent) nor the
    // address; the reply's words are sealed in the event and in its review item, readable through privacy
    const atRest = await scan(db, [IP, AGENT.toLowerCase(), 'marmalade umbrella']);
    assert.deepEqual(atRest, [], 'no IP, user agent or reply text in plain text');
    const { rows: events } = await db.query<{
      source_id: string;
      email: string | null;
      raw: { sealed?: string } | null;
    }>(`select source_id, email, raw from engagement_events where source_id like '%erasure-%' order by source_id`);
    assert.deepEqual(
      events.map((e) => [e.source_id, e.email === null, e.raw === null, typeof e.raw?.sealed]),
      [
        ['inbound:erasure-reply-1', false, false, 'string'],
        ['sendgrid:erasure-1', false, false, 'undefined'],
        ['sendgrid:erasure-open-1', true, true, 'undefined'],
      ],
    );
    const [item] = await listReviewItems(db, {}, app.privacy);
    assert.equal(item?.excerpt, REPLY, 'the review queue reads the reply through the privacy module');

    const result = await app.erase(SUBJECT.email, { names: [SUBJECT.first, SUBJECT.last] });
    assert.equal(result.shredded, true);
    assert.equal(result.suppressedAs, 'unsubscribed');
    app.log.info({ subject: result.subject, scrubbed: result.scrubbed }, 'subject erased');
    await drain(app, { log: app.log });

    assert.deepEqual(await scan(db, traces), [], 'no table holds the address, the name, IP, user agent or reply');
    const logText = logged.join('').toLowerCase();
    for (const n of traces) assert.ok(!logText.includes(n), `log output mentions ${n}`);
    assert.equal((await listReviewItems(db, {}, app.privacy))[0]?.excerpt, '[erased]');
    assert.ok(logged.length > 0, 'the log was captured');
    assert.equal(await app.privacy.isShredded(SUBJECT.email), true);
    // the ledger rows remain (counts, idempotency) but open to nothing
    const { rows } = await db.query<{ email: string }>('select email from send_ledger where contact_id = $1', [
      SUBJECT.id,
    ]);
    assert.ok(rows.length > 0);
    assert.deepEqual(
      await app.privacy.openMany(rows.map((r) => r.email)),
      rows.map(() => null),
    );
    // still suppressed, though no table names the address
    const suppressed = await findSuppressed(db, [SUBJECT.email], app.privacy.blindIndex);
    assert.equal(suppressed.get(needles[0]!), 'unsubscribed');
    const sentBefore = esp!.outbox().length;
    const second = await app.campaigns.create(campaign());
    await app.campaigns.start(second.id);
    await drain(app, { log: app.log });
    const mailed = esp!.outbox().slice(sentBefore);
    // the sandbox simulates a few bounces and unsubscribes among the others: those are suppressed too
    assert.ok(mailed.length >= 30, `the others are mailed again (${mailed.length})`);
    assert.ok(!mailed.some((m) => m.to.toLowerCase() === needles[0]), 'the erased subject is not');
    const reasons = (await app.campaigns.status(second.id)).reasons;
    assert.equal(reasons['suppressed:unsubscribed'], 1, JSON.stringify(reasons));
    // a repeat erasure finds nothing left to change
    const again = await app.erase(SUBJECT.email, { names: [SUBJECT.first, SUBJECT.last] });
    assert.equal(again.shredded, false);
    assert.deepEqual(await scan(db, traces), []);
  });
});

/** Every table of the store except the external-system fakes: `table: row` for rows mentioning a needle. */
async function scan(db: Db, look: readonly string[] = needles): Promise<string[]> {
  const { rows: tables } = await db.query<{ name: string }>(
    `select table_name as name from information_schema.tables
     where table_schema = current_schema() and table_type = 'BASE TABLE' and table_name not like 'demo\\_%'`,
  );
  assert.ok(tables.length > 20, `found the tables (${tables.length})`);
  const hits: string[] = [];
  for (const { name } of tables) {
    // the table name comes from the catalogue, quoted as an identifier
    const { rows } = await db.query<{ t: string }>(`select t::text as t from "${name.replaceAll('"', '""')}" t`);
    for (const r of rows) {
      const t = r.t.toLowerCase();
      if (look.some((n) => t.includes(n))) hits.push(`${name}: ${r.t.slice(0, 200)}`);
    }
  }
  return hits;
}
