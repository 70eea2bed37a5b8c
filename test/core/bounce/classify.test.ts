import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { classifyFailure, extractEnhancedCode, extractReplyCode } from '../../../src/core/bounce/classify.ts';
import { BOUNCE_KINDS, BOUNCE_REASONS, HARD_REASONS, THROTTLE_REASONS } from '../../../src/core/bounce/types.ts';
import type { BounceReason, FailureInput } from '../../../src/core/bounce/types.ts';

const failed = (status: string | undefined, diagnostic: string, extra: Partial<FailureInput> = {}): FailureInput => ({
  action: 'failed',
  source: 'dsn',
  diagnostic,
  ...(status === undefined ? {} : { status }),
  ...extra,
});

describe('classifyFailure: one example per reason', () => {
  const cases: Array<[string, FailureInput, BounceReason, string]> = [
    [
      'gmail no such user',
      failed(
        '5.1.1',
        'smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try '
          + "double-checking the recipient's email address for typos - gsmtp",
      ),
      'userunknown',
      'hard_bounce',
    ],
    [
      'postfix local table',
      failed(
        '5.0.0',
        'smtp; 550 5.1.1 <x@example.org>: Recipient address rejected: User unknown in local recipient table',
      ),
      'userunknown',
      'hard_bounce',
    ],
    [
      'exchange recip not found',
      failed('5.1.10', 'smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup', {
        remoteMta: 'dns; example-org.mail.protection.outlook.com',
      }),
      'userunknown',
      'hard_bounce',
    ],
    [
      'yahoo no account',
      failed(
        undefined,
        "smtp; 554 delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0] - "
          + 'mta1.mail.yahoo.com',
      ),
      'userunknown',
      'hard_bounce',
    ],
    [
      'qmail text',
      { source: 'text', diagnostic: 'Sorry, no mailbox here by that name. (#5.1.1)' },
      'userunknown',
      'hard_bounce',
    ],
    [
      'domain missing',
      failed('5.1.2', 'smtp; 550 5.1.2 Host or domain name not found. Name service error'),
      'hostunknown',
      'hard_bounce',
    ],
    ['exim unrouteable', { source: 'text', diagnostic: 'Unrouteable address' }, 'hostunknown', 'hard_bounce'],
    ['moved', failed('5.1.6', 'smtp; 550 5.1.6 mailbox has moved'), 'hasmoved', 'hard_bounce'],
    ['null mx 5xx', failed('5.1.10', 'smtp; 556 5.1.10 Recipient address has null MX'), 'notaccept', 'hard_bounce'],
    ['not accepting 4xx', { action: 'delayed', status: '4.3.2', diagnostic: '' }, 'notaccept', 'deferred'],
    [
      'gmail over quota',
      failed('5.2.2', 'smtp; 552-5.2.2 The email account that you tried to reach is over quota - gsmtp'),
      'mailboxfull',
      'soft_bounce',
    ],
    ['exceed limit', failed('5.2.3', 'smtp; 552 5.2.3 message exceeds recipient limit'), 'exceedlimit', 'soft_bounce'],
    ['too big', failed('5.3.4', 'smtp; 552 5.3.4 Message size exceeds fixed limit'), 'exceedlimit', 'soft_bounce'],
    [
      'mailbox disabled 5.2.1',
      failed('5.2.1', 'smtp; 550 5.2.1 <x@ex.org>: recipient rejected'),
      'filtered',
      'soft_bounce',
    ],
    [
      'spamhaus block',
      failed('5.7.1', 'smtp; 554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org'),
      'blocked',
      'soft_bounce',
    ],
    [
      'spam content',
      failed('5.7.1', 'smtp; 550 5.7.1 Message rejected as spam by Content Filtering'),
      'spamdetected',
      'soft_bounce',
    ],
    [
      'policy',
      failed('5.7.9', 'smtp; 554 5.7.9 Message not accepted for policy reasons'),
      'policyviolation',
      'soft_bounce',
    ],
    [
      'sender rejected',
      failed('5.1.8', 'smtp; 553 5.1.8 <b@ex.com>: Sender address rejected: Domain not found'),
      'rejected',
      'soft_bounce',
    ],
    ['expired', failed('4.4.7', 'smtp; 421 4.4.7 delivery time expired'), 'expired', 'soft_bounce'],
    ['suspend', failed('5.7.13', 'smtp; 550 5.7.13 user account disabled'), 'suspend', 'soft_bounce'],
    [
      'gmail disabled',
      failed('5.2.1', 'smtp; 550-5.2.1 The email account that you tried to reach is disabled. - gsmtp'),
      'suspend',
      'soft_bounce',
    ],
    ['too many rcpt', failed('5.5.3', 'smtp; 552 5.5.3 too many recipients'), 'toomanyconn', 'soft_bounce'],
    [
      'gmail rate (4.7.28)',
      {
        action: 'delayed',
        status: '4.7.28',
        diagnostic:
          'smtp; 421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from '
          + 'your IP address - gsmtp',
      },
      'speeding',
      'deferred',
    ],
    ['network', failed('4.4.2', 'smtp; 451 4.4.2 bad connection'), 'networkerror', 'soft_bounce'],
    ['security generic', failed('5.7.0', 'smtp; 550 5.7.0 rejected'), 'securityerror', 'soft_bounce'],
    [
      'ms auth',
      failed(
        '5.7.515',
        'smtp; 550 5.7.515 Access denied, sending domain example.com does not meet the required authentication level',
        { remoteMta: 'dns; outlook-com.olc.protection.outlook.com' },
      ),
      'authfailure',
      'soft_bounce',
    ],
    [
      'ptr',
      failed('5.7.25', 'smtp; 550-5.7.25 The IP address sending this message does not have a PTR record setup - gsmtp'),
      'requireptr',
      'soft_bounce',
    ],
    ['requiretls', failed('5.7.30', 'smtp; 550 5.7.30 REQUIRETLS support required'), 'securityerror', 'soft_bounce'],
    [
      'gmail dkim 5.7.30',
      failed('5.7.30', 'smtp; 550-5.7.30 This message does not pass DKIM checks - gsmtp'),
      'authfailure',
      'soft_bounce',
    ],
    [
      'ms reputation',
      {
        action: 'delayed',
        status: '4.7.650',
        diagnostic:
          'smtp; 451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.',
        remoteMta: 'dns; hotmail-com.olc.protection.outlook.com',
      },
      'blocked',
      'deferred',
    ],
    ['content', failed('5.6.0', 'smtp; 554 5.6.0 Invalid MIME'), 'contenterror', 'soft_bounce'],
    ['virus', failed('5.7.1', 'smtp; 554 5.7.1 Virus found in message'), 'virusdetected', 'soft_bounce'],
    ['system', failed('5.3.0', 'smtp; 554 5.3.0 local error in processing'), 'systemerror', 'soft_bounce'],
    ['system full', failed('4.3.1', 'smtp; 452 4.3.1 Insufficient system storage'), 'systemerror', 'soft_bounce'],
    ['syntax', failed('5.5.2', 'smtp; 500 5.5.2 Syntax error'), 'syntaxerror', 'soft_bounce'],
    ['relay', failed('5.7.1', 'smtp; 554 5.7.1 <x@ex.org>: Relay access denied'), 'norelaying', 'soft_bounce'],
    [
      'mailer',
      { source: 'text', diagnostic: 'Command died with status 1: "/usr/bin/procmail"' },
      'mailererror',
      'soft_bounce',
    ],
    [
      'ses suppressed',
      {
        source: 'esp',
        diagnostic:
          'Amazon SES has suppressed sending to this address because it has a recent history of bouncing '
          + 'as an invalid address.',
      },
      'suppressed',
      'soft_bounce',
    ],
    ['nothing known', failed(undefined, 'smtp; 550 go away'), 'undefined', 'soft_bounce'],
  ];
  for (const [name, input, reason, kind] of cases) {
    it(`${name} → ${reason}/${kind}`, () => {
      const r = classifyFailure(input);
      assert.equal(r.reason, reason, JSON.stringify(r));
      assert.equal(r.kind, kind, JSON.stringify(r));
    });
  }

  it('signals, delivered and delayed decide before codes', () => {
    assert.equal(classifyFailure({ isFeedback: true, status: '5.1.1' }).kind, 'complaint');
    assert.equal(classifyFailure({ isFeedback: true }).reason, 'feedback');
    assert.equal(classifyFailure({ isAutoReply: true }).reason, 'vacation');
    assert.equal(classifyFailure({ action: 'delivered', status: '2.0.0' }).kind, 'delivered');
    assert.equal(classifyFailure({ action: 'delayed', status: '5.1.1' }).kind, 'deferred');
  });

  it('prefers the diagnostic code when the DSN status is generic', () => {
    const r = classifyFailure(failed('5.0.0', 'smtp; 550 5.1.1 user unknown'));
    assert.equal(r.status, '5.1.1');
    assert.equal(r.kind, 'hard_bounce');
  });

  it('a live 4xx is a deferral; the same code in a failed DSN is a soft bounce', () => {
    assert.equal(
      classifyFailure({ source: 'sync', smtpReplyCode: 452, diagnostic: '452 4.2.2 mailbox full' }).kind,
      'deferred',
    );
    assert.equal(classifyFailure(failed('4.2.2', 'mailbox full')).kind, 'soft_bounce');
  });

  it('counts recipient-side soft bounces only and flags throttle signals', () => {
    assert.equal(classifyFailure(failed('5.2.2', 'over quota')).countsTowardSoftLimit, true);
    const blocked = classifyFailure(failed('5.7.1', 'blocked using zen.spamhaus.org'));
    assert.equal(blocked.countsTowardSoftLimit, false);
    assert.equal(blocked.isThrottleSignal, true);
  });

  it('extracts codes without mistaking IP addresses', () => {
    assert.equal(extractEnhancedCode('from 10.2.3.4 said: 550 5.1.1 no'), '5.1.1');
    assert.equal(extractEnhancedCode('host 10.2.3.4 refused'), null);
    assert.equal(extractEnhancedCode('(#5.1.1)'), '5.1.1');
    assert.equal(extractReplyCode('smtp; 550-5.1.1 x'), 550);
  });
});

