/**
 * composeMessage against nodemailer's own composition of the same message (MailComposer on
 * smtpMailOptions): a parser must read the same addresses, subject, ids, bodies and headers from
 * both, and our output must be well-formed on the wire (CRLF only, no line over 998 octets).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import type { ParsedMail } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { composeMessage } from '../../../../src/connectors/esp/smtp/compose.ts';
import { smtpMailOptions } from '../../../../src/connectors/esp/smtp/adapter.ts';
import type { OutboundMessage } from '../../../../src/connectors/esp/port.ts';

const NOW = new Date('2026-11-26T18:00:00Z');

/** Lines of every kind a body can hold, joined by every kind of line break. */
const line = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  fc.string({ maxLength: 20 }).map((s) => `.${s}`),
  fc.constantFrom(
    '.',
    '..',
    '. ',
    ' trailing space ',
    'tab\there\t',
    '=3D not qp',
    '--=_sy_ looks like a boundary',
    'héllo wörld',
    '日本語のテキスト',
  ),
  fc
    .tuple(fc.integer({ min: 990, max: 1200 }), fc.constantFrom('x', 'é', 'ab '))
    .map(([n, c]) => c.repeat(Math.ceil(n / c.length)).slice(0, n)),
);
const body = fc
  .tuple(
    fc.array(line, { maxLength: 12 }),
    fc.array(fc.constantFrom('\n', '\r\n', '\r'), { minLength: 12, maxLength: 12 }),
    fc.boolean(),
  )
  .map(([lines, breaks, trailing]) =>
    lines.map((l, i) => l + (i < lines.length - 1 || trailing ? breaks[i]! : '')).join(''),
  );
const displayName = fc.option(
  fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary-ascii', maxLength: 20 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.constantFrom(
      'Example News',
      'Ünïcode News, Inc.',
      'Jöhn "JJ" Døe',
      'Ο Ταχυδρόμος',
      '日本語の名前',
      'a very long display name that will need folding somewhere along the way ok',
    ),
  ),
  { nil: undefined },
);
const address = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{0,15}$/),
    fc.constantFrom('mail.example.test', 'inbox.example.test', 'exämple.test', 'bücher.example', 'Mixed.Case.Example'),
  )
  .map(([local, domain]) => `${local}@${domain}`);
const anAddress = fc.record({ address, name: displayName }, { requiredKeys: ['address'] });
const id = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,23}$/);

