import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { createConsumer } from '../../src/bus/consumer.ts';
import type { Bus } from '../../src/bus/port.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { getSuppression } from '../../src/compliance/suppression.ts';
import { encodeVerpAddress } from '../../src/core/bounce/verp.ts';
import { SwitchyardError } from '../../src/core/errors.ts';
import { inboundSourceId, INBOUND_DEAD_LETTER_STAGE } from '../../src/reactions/inbound-handler.ts';
import { createIngest, type Ingest } from '../../src/reactions/ingest.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { aDsn, aReply, INBOUND_SECRET, sentMessage, startInbound } from '../support/inbound-mail.ts';
import { TOPICS, type SuppressedPayload } from '../../src/bus/topics.ts';

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
  // the rows the fixtures' VERP tokens (secret fixture-secret) name
  await sentMessage(db, 'cmp_2026_11_blackfriday', 'ct_1001', 'jane.doe@example.org', clock.now());
  await sentMessage(db, 'cmp_2026_11_blackfriday', 'ct_1004', 'kim@example.net', clock.now());
});
after(async () => {
  await db.close();
});

const rig = () => ({ db, bus, clock, ingest });

async function suppressedMessages(group: string): Promise<SuppressedPayload[]> {
  const got: SuppressedPayload[] = [];
  const consumer = createConsumer<SuppressedPayload>(
    { bus, clock, log },
    { topic: TOPICS.suppressed, group },
    async (m) => {
      got.push(m.payload);
    },
  );
  while ((await consumer.runOnce()) > 0) {
    /* drain */
  }
  return got;
}

