import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { EngagementEvent } from '../../../src/core/events.ts';
import {
  dateFromText,
  dateFromUnixSeconds,
  finishEvent,
  MAX_ID_LENGTH,
} from '../../../src/connectors/esp/event-checks.ts';
import { normalize as normalizeSendgrid } from '../../../src/connectors/esp/sendgrid/normalize.ts';
import { normalize as normalizeMailgun } from '../../../src/connectors/esp/mailgun/normalize.ts';
import { normalize as normalizeStripe } from '../../../src/connectors/billing/stripe/normalize.ts';

const event = (over: Partial<EngagementEvent> = {}): EngagementEvent => ({
  type: 'unsubscribed',
  sourceId: 'sendgrid:e1',
  provider: 'sendgrid',
  occurredAt: new Date('2026-03-01T00:00:00Z'),
  email: 'Ann@Example.ORG',
  raw: { a: 1 },
  ...over,
});

describe('finishEvent', () => {
  it('lowercases the domain and keeps a clean event as it is', () => {
    const r = finishEvent(event(), 'e1');
    assert.ok(!('reject' in r));
    assert.equal(r.email, 'Ann@example.org');
  });
  it('rejects bad recipients, unstorable or over-long ids and far-off times, naming the field only', () => {
    const reason = (over: Partial<EngagementEvent>): string => {
      const r = finishEvent(event(over), 'e1');
      return 'reject' in r ? r.reject : 'accepted';
    };
    assert.equal(
      reason({ email: '<script>@x.y' }),
      'e1: recipient address local part is not a dot-atom (no quotes, spaces, control characters or <>()[]\\,;:"@)',
    );
    assert.equal(reason({ contactId: 'c\u0000' }), 'e1: field contactId contains NUL or an unpaired surrogate');
    assert.equal(reason({ messageId: '\ud800' }), 'e1: field messageId contains NUL or an unpaired surrogate');
    assert.equal(
      reason({ sourceId: 'x'.repeat(MAX_ID_LENGTH + 1) }),
      `e1: field sourceId is longer than ${MAX_ID_LENGTH} characters`,
    );
    assert.equal(reason({ occurredAt: new Date(8.64e15) }), 'e1: timestamp is out of range');
    assert.equal(reason({ occurredAt: new Date(NaN) }), 'e1: timestamp is out of range');
  });
  it('replaces NUL and unpaired surrogates in free text and the raw payload', () => {
    const r = finishEvent(event({ diagnostic: 'a\u0000b', userAgent: '\udc00', raw: { 'k\u0000': ['\ud800'] } }), 'e1');
    assert.ok(!('reject' in r));
    assert.deepEqual([r.diagnostic, r.userAgent, r.raw], ['a\uFFFDb', '\uFFFD', { 'k\uFFFD': ['\uFFFD'] }]);
  });
  it('times: only finite values between 1970 and 2100', () => {
    assert.equal(dateFromUnixSeconds(1e300), undefined);
    assert.equal(dateFromUnixSeconds(-1), undefined);
    assert.equal(dateFromUnixSeconds('1772323200'), undefined);
    assert.equal(dateFromUnixSeconds(1772323200.5)?.toISOString(), '2026-03-01T00:00:00.500Z');
    assert.equal(dateFromText('+275760-09-13T00:00:00Z'), undefined);
    assert.equal(dateFromText('2026-03-01T00:00:00Z')?.getTime(), 1772323200_000);
    fc.assert(
      fc.property(fc.double(), (v) => {
        const d = dateFromUnixSeconds(v);
        if (d !== undefined) assert.match(d.toISOString(), /^(19[7-9]\d|20\d\d)-/);
      }),
    );
  });
});

describe('normalisers apply the checks', () => {
  it(
    'SendGrid rejects the one bad event of a batch; Mailgun timestamp 1e300 and Stripe created 1e300 are '
      + 'invalid bodies',
    () => {
      const r = normalizeSendgrid([
        { event: 'unsubscribe', sg_event_id: 'a', email: '<script>@x.y', timestamp: 1772323200 },
        { event: 'unsubscribe', sg_event_id: 'b', email: 'b@x.org', timestamp: 1e300 },
        { event: 'unsubscribe', sg_event_id: 'c', email: 'c@x.org', timestamp: 1772323200 },
      ]);
      assert.deepEqual(
        r.events.map((e) => e.email),
        ['c@x.org'],
      );
      assert.deepEqual(
        r.rejected.map((x) => x.index),
        [0, 1],
      );
      assert.throws(
        () =>
          normalizeMailgun({ 'event-data': { event: 'delivered', id: 'x', recipient: 'a@x.org', timestamp: 1e300 } }),
        { code: 'WEBHOOK_PAYLOAD_INVALID' },
      );
      assert.throws(
        () => normalizeStripe({ object: 'event', id: 'evt_1', type: 'x', created: 1e300, data: { object: {} } }),
        { code: 'WEBHOOK_PAYLOAD_INVALID' },
      );
    },
  );
});