const message: fc.Arbitrary<OutboundMessage> = fc.record(
  {
    messageId: fc.tuple(id, id).map(([a, b]) => `${a}.${b}@mail.example.test`),
    from: anAddress,
    replyTo: fc.option(anAddress, { nil: undefined }),
    to: anAddress,
    subject: fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.string({ unit: 'grapheme', maxLength: 120 }),
      fc.string({ unit: 'binary-ascii', maxLength: 40 }),
      fc.constantFrom('Autumn offers', 'Héllo wörld, your offers are ready', '=?utf-8?Q?not_encoded?= really', ''),
    ),
    text: body,
    html: fc.option(
      fc.oneof(
        body,
        body.map((b) => `<p>${b}</p>`),
        fc.constant(''),
      ),
      { nil: undefined },
    ),
    headers: fc.tuple(id, fc.boolean()).map(
      ([token, feedback]): Record<string, string> => ({
        'List-Unsubscribe':
          `<https://u.example.test/unsub/${token}/${'a'.repeat(40)}>, ` + `<mailto:unsub+${token}@mail.example.test>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        ...(feedback ? { 'Feedback-ID': `${token}:camp:switchyard` } : {}),
      }),
    ),
    returnPath: fc.option(address, { nil: undefined }),
    correlation: fc
      .tuple(id, id)
      .map(([campaignId, contactId]) => ({ campaignId, contactId, ledgerId: `${campaignId}:${contactId}` })),
  },
  { requiredKeys: ['messageId', 'from', 'to', 'subject', 'text', 'headers', 'correlation'] },
);

/**
 * Line breaks as a reader sees them: nodemailer passes a lone CR or LF through, we send CRLF.
 * A single-part body that does not end in a line break gets one in 7bit and quoted-printable
 * (nodemailer's as well as ours), but not in base64, which nodemailer picks for mostly
 * non-Latin text; so one trailing line break is not compared.
 */
const lines = (s: string | false | undefined): string | false | undefined =>
  typeof s === 'string' ? s.replace(/\r\n|\r|\n/g, '\n').replace(/\n$/, '') : s;

const crlf = (s: string): string => s.replace(/\r\n|\r|\n/g, '\r\n');

function comparable(p: ParsedMail): Record<string, unknown> {
  const one = (a: ParsedMail['from'] | ParsedMail['to']) =>
    (Array.isArray(a) ? a : a === undefined ? [] : [a]).flatMap((x) => x.value);
  return {
    from: one(p.from),
    to: one(p.to),
    replyTo: one(p.replyTo),
    subject: p.subject,
    messageId: p.messageId,
    text: lines(p.text),
    html: lines(p.html),
    listUnsubscribe: p.headers.get('list-unsubscribe'),
    listUnsubscribePost: p.headers.get('list-unsubscribe-post'),
    feedbackId: p.headers.get('feedback-id'),
    switchyard: ['x-switchyard-msg', 'x-switchyard-campaign', 'x-switchyard-contact'].map((h) => p.headers.get(h)),
  };
}

describe('composeMessage', () => {
  it('reads back like nodemailer composing the same mail options', async () => {
    await fc.assert(
      fc.asyncProperty(message, async (msg) => {
        const ours = comparable(await simpleParser(composeMessage(msg, NOW)));
        // a lone CR or LF is a line break to us; nodemailer passes it on, and a reader may or may
        // not take it for one ("\r\r\n" reads as one break from nodemailer), so it gets CRLF too
        const withCrlf = { ...msg, text: crlf(msg.text), ...(msg.html === undefined ? {} : { html: crlf(msg.html) }) };
        const theirs = comparable(
          await simpleParser(await new MailComposer(smtpMailOptions(withCrlf)).compile().build()),
        );
        assert.deepEqual(ours, theirs);
        // and the bodies are the content we were given, line breaks aside
        if (msg.text !== '') assert.equal(ours['text'], lines(msg.text));
        if (msg.html !== undefined && msg.html !== '') assert.equal(ours['html'], lines(msg.html));
      }),
      { numRuns: 200 },
    );
  });

  it('attachments: read back byte for byte, bodies unchanged, like nodemailer with the same files', async () => {
    const file = fc.record({
      filename: fc.constantFrom('report.pdf', 'weekly-exec-2026-06-08.pdf', 'a b"c.pdf'),
      contentType: fc.constantFrom('application/pdf', 'text/csv'),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 3000 }),
    });
    await fc.assert(
      fc.asyncProperty(message, fc.array(file, { minLength: 1, maxLength: 3 }), async (m, files) => {
        const msg: OutboundMessage = {
          ...m,
          attachments: files.map((f) => ({
            filename: f.filename,
            contentType: f.contentType,
            contentBase64: Buffer.from(f.bytes).toString('base64'),
          })),
        };
        const raw = composeMessage(msg, NOW);
        for (const l of raw.toString('latin1').split('\r\n')) assert.ok(l.length <= 998);
        const parsed = await simpleParser(raw);
        assert.equal(parsed.attachments.length, files.length);
        parsed.attachments.forEach((a, i) => {
          assert.deepEqual(new Uint8Array(a.content), files[i]?.bytes);
          assert.equal(a.contentType, files[i]?.contentType);
          assert.equal(a.filename, files[i]?.filename.replace(/[^A-Za-z0-9._-]/g, '_'));
        });
        const withCrlf = { ...msg, text: crlf(m.text), ...(m.html === undefined ? {} : { html: crlf(m.html) }) };
        const theirs = comparable(
          await simpleParser(await new MailComposer(smtpMailOptions(withCrlf)).compile().build()),
        );
        assert.deepEqual(comparable(parsed), theirs);
      }),
      { numRuns: 60 },
    );
  });

  it('writes CRLF only, no line over 998 octets, and ASCII-only headers', () => {
    fc.assert(
      fc.property(message, (msg) => {
        const raw = composeMessage(msg, NOW);
        const text = raw.toString('latin1');
        assert.doesNotMatch(text, /\r(?!\n)|(?<!\r)\n/, 'a lone CR or LF');
        assert.ok(text.endsWith('\r\n'));
        for (const l of text.split('\r\n')) assert.ok(l.length <= 998, `a line of ${l.length} octets`);
        const head = text.slice(0, text.indexOf('\r\n\r\n'));
        if (!/[^\x00-\x7f]/.test(msg.to.address + msg.from.address + (msg.replyTo?.address ?? ''))) {
          assert.doesNotMatch(head, /[^\x00-\x7f]/, 'non-ASCII in the headers');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('encodes a non-ASCII subject and display name as encoded words and folds long headers', async () => {
    const raw = composeMessage(
      {
        messageId: 'm1.camp-1@mail.example.test',
        from: { address: 'news@exämple.test', name: 'Ünïcode News' },
        to: { address: 'user@inbox.example.test', name: 'Jöhn Døe' },
        subject: 'Héllo wörld, this subject is long enough that it has to be folded over more than one line',
        text: 'plain ascii text',
        headers: {
          'List-Unsubscribe': `<https://u.example.test/unsub/${'x'.repeat(30)}>, <mailto:unsub@mail.example.test>`,
        },
        correlation: { campaignId: 'camp-1', contactId: 'c1', ledgerId: 'camp-1:c1' },
      },
      NOW,
    ).toString('latin1');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
    assert.match(head, /^From: =\?UTF-8\?[QB]\?.*\?= <news@xn--exmple-cua\.test>$/m);
    assert.match(head, /^To: =\?UTF-8\?[QB]\?.*\?= <user@inbox\.example\.test>$/m);
    assert.match(head, /^Subject: =\?UTF-8\?Q\?H=C3=A9llo_/m);
    assert.match(head, /^Date: Thu, 26 Nov 2026 18:00:00 \+0000$/m);
    for (const l of head.split('\r\n')) assert.ok(l.length <= 78, `header line of ${l.length}: ${l}`);
    assert.match(
      raw,
      /Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nplain ascii text\r\n$/,
    );
    const parsed = await simpleParser(raw);
    assert.equal(
      parsed.subject,
      'Héllo wörld, this subject is long enough that it has to be folded over more than one line',
    );
  });

  it('picks 7bit for ASCII with lines up to 998 octets and quoted-printable otherwise, per part', () => {
    const base: OutboundMessage = {
      messageId: 'm2.camp-1@mail.example.test',
      from: { address: 'news@mail.example.test' },
      to: { address: 'u@inbox.example.test' },
      subject: 's',
      text: '',
      headers: {},
      correlation: { campaignId: 'camp-1', contactId: 'c2', ledgerId: 'camp-1:c2' },
    };
    const encodings = (msg: OutboundMessage): string[] =>
      [
        ...composeMessage(msg, NOW)
          .toString('latin1')
          .matchAll(/Content-Transfer-Encoding: (\S+)/g),
      ].map((m) => m[1]!);
    assert.deepEqual(encodings({ ...base, text: 'x'.repeat(998) }), ['7bit']);
    assert.deepEqual(encodings({ ...base, text: 'x'.repeat(999) }), ['quoted-printable']);
    assert.deepEqual(encodings({ ...base, text: 'ascii', html: '<p>nön-ascii</p>' }), ['7bit', 'quoted-printable']);
    assert.deepEqual(encodings({ ...base, text: 'nul \x00 byte', html: '<p>ascii</p>' }), ['quoted-printable', '7bit']);
  });

  it('draws a fresh boundary for every message', () => {
    const msg: OutboundMessage = {
      messageId: 'm3.camp-1@mail.example.test',
      from: { address: 'news@mail.example.test' },
      to: { address: 'u@inbox.example.test' },
      subject: 's',
      text: 't',
      html: '<p>h</p>',
      headers: {},
      correlation: { campaignId: 'camp-1', contactId: 'c3', ledgerId: 'camp-1:c3' },
    };
    const boundaries = new Set(
      Array.from({ length: 1000 }, () => /boundary="([^"]+)"/.exec(composeMessage(msg, NOW).toString('latin1'))![1]),
    );
    assert.equal(boundaries.size, 1000);
  });
});
