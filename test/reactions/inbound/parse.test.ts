import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { decodeVerpToken } from '../../../src/core/bounce/verp.ts';
import { classifyReplyIntent } from '../../../src/core/reply/intent.ts';
import { parseInboundMessage, toEngagementEvents } from '../../../src/reactions/inbound/parse.ts';
import type { InboundMessage } from '../../../src/reactions/inbound/parse.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`../../fixtures/inbound/${name}`, import.meta.url));
const parse = (name: string): Promise<InboundMessage> => parseInboundMessage(fixture(name));
const SECRET = 'fixture-secret';

function recipientsOf(m: InboundMessage): Array<[string, string, string, string | null]> {
  assert.equal(m.kind, 'dsn');
  return m.kind === 'dsn'
    ? m.recipients.map((r) => [r.recipient, r.classification.kind, r.classification.reason, r.classification.status])
    : [];
}

describe('parseInboundMessage: DSNs (RFC 3464)', () => {
  const cases: Array<[string, Array<[string, string, string, string | null]>, string | undefined]> = [
    [
      'postfix/hard-bounce-550-5-1-1-user-unknown.eml',
      [['jane.doe@example.org', 'hard_bounce', 'userunknown', '5.1.1']],
      '01JDQ6Z3Y8K2M4N6P8R0T2V4X6@shop.example.com',
    ],
    [
      'postfix/two-recipients-user-unknown-and-mailbox-full.eml',
      [
        ['zed@example.net', 'hard_bounce', 'userunknown', '5.1.1'],
        ['amy@example.net', 'soft_bounce', 'mailboxfull', '4.2.2'],
      ],
      '01JDQ7AAAA0000000000000001@shop.example.com',
    ],
    [
      'exchange/hard-bounce-5-1-10-recipient-not-found.eml',
      [['mark.smith@contoso.example', 'hard_bounce', 'userunknown', '5.1.10']],
      '01JDQ9CCCC0000000000000003@shop.example.com',
    ],
    [
      'gmail/soft-bounce-552-5-2-2-over-quota.eml',
      [['lucy.example@gmail.com', 'soft_bounce', 'mailboxfull', '5.2.2']],
      '01JDQAAAAA0000000000000004@shop.example.com',
    ],
    [
      'yahoo/delayed-421-4-7-0-tss04-deferral.eml',
      [['sam_example@yahoo.com', 'deferred', 'blocked', '4.7.0']],
      '01JDQBBBBB0000000000000005@shop.example.com',
    ],
    ['sendmail/delayed-dsn-4-4-1-no-answer.eml', [['prof@example.edu', 'deferred', 'expired', '4.4.1']], undefined],
    [
      'ses/hard-bounce-dsn-5-1-1.eml',
      [['noone@example.com', 'hard_bounce', 'userunknown', '5.1.1']],
      '01JDQEEEEE0000000000000008@shop.example.com',
    ],
    [
      'yahoo/hard-bounce-554-dd-no-account.eml',
      [['no_such_member@yahoo.com', 'hard_bounce', 'userunknown', '5.0.0']],
      '01JDQMMMMM0000000000000015@shop.example.com',
    ],
  ];
  for (const [file, expected, originalMessageId] of cases) {
    it(file, async () => {
      const m = await parse(file);
      assert.deepEqual(recipientsOf(m), expected);
      assert.equal(m.kind === 'dsn' && m.format, 'rfc3464');
      assert.equal(m.originalMessageId, originalMessageId);
    });
  }

  it('keeps the raw fields and recovers ledger id and a verifiable VERP token', async () => {
    const m = await parse('postfix/hard-bounce-550-5-1-1-user-unknown.eml');
    assert.equal(m.kind, 'dsn');
    if (m.kind !== 'dsn') return;
    assert.equal(m.reportingMta, 'mail.example.org');
    assert.equal(m.ledgerId, 'ldg_7f3a9c');
    assert.equal(m.recipients[0]?.remoteMta, 'mx1.example.org');
    assert.equal(
      m.recipients[0]?.diagnostic,
      '550 5.1.1 <jane.doe@example.org>: Recipient address rejected: User unknown in local recipient table',
    );
    assert.deepEqual(decodeVerpToken(m.verpToken ?? '', SECRET), {
      ok: true,
      campaignId: 'cmp_2026_11_blackfriday',
      contactId: 'ct_1001',
    });
  });

  it('collapses the repeated codes of a multi-line Gmail reply', async () => {
    const m = await parse('gmail/soft-bounce-552-5-2-2-over-quota.eml');
    assert.match(
      m.kind === 'dsn' ? (m.recipients[0]?.diagnostic ?? '') : '',
      /^552 5\.2\.2 The email account that you tried to reach is over quota\. Please direct the recipient to https/,
    );
  });
});

