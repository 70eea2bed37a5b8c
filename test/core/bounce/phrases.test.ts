import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { matchPhrase, PHRASE_RULES } from '../../../src/core/bounce/phrases.ts';
import { classifyFailure } from '../../../src/core/bounce/classify.ts';
import { BOUNCE_REASONS } from '../../../src/core/bounce/types.ts';

describe('phrase table', () => {
  // Every representative phrase of bounces.md §7 lands on its reason (toomanyconn/speeding share a row).
  const table: Array<[string[], string[]]> = [
    [
      ['userunknown'],
      [
        'user unknown',
        'no such user',
        'address does not exist',
        'invalid mailbox',
        'recipient address rejected: user unknown',
        'unknown recipient',
      ],
    ],
    [
      ['hostunknown'],
      ['host unknown', 'domain does not exist', 'no such domain', 'name or service not known', 'unrouteable address'],
    ],
    [
      ['mailboxfull'],
      ['mailbox full', 'over quota', 'quota exceeded', 'insufficient disk space', 'exceeded storage allocation'],
    ],
    [
      ['suspend'],
      ['has been suspended', 'mailbox disabled', 'inactive account', 'account that you tried to reach is disabled'],
    ],
    [['blocked'], ['blocked using', 'blacklisted by', 'banned sending ip', 'client host rejected', 'dnsbl']],
    [['spamdetected'], ['spam', 'appears to be unsolicited', 'content filter rejection', 'blocked by spamassassin']],
    [
      ['toomanyconn', 'speeding'],
      [
        'too many connections',
        'connection rate limit exceeded',
        'max emails per hour',
        'please try again slower',
        'receiving mail at a rate that prevents',
      ],
    ],
    [
      ['expired'],
      ['delivery time expired', 'message expired', 'retry timeout exceeded', 'giving up on', 'connection timed out'],
    ],
    [['rejected'], ['sender address rejected', 'access denied (in reply to mail from command)', 'bogus mail from']],
    [
      ['policyviolation'],
      ['message not accepted for policy reasons', 'local policy violation', 'denied by policy', 'closed mailing list'],
    ],
  ];
  for (const [reasons, phrases] of table) {
    for (const phrase of phrases) {
      it(`"${phrase}" → ${reasons.join('/')}`, () => {
        const m = matchPhrase(`550 ${phrase.toUpperCase()} here`);
        assert.ok(m !== null && reasons.includes(m.reason), JSON.stringify(m));
      });
    }
  }

  it('sender-side reasons win over recipient reasons in one text', () => {
    assert.equal(matchPhrase('550 5.7.1 user unknown or blocked using zen.spamhaus.org')?.reason, 'blocked');
  });

  it('matches whole words where a substring would mislead', () => {
    assert.equal(matchPhrase('a marble statue'), null);
  });

  it('every rule names a known reason and has patterns', () => {
    for (const rule of PHRASE_RULES) {
      assert.ok((BOUNCE_REASONS as readonly string[]).includes(rule.reason));
      assert.ok(rule.patterns.length > 0);
    }
  });

  it('vendor wording: Yahoo, Microsoft, Postfix, Exim, qmail, sendmail', () => {
    const vendor: Array<[string, string]> = [
      ["554 delivery error: dd This user doesn't have a yahoo.com account", 'userunknown'],
      ['554 delivery error: dd Sorry your message cannot be delivered. This mailbox is disabled (554.30)', 'suspend'],
      ['553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1', 'blocked'],
      ['550 5.5.0 Requested action not taken: mailbox unavailable', 'userunknown'],
      ["550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. (S3150)", 'blocked'],
      ['421 RP-001 The mail server IP connecting to Outlook.com server has exceeded the rate limit', 'toomanyconn'],
      ['550 SC-001 Mail rejected by Outlook.com for policy reasons', 'blocked'],
      ['450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]', 'requireptr'],
      ['554 5.7.1 <x@ex.org>: Relay access denied', 'norelaying'],
      ['retry timeout exceeded', 'expired'],
      ["Sorry, I couldn't find any host named nonexistent.example. (#5.1.2)", 'hostunknown'],
      ["I'm not going to try again; this message has been in the queue too long.", 'expired'],
      ['451 4.4.1 reply: read error from mx.example.org', 'expired'],
      ['550 nothing we recognise', 'undefined'],
    ];
    for (const [text, reason] of vendor) {
      assert.equal(classifyFailure({ action: 'failed', diagnostic: text, source: 'text' }).reason, reason, text);
    }
  });

  it('Gmail 4.2.1 per-recipient rate: deferred but not a throttle signal for the whole stream', () => {
    const r = classifyFailure({
      source: 'sync',
      smtpReplyCode: 450,
      diagnostic:
        '450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional '
        + 'messages from being delivered. - gsmtp',
    });
    assert.equal(r.kind, 'deferred');
    assert.equal(r.isThrottleSignal, false);
  });
});