describe('classifyFailure: properties', () => {
  const codeArb = fc
    .tuple(fc.constantFrom(2, 4, 5), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 40 }))
    .map(([c, s, d]) => `${c}.${s}.${d}`);
  const inputArb: fc.Arbitrary<FailureInput> = fc.record(
    {
      action: fc.constantFrom('failed', 'delayed', 'delivered', 'relayed', 'expanded', '', 'FAILED', 'weird'),
      status: fc.oneof(codeArb, fc.string()),
      diagnostic: fc.oneof(
        fc.string(),
        fc.constantFrom('user unknown', 'blocked using x', 'mailbox full', 'spam', 'gsmtp'),
      ),
      smtpReplyCode: fc.integer({ min: 0, max: 999 }),
      remoteMta: fc.string(),
      source: fc.constantFrom('sync', 'dsn', 'esp', 'text'),
      isFeedback: fc.boolean(),
      isAutoReply: fc.boolean(),
      isFinal: fc.boolean(),
    },
    { requiredKeys: [] },
  );

  it('every input falls into exactly one known kind and reason, and never throws', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = classifyFailure(input);
        assert.equal(BOUNCE_KINDS.filter((k) => k === r.kind).length, 1);
        assert.ok((BOUNCE_REASONS as readonly string[]).includes(r.reason));
      }),
      { numRuns: 2000 },
    );
  });

  it('hard bounce ⇔ a hard reason (or 5xx notaccept), outside signals/delay/delivery', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = classifyFailure(input);
        if (r.kind !== 'hard_bounce') return;
        assert.ok(HARD_REASONS.has(r.reason) || r.reason === 'notaccept');
        assert.notEqual(input.isFeedback, true);
        assert.notEqual(input.isAutoReply, true);
      }),
      { numRuns: 2000 },
    );
  });

  it('a failed 5.x.x never defers, and is soft only for a non-hard reason', () => {
    fc.assert(
      fc.property(
        codeArb.filter((c) => c.startsWith('5.')),
        fc.string(),
        fc.constantFrom('sync', 'dsn', 'esp') as fc.Arbitrary<'sync' | 'dsn' | 'esp'>,
        (status, diagnostic, source) => {
          const r = classifyFailure({ action: 'failed', status, diagnostic, source });
          assert.ok(r.kind === 'hard_bounce' || r.kind === 'soft_bounce', `${status} ${r.kind}`);
          if (r.kind === 'soft_bounce') assert.ok(!HARD_REASONS.has(r.reason) && r.reason !== 'notaccept');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('throttle reasons with a 4.x.x code are deferrals, never counted', () => {
    fc.assert(
      fc.property(
        codeArb.filter((c) => c.startsWith('4.')),
        fc.constantFrom('blocked using dnsbl', 'too many connections', 'spam', 'low reputation'),
        (status, diagnostic) => {
          const r = classifyFailure({ action: 'failed', status, diagnostic, source: 'dsn' });
          if (THROTTLE_REASONS.has(r.reason)) assert.equal(r.kind, 'deferred');
          assert.equal(r.countsTowardSoftLimit && THROTTLE_REASONS.has(r.reason), false);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('classifyFailure: hard means the address is bad', () => {
  it('policy, content, reputation and authentication rejections with a 5xx code are soft', () => {
    const soft: Array<[string, string, BounceReason]> = [
      ['5.7.1', '550 5.7.1 Message not accepted for policy reasons', 'policyviolation'],
      ['5.7.26', '550-5.7.26 This mail has been blocked because the sender is unauthenticated', 'authfailure'],
      ['5.7.1', '554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org', 'blocked'],
      ['5.7.1', '550 5.7.1 Message rejected as spam by Content Filtering', 'spamdetected'],
      ['5.2.2', '552 5.2.2 Mailbox full', 'mailboxfull'],
      ['5.2.1', '550 5.2.1 The email account that you tried to reach is disabled', 'suspend'],
      ['5.0.0', '550 Verification failed for <news@shop.example.com> unrouteable address', 'rejected'],
    ];
    for (const [status, diagnostic, reason] of soft) {
      const r = classifyFailure(failed(status, diagnostic));
      assert.deepEqual([r.kind, r.reason], ['soft_bounce', reason], diagnostic);
    }
  });

  it('a specific phrase beats a loosely used code; a 2.x.x transcript line never decides', () => {
    const relay = classifyFailure(failed('5.1.1', '554 5.1.1 <x@ex.org>: Relay access denied'));
    assert.deepEqual([relay.kind, relay.reason], ['soft_bounce', 'norelaying']);
    const transcript = classifyFailure({
      action: 'failed',
      source: 'text',
      diagnostic: '<<< 250 2.1.0 Sender ok >>> RCPT To:<x@ex.org> <<< 550 5.1.1 <x@ex.org>... User unknown',
    });
    assert.deepEqual([transcript.kind, transcript.reason, transcript.status], ['hard_bounce', 'userunknown', '5.1.1']);
  });

  it('a delay keeps the diagnostic reason, else it is expired', () => {
    const full = classifyFailure({ action: 'delayed', status: '4.2.2', diagnostic: '452 4.2.2 Mailbox full' });
    assert.deepEqual([full.kind, full.reason], ['deferred', 'mailboxfull']);
    const bare = classifyFailure({ action: 'delayed', status: '4.0.0', diagnostic: '' });
    assert.deepEqual([bare.kind, bare.reason], ['deferred', 'expired']);
  });
});