describe('parseInboundMessage: text bounces (no delivery-status part)', () => {
  it('Exim: two failed addresses in order, with their own diagnostics and the returned Message-ID', async () => {
    const m = await parse('exim/text-bounce-550-unrouteable-and-user-unknown.eml');
    assert.deepEqual(recipientsOf(m), [
      ['tom@example.com', 'hard_bounce', 'userunknown', '550'],
      ['old@nonexistent.example', 'hard_bounce', 'hostunknown', null],
    ]);
    assert.equal(m.kind === 'dsn' && m.format, 'text');
    assert.equal(m.originalMessageId, '01JDQ8BBBB0000000000000002@shop.example.com');
    assert.equal(m.ledgerId, 'ldg_7f3c02');
  });

  it('qmail: "no mailbox here by that name (#5.1.1)"', async () => {
    const m = await parse('qmail/text-bounce-no-mailbox-5-1-1.eml');
    assert.deepEqual(recipientsOf(m), [['kim@example.net', 'hard_bounce', 'userunknown', '5.1.1']]);
    assert.equal(m.originalMessageId, '01JDQDDDDD0000000000000007@shop.example.com');
  });

  it('SES suppression notice is a soft "suppressed", not a hard bounce', async () => {
    assert.deepEqual(recipientsOf(await parse('ses/suppressed-address-text-bounce.eml')), [
      ['gone@example.com', 'soft_bounce', 'suppressed', null],
    ]);
  });
});

