/**
 * The diagnostic-phrase table (bounces.md §7 plus the wording the major MTAs and mailbox providers
 * really emit). Matching is on lower-cased text, first rule wins, so sender-side reasons come
 * before recipient reasons ("550 5.7.1 … user unknown or blocked" exists). Pure data and one
 * pure matcher; add a phrase by appending to the right reason's list.
 */
import type { BounceReason } from './types.ts';

export interface PhraseRule {
  reason: BounceReason;
  /** Who emits it (for audit and docs); 'generic' when many MTAs do. */
  source: string;
  /** Lower-case substrings or regular expressions tested against lower-cased text. */
  patterns: readonly (string | RegExp)[];
}

/** Ordered: earlier rules win. */
export const PHRASE_RULES: readonly PhraseRule[] = [
  // --- sender side first: our IP, domain, authentication, rate ---
  {
    reason: 'requireptr',
    source: 'generic',
    patterns: [
      'cannot find your reverse hostname',
      'reverse dns',
      'does not have a ptr record',
      'no ptr record',
      'ptr record setup',
      'reverse hostname',
      'cannot find your hostname',
    ],
  },
  {
    reason: 'authfailure',
    source: 'generic',
    patterns: [
      'does not meet the required authentication level',
      'unauthenticated email',
      'is not authenticated',
      'spf check failed',
      'spf validation',
      'sender policy framework',
      'dkim',
      'dmarc policy',
      'dmarc',
      'authentication-results',
    ],
  },
  {
    reason: 'failedstarttls',
    source: 'generic',
    patterns: ['tls required', 'must issue a starttls', 'requiretls', 'starttls is required', 'encryption required'],
  },
  {
    reason: 'speeding',
    source: 'gmail',
    patterns: [
      'receiving mail at a rate that prevents',
      'receiving mail too quickly',
      'unusual rate of',
      'please try again slower',
      'try again later, closing connection',
      'sending too fast',
      'max emails per hour',
      'temporarily rate limited',
      'rate limit exceeded',
    ],
  },
  {
    reason: 'badreputation',
    source: 'gmail/yahoo/microsoft',
    patterns: [
      'low reputation',
      'poor reputation',
      'ip reputation',
      '[tss04]',
      'unexpected volume or user complaints',
      'reputation of the sending',
    ],
  },
  {
    reason: 'toomanyconn',
    source: 'generic',
    patterns: [
      'too many connections',
      'connection rate limit exceeded',
      'too many recipients',
      'too many messages',
      'resolver.adr.reciplimit',
      'rp-001',
      'rp-002',
      'rp-003',
      'domain policy size per transaction',
      'too many concurrent',
    ],
  },
  {
    reason: 'blocked',
    source: 'generic',
    patterns: [
      'blocked using',
      'blacklisted by',
      'blacklisted',
      'blocklisted',
      'block list',
      'blocklist',
      'dnsbl',
      /\brbl\b/,
      'banned sending ip',
      'client host rejected',
      'spamhaus',
      'spamcop',
      'barracuda',
      '[bl21]',
      '[bl22]',
      '[bl23]',
      '[ts03]',
      'sc-001',
      'sc-002',
      'sc-003',
      'sc-004',
      'dy-001',
      'dy-002',
      'ou-001',
      'ou-002',
      '(s3140)',
      '(s3150)',
      'access denied - invalid hello',
      'not allowed to send from',
    ],
  },
  { reason: 'virusdetected', source: 'generic', patterns: ['virus', 'malware', 'infected', 'malicious content'] },
  {
    reason: 'spamdetected',
    source: 'generic',
    patterns: [
      'spam',
      'appears to be unsolicited',
      'likely unsolicited',
      'content filter rejection',
      'junk mail',
      'bulk mail',
      'message content rejected',
      'blocked by spamassassin',
      'rejected as unsolicited',
    ],
  },
  {
    reason: 'rejected',
    source: 'generic',
    patterns: [
      'sender address rejected',
      'access denied (in reply to mail from command)',
      'bogus mail from',
      'sender rejected',
      'sendasdenied',
      'invalid sender',
      'sender verify failed',
      'domain of sender address',
      'sender domain must exist',
    ],
  },
  {
    reason: 'norelaying',
    source: 'postfix/sendmail',
    patterns: [
      'relay access denied',
      'relaying denied',
      'relay not permitted',
      'we do not relay',
      'not permitted to relay',
      'unable to relay',
      'relaying not allowed',
      'no relaying',
    ],
  },
  // --- recipient side ---
  {
    reason: 'suspend',
    source: 'gmail/yahoo/generic',
    patterns: [
      'has been suspended',
      'mailbox disabled',
      'mailbox is disabled',
      'inactive account',
      'account is disabled',
      'account that you tried to reach is disabled',
      'account has been disabled',
      'account disabled',
      'this account is inactive',
      'mailbox is inactive',
    ],
  },
  {
    reason: 'mailboxfull',
    source: 'generic',
    patterns: [
      'mailbox full',
      'mailbox is full',
      'over quota',
      'quota exceeded',
      'exceeded storage allocation',
      'insufficient disk space',
      'is over quota',
      'out of storage space',
      'mailbox size limit exceeded',
      'user is over the quota',
      'maildir over quota',
      'disk quota exceeded',
    ],
  },
  {
    reason: 'hasmoved',
    source: 'generic',
    patterns: ['has been moved', 'mailbox has moved', 'address has changed', 'no longer with', 'is no longer valid'],
  },
  {
    reason: 'userunknown',
    source: 'generic',
    patterns: [
      'user unknown',
      'unknown user',
      'no such user',
      'no such mailbox',
      'address does not exist',
      'account that you tried to reach does not exist',
      'invalid mailbox',
      'invalid recipient',
      'unknown recipient',
      'recipient unknown',
      'recipient not found',
      'resolver.adr.recipnotfound',
      'resolver.adr.recipientnotfound',
      'mailbox not found',
      'mailbox unavailable',
      'no mailbox here by that name',
      'does not have a yahoo',
      "user doesn't have a",
      'not a valid mailbox',
      'no such recipient',
      'unknown local part',
      'unknown or illegal alias',
      'recipient address rejected: access denied',
      'unrouteable mail domain',
      'mailbox does not exist',
      'undeliverable address',
      'user not found',
    ],
  },
  {
    reason: 'hostunknown',
    source: 'generic',
    patterns: [
      'host unknown',
      'host not found',
      'domain does not exist',
      'no such domain',
      'name or service not known',
      'unrouteable address',
      'domain name not found',
      "couldn't find any host named",
      'name service error',
      'all relevant mx records point to non-existent hosts',
      'no mx record',
      'domain not found',
      'unknown domain',
    ],
  },
  {
    reason: 'notaccept',
    source: 'generic',
    patterns: ['does not accept mail', 'null mx', 'not accepting mail', 'accepts no mail'],
  },
  {
    reason: 'exceedlimit',
    source: 'generic',
    patterns: [
      "exceeds recipient's size limit",
      'resolver.rst.recipsizelimit',
      'exceeded the size limit of the recipient',
    ],
  },
  {
    reason: 'mesgtoobig',
    source: 'generic',
    patterns: [
      'message too big',
      'message too large',
      'message size exceeds',
      'size exceeds maximum',
      'message is too large',
      'exceeds maximum permitted',
      'message exceeded',
      'size limit',
    ],
  },
  {
    reason: 'policyviolation',
    source: 'generic',
    patterns: [
      'message not accepted for policy reasons',
      'local policy violation',
      'denied by policy',
      'closed mailing list',
      'policy violation',
      'resolver.rst.authrequired',
      'resolver.rst.notauthorized',
      'delivery not authorized',
      'not authorized to send',
      'prohibited attachment',
      'attachment type',
    ],
  },
  {
    reason: 'expired',
    source: 'generic',
    patterns: [
      'delivery time expired',
      'message expired',
      'retry timeout exceeded',
      'giving up on',
      'has been in the queue too long',
      'too long in queue',
      'could not be delivered within',
      'retry time not reached for any host',
      'message timed out',
      'expired after',
      'connection timed out',
    ],
  },
  {
    reason: 'networkerror',
    source: 'generic',
    patterns: [
      'timed out while',
      'conversation with',
      'network is unreachable',
      'no route to host',
      'connection reset',
      'lost connection',
      'temporary lookup failure',
      'mail loop',
      'too many hops',
      'routing loop',
      'delivery temporarily suspended',
    ],
  },
  { reason: 'systemfull', source: 'generic', patterns: ['insufficient system storage', 'system storage'] },
  {
    reason: 'systemerror',
    source: 'generic',
    patterns: [
      'server busy',
      'system error',
      'internal error',
      'temporary failure',
      'temporarily unavailable',
      'local error in processing',
      'service unavailable',
      'try again later',
    ],
  },
  {
    reason: 'suppressed',
    source: 'ses/esp',
    patterns: ['has suppressed sending to this address', 'suppression list', 'on the suppression list'],
  },
  { reason: 'filtered', source: 'generic', patterns: ['rejected after data', 'content rejected', 'filtered'] },
  {
    reason: 'contenterror',
    source: 'generic',
    patterns: ['invalid mime', 'malformed', 'header error', 'bad header', 'not rfc 5322', 'rfc 5322'],
  },
  {
    reason: 'mailererror',
    source: 'generic',
    patterns: ['mailer error', 'command died with status', 'pipe to', 'unknown mailer error'],
  },
];

/** First rule whose pattern occurs in the text, or null. */
export function matchPhrase(
  text: string,
  rules: readonly PhraseRule[] = PHRASE_RULES,
): { reason: BounceReason; pattern: string; source: string } | null {
  const lower = text.toLowerCase();
  if (lower.trim() === '') return null;
  for (const rule of rules) {
    for (const p of rule.patterns) {
      const hit = typeof p === 'string' ? lower.includes(p) : p.test(lower);
      if (hit) return { reason: rule.reason, pattern: String(p), source: rule.source };
    }
  }
  return null;
}
