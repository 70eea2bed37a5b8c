import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { normalize } from '../../../../src/connectors/esp/postmark/normalize.ts';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(
    readFileSync(new URL(`../../../fixtures/webhooks/postmark/${name}.json`, import.meta.url), 'utf8'),
  ) as Record<string, unknown>;
const one = (name: string, body: unknown = fixture(name)) => {
  const r = normalize(body);
  assert.equal(r.events.length, 1, `${name}: ${JSON.stringify(r)}`);
  return r.events[0]!;
};

describe('postmark normalize', () => {
  it('maps each record type', () => {
    const types = [
      'delivery',
      'bounce-hard',
      'open-apple-mpp',
      'click',
      'subscription-change-manual-suppression',
      'spam-complaint',
    ].map((n) => one(n).type);
    assert.deepEqual(types, ['delivered', 'bounced_hard', 'opened', 'clicked', 'unsubscribed', 'complained']);
  });
  it('keys bounces on ID + MessageID and other records on a hash (no address in the id)', () => {
    assert.equal(
      one('bounce-hard').sourceId,
      'postmark:Bounce:4323372036854776000:883953f4-6105-42a2-a16a-77a8eac79484',
    );
    const open = one('open-apple-mpp');
    assert.match(open.sourceId, /^postmark:Open:[0-9a-f]{24}$/);
    assert.equal(one('open-apple-mpp').sourceId, open.sourceId);
    assert.notEqual(one('click').sourceId, open.sourceId);
  });
  it('correlates through Metadata and keeps bounce details', () => {
    const b = one('bounce-hard');
    assert.deepEqual(
      [b.ledgerId, b.campaignId, b.contactId, b.providerMessageId, b.email, b.occurredAt.toISOString()],
      [
        'ldg_7f3a9c',
        'cmp_spring_sale',
        'ct_000123',
        '883953f4-6105-42a2-a16a-77a8eac79484',
        'nobody@example.net',
        '2026-03-01T00:00:03.000Z',
      ],
    );
    assert.match(b.diagnostic ?? '', /550 5\.1\.1/);
  });
  it('flags the Apple proxy open, not the click', () => {
    assert.equal(one('open-apple-mpp').isMachine, true);
    const c = one('click');
    assert.deepEqual([c.isMachine, c.url], [false, 'https://shop.example.org/spring?utm_source=email']);
  });
  it('maps bounce Types per esp.md §4 and SubscriptionChange by SuppressionReason', () => {
    const b = { ...fixture('bounce-hard'), Details: 'Test bounce details' };
    const typeOf = (Type: string) => normalize({ ...b, Type }).events[0]?.type;
    assert.deepEqual(['SoftBounce', 'Transient', 'Blocked', 'SpamNotification', 'AutoResponder'].map(typeOf), [
      'bounced_soft',
      'deferred',
      'dropped',
      'complained',
      'auto_replied',
    ]);
    assert.equal(normalize({ ...b, Type: 'TemplateRenderingFailed' }).ignored.length, 1);
    assert.deepEqual(normalize({ ...b, Type: 'Mystery' }).rejected, [
      { index: 0, reason: 'unknown Postmark bounce Type "Mystery"' },
    ]);
    // core/bounce overrides the vendor's hint when the diagnostic is clear: a "SoftBounce" saying 5.1.1 is hard.
    assert.deepEqual(
      [
        one('soft', { ...fixture('bounce-hard'), Type: 'SoftBounce' }).type,
        one('soft', { ...fixture('bounce-hard'), Type: 'SoftBounce' }).reason,
      ],
      ['bounced_hard', 'userunknown'],
    );
    const s = fixture('subscription-change-manual-suppression');
    assert.equal(one('hard', { ...s, SuppressionReason: 'HardBounce' }).type, 'bounced_hard');
    assert.equal(normalize({ ...s, SuppressSending: false }).ignored.length, 1);
  });
  it('rejects an unknown RecordType; throws only for a body without RecordType', () => {
    assert.deepEqual(normalize(fixture('unknown-record-type')).rejected, [
      { index: 0, reason: 'unknown Postmark RecordType "Teleport"' },
    ]);
    assert.throws(() => normalize({ Email: 'x' }), {
      code: 'WEBHOOK_PAYLOAD_INVALID',
      message: 'Postmark body has no RecordType',
    });
    assert.throws(() => normalize('x'), { code: 'WEBHOOK_PAYLOAD_INVALID' });
  });
});