describe('parseInboundMessage: complaints, auto-replies, replies', () => {
  it('ARF from a Yahoo-style FBL', async () => {
    const m = await parse('yahoo/arf-abuse-complaint.eml');
    assert.equal(m.kind, 'complaint');
    if (m.kind !== 'complaint') return;
    assert.equal(m.format, 'arf');
    assert.equal(m.feedbackType, 'abuse');
    assert.equal(m.originalRcpt, 'pat_example@yahoo.com');
    assert.equal(m.userAgent, 'Yahoo!-Mail-Feedback/2.0');
    assert.equal(m.sourceIp, '198.51.100.14');
    assert.equal(m.originalMessageId, '01JDQCCCCC0000000000000006@shop.example.com');
    assert.deepEqual(decodeVerpToken(m.verpToken ?? '', SECRET), {
      ok: true,
      campaignId: 'cmp_2026_11_blackfriday',
      contactId: 'ct_1003',
    });
  });

  it('Hotmail JMRP (non-ARF) is a complaint correlated through the attached original', async () => {
    const m = await parse('hotmail/jmrp-complaint-non-arf.eml');
    assert.equal(m.kind, 'complaint');
    assert.equal(m.kind === 'complaint' && m.format, 'microsoft-jmrp');
    assert.equal(m.kind === 'complaint' && m.feedbackType, 'abuse');
    assert.equal(m.originalMessageId, '01JDQLLLLL0000000000000014@shop.example.com');
    assert.equal(m.ledgerId, 'ldg_7f4314');
    assert.deepEqual(decodeVerpToken(m.verpToken ?? '', SECRET), {
      ok: true,
      campaignId: 'cmp_2026_11_blackfriday',
      contactId: 'ct_1004',
    });
  });

  it('RFC 3834 vacation reply and Outlook "Automatic reply" are auto-replies', async () => {
    const a = await parse('rfc3834/auto-replied-vacation.eml');
    assert.equal(a.kind, 'auto_reply');
    assert.ok(a.kind === 'auto_reply' && a.signals.includes('auto-submitted:auto-replied'));
    const b = await parse('outlook/automatic-reply-x-auto-response-suppress.eml');
    assert.equal(b.kind, 'auto_reply');
    assert.ok(b.kind === 'auto_reply' && b.signals.includes('x-auto-response-suppress'));
    assert.equal(b.originalMessageId, '01JDQGGGGG0000000000000010@shop.example.com');
  });

  it('a bounce carrying Auto-Submitted stays a bounce', async () => {
    assert.equal((await parse('postfix/hard-bounce-550-5-1-1-user-unknown.eml')).kind, 'dsn');
  });

  const replies: Array<[string, string, string]> = [
    [
      'gmail/reply-interested-with-quote.eml',
      "Hi, this looks great. I'm interested - could you send me the pricing for\n50 seats?\n\nThanks,\nAnna",
      'interested',
    ],
    ['outlook/reply-unsubscribe-html-only.eml', 'Please remove me from your mailing list.', 'unsubscribe_request'],
    [
      'apple/reply-wrong-person-with-signature.eml',
      "I'm not the right person for this, I left the purchasing team last year. Please contact "
        + 'procurement@example.org instead.',
      'wrong_person',
    ],
  ];
  for (const [file, trimmed, intent] of replies) {
    it(`human reply ${file}: trimmed and classified`, async () => {
      const m = await parse(file);
      assert.equal(m.kind, 'reply');
      if (m.kind !== 'reply') return;
      assert.equal(m.trimmedText, trimmed);
      assert.ok(m.inReplyTo?.endsWith('@shop.example.com'));
      assert.deepEqual(m.references, [m.inReplyTo]);
      const r = classifyReplyIntent(m.trimmedText);
      assert.equal(r.intent, intent);
      assert.equal(r.isClear, true);
    });
  }
});

describe('parseInboundMessage: invalid input names the problem', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['empty', '', /empty/],
    ['whitespace', Buffer.from('  \n\n '), /empty/],
    ['not text', 42, /Buffer or string, got number/],
    ['no headers', 'just some words\n\nand a body', /no RFC 822 header fields/],
    [
      'ARF without report part',
      'From: a@b.example\nContent-Type: multipart/report; report-type=feedback-report; '
        + 'boundary=x\n\n--x\nContent-Type: text/plain\n\nhi\n--x--\n',
      /no message\/feedback-report part/,
    ],
    [
      'ARF without Feedback-Type',
      'From: a@b.example\nContent-Type: multipart/report; report-type=feedback-report; '
        + 'boundary=x\n\n--x\nContent-Type: message/feedback-report\n\nUser-Agent: x\nVersion: 1\n--x--\n',
      /no Feedback-Type field/,
    ],
    [
      'DSN without recipients',
      'From: a@b.example\nContent-Type: multipart/report; report-type=delivery-status; '
        + 'boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x.example\n--x--\n',
      /no per-recipient block/,
    ],
  ];
  for (const [name, input, message] of bad) {
    it(name, async () => {
      await assert.rejects(parseInboundMessage(input as string), (err: unknown) => {
        assert.equal((err as { code?: string }).code, 'INBOUND_MESSAGE_INVALID');
        assert.match((err as Error).message, message);
        return true;
      });
    });
  }
});

