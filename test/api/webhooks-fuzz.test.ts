/**
 * Bounded fuzzing of the public webhook routes on the real store: random bytes, random and
 * hostile JSON, random headers, and payloads correctly signed for each vendor but full of NUL,
 * unpaired surrogates, bad addresses, far-off numbers and deep nesting. Invariants: no response
 * is ≥ 500, and every non-2xx answer carries an error code.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { basicAuth, signMailgunBody } from '../support/webhook-signing.ts';
import { createWebhookStack, MAILGUN_KEY, POSTMARK, T, type WebhookStack } from '../support/webhook-stack.ts';

let db: Db;
let stack: WebhookStack;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
  stack = await createWebhookStack(db, { maxBodyBytes: 64 * 1024 });
});
after(async () => {
  await stack.app.close();
  await db.close();
});

const VENDORS = ['sendgrid', 'mailgun', 'ses', 'postmark'] as const;
type Vendor = (typeof VENDORS)[number];
interface Req {
  vendor: Vendor;
  payload: string | Buffer;
  headers: Record<string, string>;
}

const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff',
    'x\ud83d',
    '<script>@x.y',
    'a b@x.y',
    'ok@example.org',
    'A'.repeat(3000),
    '',
  ),
  fc.emailAddress(),
);
const hostileNumber = fc.oneof(
  fc.constantFrom(1e300, -1e300, 2 ** 53 + 2, -1, 0, 0.5, 4102444800, T, T + 1e9),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(hostileString, tie('v'), { maxKeys: 4 }),
  ),
})).v;
const deepJson = fc.nat({ max: 80 }).map((n) => '['.repeat(n) + '1' + ']'.repeat(n));
const headerValue = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});
const randomHeaders = fc.dictionary(
  fc.constantFrom(
    'content-type',
    'x-amz-sns-message-type',
    'x-amz-sns-message-id',
    'authorization',
    'x-twilio-email-event-webhook-signature',
    'x-twilio-email-event-webhook-timestamp',
    'x-other',
  ),
  headerValue,
  { maxKeys: 4 },
);

const sgEvent = fc.record(
  {
    event: fc.oneof(
      fc.constantFrom('delivered', 'bounce', 'spamreport', 'unsubscribe', 'open', 'click', 'dropped', 'processed'),
      hostileString,
    ),
    sg_event_id: hostileString,
    email: hostileString,
    timestamp: hostileNumber,
    url: hostileString,
    useragent: hostileString,
    reason: hostileString,
    status: hostileString,
    'smtp-id': hostileString,
    sy_contact: hostileString,
    extra: hostileValue,
  },
  { requiredKeys: ['event'] },
);
const mgEvent = fc.record(
  {
    event: fc.oneof(
      fc.constantFrom('delivered', 'failed', 'complained', 'unsubscribed', 'opened', 'clicked'),
      hostileString,
    ),
    id: hostileString,
    recipient: hostileString,
    timestamp: hostileNumber,
    url: hostileString,
    reason: hostileString,
    'user-variables': fc.dictionary(fc.constantFrom('sy_msg', 'sy_campaign', 'sy_contact'), hostileString),
    message: hostileValue,
  },
  { requiredKeys: ['event'] },
);
const pmRecord = fc.record(
  {
    RecordType: fc.oneof(
      fc.constantFrom('Delivery', 'Bounce', 'SpamComplaint', 'Open', 'Click', 'SubscriptionChange'),
      hostileString,
    ),
    Recipient: hostileString,
    Email: hostileString,
    Type: fc.constantFrom('HardBounce', 'SoftBounce', 'Blocked'),
    MessageID: hostileString,
    ID: hostileNumber,
    DeliveredAt: hostileString,
    BouncedAt: fc.oneof(
      hostileString,
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    ),
    ReceivedAt: hostileString,
    SuppressSending: fc.boolean(),
    OriginalLink: hostileString,
    Metadata: hostileValue,
  },
  { requiredKeys: ['RecordType'] },
);
const sesEvent = fc.record(
  {
    eventType: fc.oneof(
      fc.constantFrom('Bounce', 'Complaint', 'Delivery', 'Open', 'Click', 'Subscription'),
      hostileString,
    ),
    mail: fc.record({
      destination: fc.array(hostileString, { maxLength: 3 }),
      timestamp: hostileString,
      messageId: hostileString,
      tags: hostileValue,
    }),
    bounce: fc.record({
      bounceType: fc.constantFrom('Permanent', 'Transient'),
      timestamp: hostileString,
      bouncedRecipients: fc.array(fc.record({ emailAddress: hostileString, status: hostileString }), { maxLength: 3 }),
    }),
    delivery: fc.record({ recipients: fc.array(hostileString, { maxLength: 3 }), timestamp: hostileString }),
    click: fc.record({ link: hostileString }),
    extra: hostileValue,
  },
  { requiredKeys: ['eventType'] },
);

let serial = 0;
const unique = (): string => `fz${serial++}`;

function signed(vendor: Vendor, body: unknown): Req {
  switch (vendor) {
    case 'sendgrid': {
      const payload = JSON.stringify(body);
      return { vendor, payload, headers: stack.sendgrid.headers(payload, T) };
    }
    case 'mailgun':
      return {
        vendor,
        payload: JSON.stringify(signMailgunBody({ 'event-data': body }, MAILGUN_KEY, T, unique().padEnd(50, 't'))),
        headers: { 'content-type': 'application/json' },
      };
    case 'postmark':
      return {
        vendor,
        payload: JSON.stringify(body),
        headers: { 'content-type': 'application/json', authorization: basicAuth(POSTMARK.username, POSTMARK.password) },
      };
    case 'ses': {
      const msg = stack.sns.sign({
        Type: 'Notification',
        MessageId: unique(),
        TopicArn: stack.sns.topicArn,
        Timestamp: new Date(T * 1000).toISOString(),
        Message: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { vendor, payload: JSON.stringify(msg), headers: stack.sns.headers(msg) };
    }
  }
}

const vendor = fc.constantFrom(...VENDORS);
const request: fc.Arbitrary<Req> = fc.oneof(
  fc.record({ vendor, payload: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)), headers: randomHeaders }),
  fc.record({
    vendor,
    payload: fc.oneof(
      fc.json(),
      deepJson,
      hostileValue.map((v) => JSON.stringify(v) ?? 'null'),
    ),
    headers: randomHeaders,
  }),
  fc.array(sgEvent, { maxLength: 6 }).map((events) => signed('sendgrid', events)),
  fc.oneof(hostileValue, fc.array(hostileValue, { maxLength: 3 })).map((v) => signed('sendgrid', v)),
  mgEvent.map((e) => signed('mailgun', e)),
  hostileValue.map((v) => signed('mailgun', v)),
  pmRecord.map((r) => signed('postmark', r)),
  fc
    .oneof(
      sesEvent,
      hostileValue,
      deepJson.map((d) => JSON.parse(d) as unknown),
      hostileString,
    )
    .map((e) => signed('ses', e)),
);

describe('webhook routes under fuzzing', () => {
  it('never answer ≥ 500, and every refusal carries an error code', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const res = await stack.app.inject({
          method: 'POST',
          url: `/webhooks/${r.vendor}`,
          payload: r.payload,
          headers: r.headers,
        });
        assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body}`);
        if (res.statusCode >= 300) assert.equal(typeof res.json().error, 'string', res.body);
      }),
      { numRuns: 250, seed: 12 },
    );
  });
});
