/**
 * The HTTP ESP suppression sinks against local servers speaking each vendor's wire format
 * (test/support/fake-esp-suppressions.ts): the sink-port contract for each, what each sends where,
 * and the propagation loop driving them: rows confirmed on success, a 429 honoured (row pending
 * until Retry-After, then confirmed), an invalid address failed with the vendor's reason.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { createManualClock } from '../../../src/clock/manual.ts';
import { espSuppressionSinks } from '../../../src/composition/esp.ts';
import type { EspConfig } from '../../../src/config.ts';
import { enqueuePropagations, propagateDue } from '../../../src/compliance/propagation.ts';
import type { SuppressionSink } from '../../../src/compliance/sink-port.ts';
import { createMailgunSuppressionSink } from '../../../src/connectors/esp/mailgun/suppression-sink.ts';
import { createPostmarkSuppressionSink } from '../../../src/connectors/esp/postmark/suppression-sink.ts';
import { createSendGridSuppressionSink } from '../../../src/connectors/esp/sendgrid/suppression-sink.ts';
import { createSesSuppressionSink } from '../../../src/connectors/esp/ses/suppression-sink.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { createPgliteDb } from '../../../src/store/pglite/adapter.ts';
import type { Db } from '../../../src/store/port.ts';
import { suppressionSinkContract, type SinkHarness } from '../../compliance/sink-port.contract.ts';
import {
  INVALID_ADDRESS,
  startFakeMailgunSuppressions,
  startFakePostmarkSuppressions,
  startFakeSendGridSuppressions,
  startFakeSesSuppressions,
  type FakeSuppressionApi,
} from '../../support/fake-esp-suppressions.ts';

const clock = createManualClock(new Date('2026-12-01T09:00:00Z'));

type Vendor = { label: string; start: () => Promise<{ api: FakeSuppressionApi; sink: SuppressionSink }> };

const VENDORS: Vendor[] = [
  {
    label: 'sendgrid',
    start: async () => {
      const api = await startFakeSendGridSuppressions('SG.k');
      return { api, sink: createSendGridSuppressionSink({ clock }, { apiKey: 'SG.k', baseUrl: api.baseUrl }) };
    },
  },
  {
    label: 'mailgun',
    start: async () => {
      const api = await startFakeMailgunSuppressions('mg.example.com', 'key-1');
      const sink = createMailgunSuppressionSink(
        { clock },
        { apiKey: 'key-1', domain: 'mg.example.com', baseUrl: api.baseUrl },
      );
      return { api, sink };
    },
  },
  {
    label: 'ses',
    start: async () => {
      const api = await startFakeSesSuppressions('eu-west-1');
      const sink = createSesSuppressionSink(
        { clock },
        { region: 'eu-west-1', credentials: api.credentials, baseUrl: api.baseUrl },
      );
      return { api, sink };
    },
  },
  {
    label: 'postmark',
    start: async () => {
      const api = await startFakePostmarkSuppressions('broadcasts', 'pm-1');
      const sink = createPostmarkSuppressionSink(
        { clock },
        { serverToken: 'pm-1', messageStream: 'broadcasts', baseUrl: api.baseUrl },
      );
      return { api, sink };
    },
  },
];

for (const v of VENDORS) {
  describe(`${v.label} suppression sink: port contract`, () => {
    suppressionSinkContract(v.label, async (): Promise<SinkHarness> => {
      const { api, sink } = await v.start();
      return {
        sink,
        holds: async (e) => api.holds(e),
        close: api.close,
        throttleNext: api.throttleNext,
        refusedAddress: INVALID_ADDRESS,
      };
    });
  });
}

describe('what each sink sends', () => {
  const opened: FakeSuppressionApi[] = [];
  after(async () => {
    await Promise.all(opened.map((a) => a.close()));
  });
  const items = [
    { email: 'u@example.com', reason: 'unsubscribed' },
    { email: 'c@example.com', reason: 'complained' },
    { email: 'b@example.com', reason: 'bounced_hard' },
  ];

  it('sendgrid: one POST to the global suppression group with every address', async () => {
    const { api, sink } = await VENDORS[0]!.start();
    opened.push(api);
    assert.deepEqual(
      (await sink.suppress(items)).confirmed,
      items.map((i) => i.email),
    );
    assert.deepEqual(api.requests, [
      { method: 'POST', path: '/v3/asm/suppressions/global', body: { recipient_emails: items.map((i) => i.email) } },
    ]);
  });

  it('mailgun: each reason on its own list (unsubscribes for all tags, complaints, bounces)', async () => {
    const { api, sink } = await VENDORS[1]!.start();
    opened.push(api);
    await sink.suppress(items);
    assert.deepEqual(
      api.requests.map((r) => [r.path, r.body]),
      [
        ['/v3/mg.example.com/unsubscribes', [{ address: 'u@example.com', tags: ['*'] }]],
        ['/v3/mg.example.com/complaints', [{ address: 'c@example.com' }]],
        [
          '/v3/mg.example.com/bounces',
          [{ address: 'b@example.com', code: '550', error: 'suppressed by Switchyard (bounced_hard)' }],
        ],
      ],
    );
  });

  it('ses: one signed PUT per address, hard bounces as BOUNCE and the rest as COMPLAINT', async () => {
    const api = await startFakeSesSuppressions('eu-west-1');
    opened.push(api);
    const sink = createSesSuppressionSink(
      { clock },
      { region: 'eu-west-1', credentials: api.credentials, baseUrl: api.baseUrl },
    );
    await sink.suppress(items);
    assert.deepEqual(
      api.requests.map((r) => [r.method, r.path, r.body]),
      [
        ['PUT', '/v2/email/suppression/addresses', { EmailAddress: 'u@example.com', Reason: 'COMPLAINT' }],
        ['PUT', '/v2/email/suppression/addresses', { EmailAddress: 'c@example.com', Reason: 'COMPLAINT' }],
        ['PUT', '/v2/email/suppression/addresses', { EmailAddress: 'b@example.com', Reason: 'BOUNCE' }],
      ],
    );
    // a wrong secret is refused by the signature check, permanently
    const forged = createSesSuppressionSink(
      { clock },
      {
        region: 'eu-west-1',
        credentials: { ...api.credentials, secretAccessKey: 'wrong' },
        baseUrl: api.baseUrl,
      },
    );
    await assert.rejects(forged.suppress([items[0]!]), (e: { code?: string }) => e.code === 'ESP_AUTH_FAILED');
  });

  it('postmark: batches of at most 50 to the stream, each address confirmed by its own status', async () => {
    const { api, sink } = await VENDORS[3]!.start();
    opened.push(api);
    const many = Array.from({ length: 120 }, (_, i) => ({ email: `p${i}@example.com`, reason: 'unsubscribed' }));
    assert.equal((await sink.suppress(many)).confirmed.length, 120);
    assert.deepEqual(
      api.requests.map((r) => (r.body as { Suppressions: unknown[] }).Suppressions.length),
      [50, 50, 20],
    );
    assert.ok(api.requests.every((r) => r.path === '/message-streams/broadcasts/suppressions'));
  });

  it('a wrong key is a permanent ESP_AUTH_FAILED for every vendor', async () => {
    const sendgrid = await startFakeSendGridSuppressions('SG.right');
    const mailgun = await startFakeMailgunSuppressions('mg.example.com', 'right');
    const postmark = await startFakePostmarkSuppressions('broadcasts', 'right');
    opened.push(sendgrid, mailgun, postmark);
    const sinks = [
      createSendGridSuppressionSink({ clock }, { apiKey: 'SG.wrong', baseUrl: sendgrid.baseUrl }),
      createMailgunSuppressionSink({ clock }, { apiKey: 'wrong', domain: 'mg.example.com', baseUrl: mailgun.baseUrl }),
      createPostmarkSuppressionSink(
        { clock },
        { serverToken: 'wrong', messageStream: 'broadcasts', baseUrl: postmark.baseUrl },
      ),
    ];
    for (const s of sinks) {
      await assert.rejects(
        s.suppress([items[0]!]),
        (e: { code?: string; retryable?: boolean }) => e.code === 'ESP_AUTH_FAILED' && e.retryable === false,
      );
    }
  });
});

describe('propagation through the HTTP ESP sinks', () => {
  let db: Db;
  const opened: FakeSuppressionApi[] = [];
  before(async () => {
    db = await createPgliteDb({});
    await migrate(db);
  });
  after(async () => {
    await Promise.all(opened.map((a) => a.close()));
    await db.close();
  });
  const log = pino({ level: 'silent' });
  const rows = async (emails: string[]) =>
    (
      await db.query<{ email: string; status: string; attempts: number; next_attempt_at: Date; last_error: string }>(
        `select email, status, attempts, next_attempt_at, last_error from suppression_propagations
         where system = 'esp' and email = any($1::text[]) order by email`,
        [emails],
      )
    ).rows;

  for (const v of VENDORS) {
    it(`${v.label}: rows reach confirmed; a 429 waits for Retry-After; an invalid address fails visibly`, async () => {
      const { api, sink } = await v.start();
      opened.push(api);
      const emails = [`a.${v.label}@example.com`, `b.${v.label}@example.com`];
      await enqueuePropagations(
        db,
        emails.map((email) => ({ email, reason: 'unsubscribed' })),
        ['esp'],
        clock.now(),
      );
      api.throttleNext(1, 120);
      await propagateDue({ db, clock, log, sinks: [sink] });
      const waiting = await rows(emails);
      assert.deepEqual(
        waiting.map((r) => r.status),
        ['pending', 'pending'],
      );
      assert.equal(new Date(waiting[0]!.next_attempt_at).getTime(), clock.now().getTime() + 120_000);
      assert.match(waiting[0]!.last_error, /rate limit|throttl|TooManyRequests/i);
      await clock.advance(119_000);
      assert.equal(await propagateDue({ db, clock, log, sinks: [sink] }), 0, 'nothing due before Retry-After');
      await clock.advance(1_000);
      await propagateDue({ db, clock, log, sinks: [sink] });
      assert.deepEqual(
        (await rows(emails)).map((r) => r.status),
        ['confirmed', 'confirmed'],
      );
      for (const e of emails) assert.equal(api.holds(e), true);

      const bad = `x.${v.label} ${INVALID_ADDRESS}`;
      await enqueuePropagations(db, [{ email: bad, reason: 'manual' }], ['esp'], clock.now());
      await propagateDue({ db, clock, log, sinks: [sink] });
      const [failed] = await rows([bad]);
      assert.equal(failed?.status, 'failed');
      assert.ok((failed?.last_error ?? '').length > 0);
    });
  }
});

describe('wiring: the configured ESP gets its own suppression sink', () => {
  it('each HTTP ESP config yields a sink that calls that vendor; a secondary gets esp-secondary', async (t) => {
    const sendgrid = await startFakeSendGridSuppressions('SG.w');
    const mailgun = await startFakeMailgunSuppressions('mg.example.com', 'key-w');
    const postmark = await startFakePostmarkSuppressions('outbound', 'pm-w');
    t.after(() => Promise.all([sendgrid, mailgun, postmark].map((a) => a.close())));
    const seen: string[] = [];
    // the vendors' real hosts, answered by the local servers (SES is answered here: its signature
    // covers the real host, which a redirected request cannot carry)
    const routed: typeof fetch = async (input, init) => {
      const url = new URL(String(input));
      seen.push(`${init?.method} ${url.host}${url.pathname}`);
      if (url.host === 'email.eu-west-1.amazonaws.com') return new Response(null, { status: 200 });
      const base = { 'api.sendgrid.com': sendgrid, 'api.eu.mailgun.net': mailgun, 'api.postmarkapp.com': postmark }[
        url.host
      ];
      if (base === undefined) throw new Error(`unexpected host ${url.host}`);
      return fetch(`${base.baseUrl}${url.pathname}`, init);
    };
    const configs: EspConfig[] = [
      { kind: 'sendgrid', apiKey: 'SG.w' },
      { kind: 'mailgun', apiKey: 'key-w', domain: 'mg.example.com', region: 'eu' },
      { kind: 'postmark', serverToken: 'pm-w', messageStream: 'outbound' },
      {
        kind: 'ses',
        region: 'eu-west-1',
        accessKeyId: 'AKIDWIRING0000001',
        secretAccessKey: 'secret',
        configurationSet: undefined,
      },
    ];
    for (const primary of configs) {
      const [sink] = espSuppressionSinks(
        { primary, secondary: undefined, failover: { threshold: 5, coolDownMs: 60_000 } },
        { clock, fetch: routed },
      );
      assert.equal(sink?.name, 'esp');
      assert.deepEqual(
        (await sink!.suppress([{ email: `w.${primary.kind}@example.com`, reason: 'complained' }])).confirmed,
        [`w.${primary.kind}@example.com`],
      );
    }
    assert.deepEqual(seen, [
      'POST api.sendgrid.com/v3/asm/suppressions/global',
      'POST api.eu.mailgun.net/v3/mg.example.com/complaints',
      'POST api.postmarkapp.com/message-streams/outbound/suppressions',
      'PUT email.eu-west-1.amazonaws.com/v2/email/suppression/addresses',
    ]);
    assert.equal(sendgrid.holds('w.sendgrid@example.com'), true);
    assert.equal(mailgun.holds('w.mailgun@example.com'), true);
    assert.equal(postmark.holds('w.postmark@example.com'), true);

    const both = espSuppressionSinks(
      { primary: configs[0]!, secondary: configs[2]!, failover: { threshold: 5, coolDownMs: 60_000 } },
      { clock, fetch: routed },
    );
    assert.deepEqual(
      both.map((s) => s.name),
      ['esp', 'esp-secondary'],
    );
  });
});