describe('toEngagementEvents', () => {
  const receivedAt = new Date('2026-11-24T12:00:00Z');

  it('one event per DSN recipient, each with its own sourceId and VERP ids', async () => {
    const m = await parse('postfix/two-recipients-user-unknown-and-mailbox-full.eml');
    const events = toEngagementEvents(m, { receivedAt, sourceId: 'inbound:abc', verpSecret: SECRET });
    assert.deepEqual(
      events.map((e) => [e.type, e.email, e.reason, e.status, e.sourceId]),
      [
        ['bounced_hard', 'zed@example.net', 'userunknown', '5.1.1', 'inbound:abc:zed@example.net'],
        ['bounced_soft', 'amy@example.net', 'mailboxfull', '4.2.2', 'inbound:abc:amy@example.net'],
      ],
    );
    for (const e of events) {
      assert.equal(e.provider, 'inbound');
      assert.equal(e.occurredAt, receivedAt);
      assert.equal(e.messageId, '01JDQ7AAAA0000000000000001@shop.example.com');
      assert.equal(e.ledgerId, 'ldg_7f3b01');
      assert.equal(e.campaignId, 'cmp_2026_11_blackfriday');
      assert.equal(e.contactId, 'ct_1002');
    }
  });

  it('complaint, auto-reply, reply and deferral map to their event types; a wrong secret adds no ids', async () => {
    const kinds = await Promise.all(
      [
        'yahoo/arf-abuse-complaint.eml',
        'rfc3834/auto-replied-vacation.eml',
        'gmail/reply-interested-with-quote.eml',
        'yahoo/delayed-421-4-7-0-tss04-deferral.eml',
      ].map(async (f) => toEngagementEvents(await parse(f), { receivedAt, sourceId: f, verpSecret: 'wrong' })),
    );
    assert.deepEqual(
      kinds.map((es) => es.map((e) => e.type)),
      [['complained'], ['auto_replied'], ['replied'], ['deferred']],
    );
    assert.equal(kinds[0]?.[0]?.email, 'pat_example@yahoo.com');
    assert.equal(kinds[0]?.[0]?.campaignId, undefined);
  });

  it('not-spam and auth-failure reports are not contact complaints', () => {
    for (const feedbackType of ['not-spam', 'auth-failure']) {
      assert.deepEqual(
        toEngagementEvents({ kind: 'complaint', format: 'arf', feedbackType }, { receivedAt, sourceId: 'x' }),
        [],
      );
    }
  });
});

describe('every fixture', () => {
  it('parses, and every DSN recipient has exactly one kind and a recipient address', async () => {
    const root = new URL('../../fixtures/inbound/', import.meta.url);
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.eml'));
    assert.ok(files.length >= 18, `found ${files.length}`);
    for (const f of files) {
      const m = await parse(f);
      if (m.kind !== 'dsn') continue;
      assert.ok(m.recipients.length > 0, f);
      for (const r of m.recipients) {
        assert.match(r.recipient, /@/, f);
        assert.ok(['hard_bounce', 'soft_bounce', 'deferred', 'delivered'].includes(r.classification.kind), f);
      }
    }
  });
});

describe('robustness', () => {
  it('property: any input either parses or fails with INBOUND_MESSAGE_INVALID, never another error', async () => {
    const body = fc.string({ maxLength: 300 });
    const report = fc
      .tuple(
        fc.constantFrom('delivery-status', 'feedback-report', 'other'),
        fc.constantFrom('message/delivery-status', 'message/feedback-report', 'text/rfc822-headers'),
        body,
      )
      .map(
        ([type, part, content]) =>
          `From: x@example.com\nContent-Type: multipart/report; report-type=${type}; `
          + `boundary=b\n\n--b\nContent-Type: ${part}\n\n${content}\n--b--\n`,
      );
    const input = fc.oneof(
      body,
      body.map((b) => `From: a@example.com\nSubject: s\n\n${b}`),
      report,
    );
    await fc.assert(
      fc.asyncProperty(input, async (raw) => {
        try {
          const m = await parseInboundMessage(raw);
          assert.ok(['dsn', 'complaint', 'auto_reply', 'reply'].includes(m.kind));
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'INBOUND_MESSAGE_INVALID', String(err));
        }
      }),
      { numRuns: 300 },
    );
  });
});
