import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import pino from 'pino';
import { createConsumer } from '../../src/bus/consumer.ts';
import type { Bus } from '../../src/bus/port.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { getSuppression } from '../../src/compliance/suppression.ts';
import { encodeVerpAddress } from '../../src/core/bounce/verp.ts';
import { createInboundHandler, inboundSourceId, INBOUND_DEAD_LETTER_STAGE, type InboundHandlerDeps } from '../../src/reactions/inbound-handler.ts';
import { createInboundSmtpListener } from '../../src/reactions/inbound/smtp-listener.ts';
import { createIngest, SUPPRESSED_TOPIC, type Ingest, type SuppressedPayload } from '../../src/reactions/ingest.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

const SECRET = 'fixture-secret';
const log = pino({ level: 'silent' });
const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/inbound/${name}`, import.meta.url));

let db: Db;
let clock: ManualClock;
let bus: Bus;
let ingest: Ingest;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  clock = createManualClock(new Date('2026-11-26T08:00:00Z'));
  bus = createPostgresLogBus({ db, clock });
  ingest = createIngest({ db, bus, clock });
});
after(async () => { await db.close(); });

/** The real inbound SMTP listener on port 0 with the handler under test; a nodemailer client. */
async function listen(t: TestContext, overrides: Partial<InboundHandlerDeps> = {}) {
  const onMessage = createInboundHandler({ ingest, deadLetters: bus.deadLetters, clock, verpSecret: SECRET, ...overrides });
  const listener = createInboundSmtpListener({ onMessage }, { host: '127.0.0.1', port: 0, maxMessageBytes: 256 * 1024 });
  const { port } = await listener.listen();
  t.after(() => listener.close());
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  t.after(() => transport.close());
  return (raw: Buffer, to: string[] = ['bounces@bounce.shop.example.com']) => transport.sendMail({ envelope: { from: '', to }, raw });
}

async function suppressedMessages(group: string): Promise<SuppressedPayload[]> {
  const got: SuppressedPayload[] = [];
  const consumer = createConsumer<SuppressedPayload>({ bus, clock, log }, { topic: SUPPRESSED_TOPIC, group }, async (m) => { got.push(m.payload); });
  while (await consumer.runOnce() > 0) { /* drain */ }
  return got;
}

describe('inbound handler over real SMTP', () => {
  it('a DSN hard bounce sent over SMTP suppresses the address and publishes contact.suppressed (VERP ids attached)', async (t) => {
    const send = await listen(t);
    const info = await send(fixture('postfix/hard-bounce-550-5-1-1-user-unknown.eml'));
    assert.match(info.response, /^250/);
    const s = await getSuppression(db, 'jane.doe@example.org');
    assert.equal(s?.reason, 'bounced_hard');
    assert.equal(s?.source, 'inbound:bounced_hard');
    const published = (await suppressedMessages('test-dsn')).filter((p) => p.email === 'jane.doe@example.org');
    assert.equal(published.length, 1);
    assert.equal(published[0]!.reason, 'bounced_hard');
    assert.ok(published[0]!.contactId !== null && published[0]!.campaignId !== null, 'VERP token decoded with the secret');
    const { rows } = await db.query<{ source_id: string }>('select source_id from engagement_events where email = $1', ['jane.doe@example.org']);
    assert.equal(rows.length, 1);
    assert.match(rows[0]!.source_id, /^inbound:[0-9a-f]{32}:jane\.doe@example\.org$/);
    assert.equal(inboundSourceId(Buffer.from('x')), inboundSourceId(Buffer.from('x')));

    // the sender delivering the same report again adds nothing
    await send(fixture('postfix/hard-bounce-550-5-1-1-user-unknown.eml'));
    assert.equal((await db.query('select 1 from engagement_events where email = $1', ['jane.doe@example.org'])).rows.length, 1);
  });

  it('takes the VERP token from the SMTP envelope when the report dropped our return path', async (t) => {
    const send = await listen(t);
    const raw = Buffer.from(fixture('postfix/hard-bounce-550-5-1-1-user-unknown.eml').toString('latin1')
      .replaceAll('b+aalwg3lql4zdamrwl4ytcx3cnrqwg23gojuwiylza5rxixzrgaydckiqhpaim@', 'bounces@')
      .replaceAll('jane.doe@example.org', 'jim.doe@example.org'), 'latin1');
    const verp = encodeVerpAddress({ campaignId: 'cmp_env', contactId: 'ct_env' }, { secret: SECRET, domain: 'bounce.shop.example.com' });
    await send(raw, [verp]);
    const { rows } = await db.query<{ campaign_id: string; contact_id: string; type: string }>('select campaign_id, contact_id, type from engagement_events where email = $1', ['jim.doe@example.org']);
    assert.deepEqual(rows, [{ campaign_id: 'cmp_env', contact_id: 'ct_env', type: 'bounced_hard' }]);
  });

  it('an unparsable message is accepted (250) and kept as an inbound dead letter with its bytes', async (t) => {
    const send = await listen(t);
    const junk = Buffer.from('this is not an email at all\r\n\r\njust text\r\n');
    const info = await send(junk);
    assert.match(info.response, /^250/);
    const [dl] = await bus.deadLetters.list({ stage: INBOUND_DEAD_LETTER_STAGE });
    assert.equal(dl?.code, 'INBOUND_MESSAGE_INVALID');
    assert.ok(dl!.message.length > 0);
    const payload = dl!.payload as { sourceId: string; rawBase64: string; envelope: { rcptTo: string[] } };
    assert.equal(Buffer.from(payload.rawBase64, 'base64').toString(), junk.toString());
    assert.deepEqual(payload.envelope.rcptTo, ['bounces@bounce.shop.example.com']);
  });

  it('a store failure answers 451 so the sender retries; the retry then lands', async (t) => {
    let down = true;
    const send = await listen(t, { ingest: async (events) => { if (down) throw new Error('database unreachable'); return ingest(events); } });
    await assert.rejects(send(fixture('qmail/text-bounce-no-mailbox-5-1-1.eml')), (err: { responseCode?: number }) => err.responseCode === 451);
    assert.equal(await getSuppression(db, 'kim@example.net'), null);
    down = false;
    await send(fixture('qmail/text-bounce-no-mailbox-5-1-1.eml'));
    assert.equal((await getSuppression(db, 'kim@example.net'))?.reason, 'bounced_hard');
  });
});