describe('inbound handler over real SMTP', () => {
  it(
    'a DSN hard bounce with our VERP token suppresses the address and publishes contact.suppressed (ledger '
      + 'ids attached)',
    async (t) => {
      const send = await startInbound(t, rig());
      const info = await send(fixture('postfix/hard-bounce-550-5-1-1-user-unknown.eml'));
      assert.match(info.response, /^250/);
      const s = await getSuppression(db, 'jane.doe@example.org');
      assert.equal(s?.reason, 'bounced_hard');
      assert.equal(s?.source, 'inbound:bounced_hard');
      const published = (await suppressedMessages('test-dsn')).filter((p) => p.email === 'jane.doe@example.org');
      assert.equal(published.length, 1);
      assert.deepEqual([published[0]!.campaignId, published[0]!.contactId], ['cmp_2026_11_blackfriday', 'ct_1001']);
      const { rows } = await db.query<{ source_id: string }>(
        'select source_id from engagement_events where email = $1',
        ['jane.doe@example.org'],
      );
      assert.equal(rows.length, 1);
      assert.match(rows[0]!.source_id, /^inbound:[0-9a-f]{32}:jane\.doe@example\.org$/);
      assert.equal(inboundSourceId(Buffer.from('x')), inboundSourceId(Buffer.from('x')));

      // the sender delivering the same report again adds nothing
      await send(fixture('postfix/hard-bounce-550-5-1-1-user-unknown.eml'));
      assert.equal(
        (await db.query('select 1 from engagement_events where email = $1', ['jane.doe@example.org'])).rows.length,
        1,
      );
    },
  );

  it('takes the VERP token from the SMTP envelope when the report dropped our return path', async (t) => {
    const send = await startInbound(t, rig());
    await sentMessage(db, 'cmp_env', 'ct_env', 'jim.doe@example.org', clock.now());
    const raw = Buffer.from(
      fixture('postfix/hard-bounce-550-5-1-1-user-unknown.eml')
        .toString('latin1')
        .replaceAll('b+aalwg3lql4zdamrwl4ytcx3cnrqwg23gojuwiylza5rxixzrgaydckiqhpaim@', 'bounces@')
        .replaceAll('jane.doe@example.org', 'jim.doe@example.org'),
      'latin1',
    );
    const verp = encodeVerpAddress(
      { campaignId: 'cmp_env', contactId: 'ct_env' },
      { secret: INBOUND_SECRET, domain: 'bounce.shop.example.com' },
    );
    await send(raw, [verp]);
    const { rows } = await db.query<{ campaign_id: string; contact_id: string; type: string }>(
      'select campaign_id, contact_id, type from engagement_events where email = $1',
      ['jim.doe@example.org'],
    );
    assert.deepEqual(rows, [{ campaign_id: 'cmp_env', contact_id: 'ct_env', type: 'bounced_hard' }]);
  });

  it('a DSN naming our Message-ID (no VERP) acts on that ledger row', async (t) => {
    const send = await startInbound(t, rig());
    const id = await sentMessage(db, 'cmp_mid', 'ct_mid', 'Mia@Example.org', clock.now());
    await send(aDsn({ recipient: 'mia@example.org', originalMessageId: id, id: 'mid-dsn' }));
    const s = await getSuppression(db, 'mia@example.org');
    assert.deepEqual([s?.reason, s?.contactId, s?.campaignId], ['bounced_hard', 'ct_mid', 'cmp_mid']);
  });

  it('an unparsable message is accepted (250) and kept as an inbound dead letter with its bytes', async (t) => {
    const send = await startInbound(t, rig());
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

  it('a store outage answers 451 so the sender retries; the retry then lands', async (t) => {
    let down = true;
    const send = await startInbound(t, rig(), {
      ingest: async (events) => {
        if (down) throw new SwitchyardError('STORE_UNREACHABLE', 'database unreachable', { retryable: true });
        return ingest(events);
      },
    });
    await assert.rejects(
      send(fixture('qmail/text-bounce-no-mailbox-5-1-1.eml')),
      (err: { responseCode?: number }) => err.responseCode === 451,
    );
    assert.equal(await getSuppression(db, 'kim@example.net'), null);
    down = false;
    await send(fixture('qmail/text-bounce-no-mailbox-5-1-1.eml'));
    assert.equal((await getSuppression(db, 'kim@example.net'))?.reason, 'bounced_hard');
  });
});

describe('inbound mail with characters PostgreSQL cannot store (was: 451 forever)', () => {
  it('PostgreSQL refuses NUL in text, so storing it as-is would fail the same way on every retry', async () => {
    await assert.rejects(
      ingest([
        {
          type: 'replied',
          sourceId: 'nul-probe',
          provider: 'inbound',
          occurredAt: clock.now(),
          email: 'x@example.org',
          // a text column: raw is json (migration 0041), which keeps an escaped NUL as it came
          reason: 'a\u0000b',
          raw: null,
        },
      ]),
      // 22021 as a text parameter, 22P05 inside a JSON document
      (err: { code?: string }) => err.code === '22021' || err.code === '22P05',
    );
  });

  it('a bounce with NUL in headers and body is stored with U+FFFD and acts (250, suppressed)', async (t) => {
    const send = await startInbound(t, rig());
    const id = await sentMessage(db, 'cmp_nul', 'ct_nul', 'nul@example.org', clock.now());
    const raw = aDsn({
      recipient: 'nul@example.org',
      originalMessageId: id,
      id: 'nul-dsn',
      subject: 'Undelivered Mail\u0000 Returned',
      diagnostic: '550 5.1.1 no such user \u0000here',
    });
    const info = await send(raw);
    assert.match(info.response, /^250/);
    assert.equal((await getSuppression(db, 'nul@example.org'))?.reason, 'bounced_hard');
    const { rows } = await db.query<{ type: string; reason: string }>(
      `select type, reason from engagement_events where email = 'nul@example.org'`,
    );
    assert.deepEqual(rows, [{ type: 'bounced_hard', reason: 'userunknown' }]);
  });

  it('a reply with NUL and a lone surrogate in its text is stored, not refused', async (t) => {
    const send = await startInbound(t, rig());
    const id = await sentMessage(db, 'cmp_nul', 'ct_nul2', 'nul2@example.org', clock.now());
    const info = await send(
      Buffer.concat([
        Buffer.from(
          aReply({ from: 'nul2@example.org', inReplyTo: id, text: 'yes\u0000please', id: 'nul-reply' }),
          'utf8',
        ),
        Buffer.from([0, 0xed, 0xa0, 0x80, 0x0d, 0x0a]),
      ]),
    );
    assert.match(info.response, /^250/);
    const {
      rows: [e],
    } = await db.query<{ raw: { trimmedText: string; verified: boolean } }>(
      `select raw from engagement_events where email = 'nul2@example.org'`,
    );
    assert.equal(e?.raw.verified, true);
    assert.match(e!.raw.trimmedText, /^yes\uFFFDplease/);
    assert.equal(e!.raw.trimmedText.includes('\u0000'), false);
  });

  it(
    'a failure that would repeat is kept as a dead letter and accepted; only if even that fails, 554 (never ' + '451)',
    async (t) => {
      const permanent = () => {
        throw Object.assign(new Error('invalid value "secret data"'), { code: '22021' });
      };
      const send = await startInbound(t, rig(), { ingest: async () => permanent() });
      const info = await send(fixture('qmail/text-bounce-no-mailbox-5-1-1.eml'));
      assert.match(info.response, /^250/);
      const [dl] = (await bus.deadLetters.list({ stage: INBOUND_DEAD_LETTER_STAGE })).filter(
        (d) => d.code === 'INBOUND_MESSAGE_UNSTORABLE',
      );
      assert.equal(
        dl?.message,
        'storing the inbound message failed in a way that would repeat (22021)',
        'no data values from the database error',
      );
      assert.match(
        Buffer.from((dl!.payload as { rawBase64: string }).rawBase64, 'base64').toString(),
        /Message-ID: <20261124102014\.31337\.qmail@mail\.example\.net>/,
        'the bytes, for replay',
      );

      const worse = await startInbound(t, rig(), {
        ingest: async () => permanent(),
        deadLetters: { add: async () => permanent() },
      });
      await assert.rejects(
        worse(fixture('qmail/text-bounce-no-mailbox-5-1-1.eml')),
        (err: { responseCode?: number }) => err.responseCode === 554,
      );
    },
  );
});
