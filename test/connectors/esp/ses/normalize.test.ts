import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { normalize } from '../../../../src/connectors/esp/ses/normalize.ts';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../../../fixtures/webhooks/ses/${name}.json`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

describe('ses normalize', () => {
  it('maps delivery, open, click, complaint and unsubscribe with tags as correlation', () => {
    const types = ['delivery', 'open-apple-mpp', 'click', 'complaint-abuse', 'subscription-unsubscribe-all'].map((n) =>
      normalize(fixture(n)).events.map((e) => e.type),
    );
    assert.deepEqual(types, [['delivered'], ['opened'], ['clicked'], ['complained'], ['unsubscribed']]);
    const d = normalize(fixture('delivery')).events[0]!;
    assert.deepEqual(
      [d.ledgerId, d.campaignId, d.contactId, d.messageId, d.providerMessageId, d.email, d.occurredAt.toISOString()],
      [
        'ldg_7f3a9c',
        'cmp_spring_sale',
        'ct_000123',
        '20260301.ab12cd@mail.example.org',
        '0102018e1a2b3c4d-11111111-2222-3333-4444-555555555555-000000',
        'alice@example.com',
        '2026-03-01T00:00:02.000Z',
      ],
    );
  });
  it('fans a bounce out per recipient with distinct, stable sourceIds that hold no address', () => {
    const r = normalize(fixture('bounce-permanent-two-recipients'));
    assert.deepEqual(
      r.events.map((e) => [e.type, e.email, e.status, e.reason]),
      [
        ['bounced_hard', 'nobody@example.net', '5.1.1', 'userunknown'],
        ['bounced_hard', 'ghost@example.net', '5.1.1', 'userunknown'],
      ],
    );
    const ids = r.events.map((e) => e.sourceId);
    assert.equal(new Set(ids).size, 2);
    assert.ok(ids.every((id) => id.startsWith('ses:11111111-aaaa-4000-8000-000000000002:') && !id.includes('@')));
    assert.deepEqual(
      normalize(fixture('bounce-permanent-two-recipients')).events.map((e) => e.sourceId),
      ids,
    );
    assert.match(r.events[0]?.diagnostic ?? '', /user unknown/);
  });
  it('flags the open 20 s after send from Apple as machine; a click an hour later is human', () => {
    assert.equal(normalize(fixture('open-apple-mpp')).events[0]?.isMachine, true);
    const click = normalize(fixture('click')).events[0]!;
    assert.deepEqual([click.isMachine, click.url], [false, 'https://shop.example.org/spring?utm_source=email']);
  });
  it('lets core/bounce override the vendor hint: a "Permanent" reputation block is soft', () => {
    const f = fixture('bounce-permanent-two-recipients');
    const e = JSON.parse(f['Message'] as string) as Record<string, Record<string, unknown>>;
    const recipients = [
      {
        emailAddress: 'nobody@example.net',
        action: 'failed',
        status: '5.7.1',
        diagnosticCode: 'smtp; 550 5.7.1 Service unavailable; client host [192.0.2.1] blocked using Spamhaus',
      },
    ];
    const r = normalize({
      ...f,
      Message: JSON.stringify({ ...e, bounce: { ...e['bounce'], bouncedRecipients: recipients } }),
    });
    assert.deepEqual(
      r.events.map((x) => [x.type, x.reason]),
      [['bounced_soft', 'blocked']],
    );
  });
  it('maps suppressed bounces to dropped and skips not-spam complaints', () => {
    const f = fixture('bounce-permanent-two-recipients');
    const e = JSON.parse(f['Message'] as string) as Record<string, Record<string, unknown>>;
    const suppressed = normalize({
      ...f,
      Message: JSON.stringify({ ...e, bounce: { ...e['bounce'], bounceSubType: 'OnAccountSuppressionList' } }),
    });
    assert.deepEqual(
      suppressed.events.map((x) => [x.type, x.reason]),
      [
        ['dropped', 'suppressed'],
        ['dropped', 'suppressed'],
      ],
    );
    const c = fixture('complaint-abuse');
    const ce = JSON.parse(c['Message'] as string) as Record<string, Record<string, unknown>>;
    const notSpam = normalize({
      ...c,
      Message: JSON.stringify({ ...ce, complaint: { ...ce['complaint'], complaintFeedbackType: 'not-spam' } }),
    });
    assert.deepEqual([notSpam.events.length, notSpam.ignored.length], [0, 1]);
  });
  it('rejects an unknown event type; ignores confirmations and the validation notice', () => {
    assert.deepEqual(normalize(fixture('unknown-event-type')).rejected, [
      { index: 0, reason: 'unknown SES event type "Teleported"' },
    ]);
    assert.deepEqual(normalize(fixture('topic-validation-notice')), {
      events: [],
      rejected: [],
      ignored: [{ index: 0, reason: 'SES topic validation notice' }],
    });
    assert.equal(normalize(fixture('subscription-confirmation')).ignored.length, 1);
  });
  it('throws WEBHOOK_PAYLOAD_INVALID when the body is not SNS or Message is not an SES event', () => {
    assert.throws(() => normalize([]), { code: 'WEBHOOK_PAYLOAD_INVALID', message: /SNS message object/ });
    assert.throws(() => normalize({ ...fixture('delivery'), Message: 'not json' }), {
      code: 'WEBHOOK_PAYLOAD_INVALID',
      message: 'SNS Message is not a JSON SES event object',
    });
  });
});
