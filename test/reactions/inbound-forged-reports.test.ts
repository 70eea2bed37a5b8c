/**
 * The inbound attacks of issue 12, over real SMTP against the real listener and handler: a DSN
 * without our return-path token, a DSN that re-uses the attacker's own token, an ARF report and a
 * spoofed "unsubscribe me" reply, each naming someone else. None may suppress; each is recorded
 * for review. The genuine counterparts still act.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Bus } from '../../src/bus/port.ts';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { getSuppression } from '../../src/compliance/suppression.ts';
import { createDemoCrm, ensureDemoCrmSchema } from '../../src/connectors/crm/demo/adapter.ts';
import { encodeVerpAddress } from '../../src/core/bounce/verp.ts';
import { createIngest, type Ingest } from '../../src/reactions/ingest.ts';
import { handleReplies } from '../../src/reactions/replies-stage.ts';
import { MAX_REVIEW_ITEMS_PER_MESSAGE } from '../../src/reactions/inbound/vouch.ts';
import { listReviewItems } from '../../src/reactions/review-queue.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { aDsn, anArf, aReply, INBOUND_SECRET, sentMessage, startInbound } from '../support/inbound-mail.ts';
import type { StoredEvent } from '../../src/bus/topics.ts';

const log = pino({ level: 'silent' });
let db: Db;
let clock: ManualClock;
let bus: Bus;
let ingest: Ingest;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  await ensureDemoCrmSchema(db);
  clock = createManualClock(new Date('2026-11-26T08:00:00Z'));
  bus = createPostgresLogBus({ db, clock });
  ingest = createIngest({ db, bus, clock });
});
after(async () => {
  await db.close();
});

const rig = () => ({ db, bus, clock, ingest });
const verp = (campaignId: string, contactId: string, secret = INBOUND_SECRET) =>
  encodeVerpAddress({ campaignId, contactId }, { secret, domain: 'bounce.shop.example.com' });

async function reviewFor(address: string) {
  return (await listReviewItems(db, { limit: 1000 })).filter((i) => i.excerpt.includes(address));
}

/** Runs the replies stage over the stored replies from `email` (what the bus would hand it). */
async function runReplies(email: string) {
  const { rows } = await db.query<{
    source_id: string;
    occurred_at: Date;
    message_id: string | null;
    campaign_id: string | null;
    contact_id: string | null;
  }>(
    `select source_id, occurred_at, message_id, campaign_id, contact_id from engagement_events where type = 'replied'
      and email = $1`,
    [email],
  );
  const events: StoredEvent[] = rows.map((r) => ({
    sourceId: r.source_id,
    type: 'replied',
    provider: 'inbound',
    occurredAt: new Date(r.occurred_at).toISOString(),
    email,
    messageId: r.message_id,
    campaignId: r.campaign_id,
    contactId: r.contact_id,
    isMachine: false,
    reason: null,
    url: null,
  }));
  return handleReplies({ db, clock, crm: createDemoCrm({ db, clock }), ingest, log }, { events });
}

