import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { normalize } from '../../../../src/connectors/esp/mailgun/normalize.ts';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(
    readFileSync(new URL(`../../../fixtures/webhooks/mailgun/${name}.json`, import.meta.url), 'utf8'),
  ) as Record<string, unknown>;
const one = (name: string) => {
  const r = normalize(fixture(name));
  assert.equal(r.events.length, 1, `${name}: ${JSON.stringify(r.rejected)}`);
  return r.events[0]!;
};

describe('mailgun normalize', () => {
  it('maps each fixture to its event type', () => {
    const types = [
      'delivered',
      'failed-permanent-bounce-550-5-1-1',
      'failed-temporary',
      'opened-apple-mpp',
      'clicked',
      'unsubscribed',
      'complained',
    ].map((n) => one(n).type);
    assert.deepEqual(types, [
      'delivered',
      'bounced_hard',
      'deferred',
      'opened',
      'clicked',
      'unsubscribed',
      'complained',
    ]);
  });
  it('uses event id + UTC day as sourceId and correlates via user-variables', () => {
    const e = one('delivered');
    assert.equal(e.sourceId, 'mailgun:CPgfbmQMTCKtHW6uIWtuVe:2026-03-01');
    assert.deepEqual(
      [e.ledgerId, e.campaignId, e.contactId, e.messageId, e.email],
      ['ldg_7f3a9c', 'cmp_spring_sale', 'ct_000123', '20260301.ab12cd@mail.example.org', 'alice@example.com'],
    );
    assert.equal(e.occurredAt.toISOString(), '2026-03-01T00:00:05.123Z');
    assert.deepEqual(e.raw, fixture('delivered')['event-data']);
  });
  it('keeps the enhanced status and diagnostic of a permanent failure', () => {
    const e = one('failed-permanent-bounce-550-5-1-1');
    assert.deepEqual([e.email, e.status, e.reason], ['nobody@example.net', '5.1.1', 'userunknown']);
    assert.match(e.diagnostic ?? '', /does not exist/);
    assert.equal(one('failed-temporary').status, '4.2.2');
  });
  it('maps suppress-* failures to dropped and flags the Apple proxy open', () => {
    const body = fixture('failed-permanent-bounce-550-5-1-1');
    const r = normalize({ ...body, 'event-data': { ...(body['event-data'] as object), reason: 'suppress-bounce' } });
    assert.deepEqual([r.events[0]?.type, r.events[0]?.reason], ['dropped', 'suppressed']);
    assert.equal(one('opened-apple-mpp').isMachine, true);
    assert.equal(one('clicked').isMachine, false);
  });
  it('rejects an unknown event, ignores accepted, throws only for a body without event-data', () => {
    assert.deepEqual(normalize(fixture('unknown-event-type')).rejected, [
      { index: 0, reason: 'unknown Mailgun event type "list_member_uploaded"' },
    ]);
    const accepted = normalize({
      'event-data': { ...(fixture('delivered')['event-data'] as object), event: 'accepted' },
    });
    assert.equal(accepted.ignored.length, 1);
    assert.throws(() => normalize({ signature: {} }), {
      code: 'WEBHOOK_PAYLOAD_INVALID',
      message: /no "event-data" object/,
    });
    assert.throws(() => normalize([]), {
      code: 'WEBHOOK_PAYLOAD_INVALID',
      message: 'Mailgun body must be a JSON object, got array',
    });
  });
});
