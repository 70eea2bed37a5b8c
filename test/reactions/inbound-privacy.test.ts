/**
 * Mail to the privacy address through the real inbound path (SMTP listener → inbound handler, as
 * replies take it): it is accepted even on a domain we do not otherwise take mail for, and lands in
 * the review queue as a DSR candidate with the detected request type, never as a reply (no
 * `replied` event, no unsubscribe). The same mail to a reply address is an ordinary reply.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import type { Bus } from '../../src/bus/port.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { decideRecipient } from '../../src/core/inbound/recipients.ts';
import { createIngest, type Ingest } from '../../src/reactions/ingest.ts';
import { listReviewItems } from '../../src/reactions/review-queue.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { aReply, startInbound } from '../support/inbound-mail.ts';

const PRIVACY = 'privacy@legal.example.org';

let db: Db;
let bus: Bus;
let ingest: Ingest;
const clock = createManualClock(new Date('2026-11-26T08:00:00Z'));
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  bus = createPostgresLogBus({ db, clock });
  ingest = createIngest({ db, bus, clock });
});
after(async () => {
  await db.close();
});

const rig = () => ({ db, bus, clock, ingest });

async function events(): Promise<string[]> {
  const { rows } = await db.query<{ type: string }>('select type from engagement_events order by type');
  return rows.map((r) => r.type);
}

describe('privacy-address mail', () => {
  it('the listener takes the privacy address on its own domain, and only that mailbox there', () => {
    const policy = { domains: ['shop.example.com'], verpSecrets: [], addresses: [PRIVACY] };
    assert.deepEqual(decideRecipient('Privacy@Legal.Example.org', policy), { accept: true, via: 'address' });
    assert.equal(decideRecipient('someone@legal.example.org', policy).accept, false);
  });

  it('an erasure request to the privacy address is a DSR candidate in the review queue, not a reply', async (t) => {
    const send = await startInbound(t, rig(), { privacyAddresses: [PRIVACY] });
    const info = await send(
      aReply({
        from: 'Jane Doe <jane.doe@example.org>',
        id: 'dsr-mail-1',
        text: 'Hello,\r\n\r\nunder the GDPR please delete all my personal data and confirm.\r\n\r\nJane',
      }),
      [PRIVACY],
    );
    assert.match(info.response, /^250/);
    const items = await listReviewItems(db);
    assert.equal(items.length, 1);
    const item = items[0]!;
    assert.equal(item.intent, 'dsr_candidate:erasure');
    assert.equal(item.confidence, 0.9);
    assert.equal(item.status, 'open');
    assert.match(
      item.excerpt,
      /^Data-subject request candidate from jane\.doe@example\.org, subject "Re: Black Friday": Hello/,
    );
    assert.match(item.excerpt, /delete all my personal data/);
    assert.deepEqual(await events(), [], 'no reply event, no unsubscribe');
    const { rows } = await db.query('select 1 from suppressions');
    assert.equal(rows.length, 0);

    // the sender's server delivering it again adds nothing
    await send(
      aReply({
        from: 'Jane Doe <jane.doe@example.org>',
        id: 'dsr-mail-1',
        text: 'Hello,\r\n\r\nunder the GDPR please delete all my personal data and confirm.\r\n\r\nJane',
      }),
      [PRIVACY],
    );
    assert.equal((await listReviewItems(db)).length, 1);
  });

  it('an access request is named as one; a mail naming no request is a candidate of unknown type', async (t) => {
    const send = await startInbound(t, rig(), { privacyAddresses: [PRIVACY] });
    await send(aReply({ from: 'kim@example.net', id: 'dsr-2', text: 'Can you send me a copy of my data?' }), [PRIVACY]);
    await send(aReply({ from: 'lee@example.net', id: 'dsr-3', text: 'Who is your data protection officer?' }), [
      PRIVACY,
    ]);
    const intents = (await listReviewItems(db)).map((i) => [i.intent, i.confidence]).sort();
    assert.deepEqual(intents, [
      ['dsr_candidate:access', 0.9],
      ['dsr_candidate:erasure', 0.9],
      ['dsr_candidate:unknown', 0],
    ]);
  });

  it('without a privacy address configured, the same mail to a reply address is an ordinary reply', async (t) => {
    const send = await startInbound(t, rig());
    await send(aReply({ from: 'ann@example.net', id: 'plain-1', text: 'Please delete my data.' }), [
      'replies@shop.example.com',
    ]);
    assert.ok(!(await listReviewItems(db)).some((i) => i.sourceId.endsWith(':dsr') && i.excerpt.includes('ann@')));
  });
});
