import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { normalize } from '../../../../src/connectors/esp/sendgrid/normalize.ts';

const batch = JSON.parse(
  readFileSync(
    new URL('../../../fixtures/webhooks/sendgrid/mixed-batch-with-unknown-event.json', import.meta.url),
    'utf8',
  ),
) as Record<string, unknown>[];

describe('sendgrid normalize', () => {
  const out = normalize(batch);
  const byId = new Map(out.events.map((e) => [e.sourceId, e]));
  const get = (id: string) => {
    const e = byId.get(`sendgrid:${id}`);
    assert.ok(e, `event ${id}`);
    return e;
  };

  it('maps every known event type and keeps batch order', () => {
    assert.deepEqual(
      out.events.map((e) => e.type),
      [
        'delivered',
        'bounced_hard',
        'bounced_soft',
        'deferred',
        'dropped',
        'opened',
        'opened',
        'clicked',
        'unsubscribed',
        'unsubscribed',
        'complained',
      ],
    );
    assert.deepEqual(
      out.ignored.map((r) => r.index),
      [0],
    );
    assert.deepEqual(out.rejected, [{ index: 12, reason: 'unknown SendGrid event type "test_event"' }]);
  });
  it('correlates through sy_* custom args and both message ids', () => {
    const e = get('sg-evt-2-delivered');
    assert.deepEqual(
      {
        ledgerId: e.ledgerId,
        campaignId: e.campaignId,
        contactId: e.contactId,
        messageId: e.messageId,
        providerMessageId: e.providerMessageId,
        email: e.email,
        provider: e.provider,
      },
      {
        ledgerId: 'ldg_7f3a9c',
        campaignId: 'cmp_spring_sale',
        contactId: 'ct_000123',
        messageId: '20260301.ab12cd@mail.example.org',
        providerMessageId: 'W86EgYT6SQKk0lRflfLRsA',
        email: 'alice@example.com',
        provider: 'sendgrid',
      },
    );
    assert.equal(e.occurredAt.toISOString(), '2026-03-01T00:00:05.000Z');
    assert.equal(e.raw, batch[1]);
  });
  it('keeps bounce status, reason and diagnostic; a blocked bounce is soft with the core/bounce reason', () => {
    const hard = get('sg-evt-3-bounce');
    assert.deepEqual([hard.reason, hard.status, hard.diagnostic?.slice(0, 9)], ['userunknown', '5.1.1', '550 5.1.1']);
    const blocked = get('sg-evt-4-bounce');
    assert.deepEqual([blocked.type, blocked.reason, blocked.status], ['bounced_soft', 'blocked', '5.7.1']);
    assert.equal(get('sg-evt-6-dropped').diagnostic, 'Unsubscribed Address');
  });
  it('flags the Apple MPP open as machine and the human open and click as not', () => {
    assert.equal(get('sg-evt-7-open').isMachine, true);
    assert.equal(get('sg-evt-8-open').isMachine, false);
    const click = get('sg-evt-9-click');
    assert.equal(click.isMachine, false);
    assert.equal(click.url, 'https://shop.example.org/spring?utm_source=email');
  });
  it('rejects one bad event without dropping the others', () => {
    const r = normalize([
      { event: 'delivered', email: 'a@x.test', timestamp: 1 },
      'junk',
      { event: 'click', sg_event_id: 'c1', email: 'a@x.test', timestamp: 1 },
      batch[1],
    ]);
    assert.deepEqual(r.rejected, [
      { index: 0, reason: 'delivered event has no sg_event_id' },
      { index: 1, reason: 'event is not a JSON object' },
      { index: 2, reason: 'click event c1 has no url' },
    ]);
    assert.equal(r.events.length, 1);
  });
  it('throws WEBHOOK_PAYLOAD_INVALID only when the body is not an array', () => {
    assert.throws(() => normalize({ event: 'open' }), {
      code: 'WEBHOOK_PAYLOAD_INVALID',
      message: 'SendGrid body must be a JSON array of events, got object',
    });
    assert.deepEqual(normalize([]), { events: [], rejected: [], ignored: [] });
  });
  it('gives the same sourceIds for the same batch (redelivery dedups)', () => {
    assert.deepEqual(
      normalize(batch).events.map((e) => e.sourceId),
      out.events.map((e) => e.sourceId),
    );
  });
});