describe('forged inbound reports do not suppress anyone', () => {
  it('a DSN without our return-path token or Message-ID: accepted, reviewed, victim not suppressed', async (t) => {
    const send = await startInbound(t, rig());
    const info = await send(aDsn({ recipient: 'victim1@example.net', id: 'forged-dsn-1' }));
    assert.match(info.response, /^250/);
    assert.equal(await getSuppression(db, 'victim1@example.net'), null);
    assert.equal(
      (await db.query('select 1 from engagement_events where email = $1', ['victim1@example.net'])).rows.length,
      0,
    );
    const [item] = await reviewFor('victim1@example.net');
    assert.equal(item?.intent, 'unverified_bounced_hard');
    assert.match(item!.excerpt, /no VERP token of ours/);
  });

  it(
    'a DSN with a forged token, or with our Message-ID format for a row that does not exist, does not count '
      + 'either',
    async (t) => {
      const send = await startInbound(t, rig());
      // our bounce domain takes any mailbox at RCPT; the token's signature is what fails
      await send(aDsn({ recipient: 'victim2@example.net', id: 'forged-dsn-2' }), [
        verp('cmp_x', 'ct_x', 'guessed-secret'),
      ]);
      await send(
        aDsn({
          recipient: 'victim2@example.net',
          id: 'forged-dsn-3',
          originalMessageId: 'sy1.Y21wX3g6Y3RfeA@shop.example.com',
        }),
      );
      assert.equal(await getSuppression(db, 'victim2@example.net'), null);
      assert.deepEqual(
        (await reviewFor('victim2@example.net')).map((i) => i.excerpt.replace(/.*not acted on: /, '')).sort(),
        [
          'it carries no VERP token of ours and none of our Message-IDs.',
          'the message it names is not in the send ledger.',
        ],
      );
    },
  );

  it(
    'one forged DSN listing 500 recipients adds at most MAX_REVIEW_ITEMS_PER_MESSAGE review items and '
      + 'suppresses none',
    async (t) => {
      const send = await startInbound(t, rig());
      const victims = Array.from({ length: 500 }, (_, i) => `mass${i}@example.net`);
      await send(aDsn({ recipient: victims[0]!, moreRecipients: victims.slice(1), id: 'forged-mass' }));
      const items = (await listReviewItems(db, { limit: 1000 })).filter((i) => /mass\d+@example\.net/.test(i.excerpt));
      assert.equal(items.length, MAX_REVIEW_ITEMS_PER_MESSAGE);
      assert.ok(
        items.some((i) =>
          i.excerpt.startsWith(`This and ${500 - MAX_REVIEW_ITEMS_PER_MESSAGE} more unverified reports`),
        ),
      );
      const { rows } = await db.query<{ n: number }>(
        `select count(*)::int as n from suppressions where email like 'mass%@example.net'`,
      );
      assert.equal(rows[0]!.n, 0);
    },
  );

  it('a RCPT with a forged VERP signature is refused at the envelope', async (t) => {
    const send = await startInbound(t, rig());
    await assert.rejects(
      send(aDsn({ recipient: 'victim3@example.net' }), [
        verp('cmp_x', 'ct_x', 'guessed-secret').replace('bounce.shop.example.com', 'evil.example'),
      ]),
      (err: { responseCode?: number }) => err.responseCode === 550,
    );
  });

  it(
    "the attacker's own valid return path (from a newsletter they received) naming a victim: reviewed, not "
      + 'suppressed',
    async (t) => {
      const send = await startInbound(t, rig());
      const ownId = await sentMessage(db, 'cmp_fwd', 'ct_attacker', 'attacker@evil.example', clock.now());
      const info = await send(
        aDsn({ recipient: 'victim4@example.net', originalMessageId: ownId, id: 'forged-dsn-4' }),
        [verp('cmp_fwd', 'ct_attacker')],
      );
      assert.match(info.response, /^250/);
      assert.equal(await getSuppression(db, 'victim4@example.net'), null);
      assert.equal(await getSuppression(db, 'attacker@evil.example'), null, 'nor the address the token belongs to');
      const [item] = await reviewFor('victim4@example.net');
      assert.match(item!.excerpt, /not the one our referenced message went to/);
    },
  );

  it(
    'an ARF report for a victim without a reference is reviewed; a redacted one naming our message '
      + 'suppresses the row it names',
    async (t) => {
      const send = await startInbound(t, rig());
      await send(anArf({ rcpt: 'victim5@example.net', id: 'forged-arf' }), ['fbl@shop.example.com']);
      assert.equal(await getSuppression(db, 'victim5@example.net'), null);
      assert.equal((await reviewFor('victim5@example.net'))[0]?.intent, 'unverified_complained');

      const realId = await sentMessage(db, 'cmp_arf', 'ct_pat', 'pat@example.org', clock.now());
      await send(anArf({ originalMessageId: realId, id: 'real-arf' }), ['fbl@shop.example.com']);
      const s = await getSuppression(db, 'pat@example.org');
      assert.deepEqual([s?.reason, s?.contactId, s?.campaignId], ['complained', 'ct_pat', 'cmp_arf']);
    },
  );

  it(
    '"unsubscribe me" from a spoofed sender, unthreaded or threaded on the attacker\'s own message, goes to '
      + "review; the real recipient's reply unsubscribes",
    async (t) => {
      const send = await startInbound(t, rig());
      const attackerMsg = await sentMessage(db, 'cmp_reply', 'ct_mallory', 'mallory@evil.example', clock.now());
      await send(
        aReply({ from: 'victim6@example.net', text: 'Please unsubscribe me from this list.', id: 'spoof-1' }),
        ['news@shop.example.com'],
      );
      await send(
        aReply({
          from: 'victim6@example.net',
          text: 'Please unsubscribe me from this list.',
          inReplyTo: attackerMsg,
          id: 'spoof-2',
        }),
        ['news@shop.example.com'],
      );
      const outcomes = await runReplies('victim6@example.net');
      assert.deepEqual(
        outcomes.map((o) => [o.intent, o.action]),
        [
          ['unsubscribe_request', 'review'],
          ['unsubscribe_request', 'review'],
        ],
      );
      assert.equal(await getSuppression(db, 'victim6@example.net'), null);
      const { rows } = await db.query<{ raw: { verified: boolean; unverified: string } }>(
        `select raw from engagement_events where email = $1 order by source_id`,
        ['victim6@example.net'],
      );
      assert.deepEqual(rows.map((r) => [r.raw.verified, r.raw.unverified]).sort(), [
        [false, 'address_mismatch'],
        [false, 'no_reference'],
      ]);
      const { rows: attributed } = await db.query(
        `select 1 from engagement_events where email = $1 and (contact_id is not null or message_id is not null)`,
        ['victim6@example.net'],
      );
      assert.equal(attributed.length, 0, "a spoofed reply credits no contact (not even the attacker's)");

      const realMsg = await sentMessage(db, 'cmp_reply', 'ct_rita', 'rita@example.org', clock.now());
      await send(
        aReply({
          from: 'Rita <RITA@example.org>',
          text: 'Please unsubscribe me from this list.',
          inReplyTo: realMsg,
          id: 'real-1',
        }),
        ['news@shop.example.com'],
      );
      assert.deepEqual(
        (await runReplies('rita@example.org')).map((o) => o.action),
        ['unsubscribe'],
      );
      assert.equal((await getSuppression(db, 'rita@example.org'))?.reason, 'unsubscribed');
    },
  );
});
