/**
 * Enhanced status code (RFC 3463 + IANA registry) → reason, per bounces.md §2, plus the
 * provider-specific 4.7.x/5.7.x meanings of deliverability.md §2–3. Pure lookups; codes come in
 * already normalised ("5.1.1"). Generic codes (x.0.0, x.7.0, x.7.1, …) map to low-confidence
 * reasons that classify.ts lets the phrase table refine, as sisimai's second pass does.
 */
import type { BounceReason } from './types.ts';

/** Keyed by "subject.detail"; applies to class 4 and 5 unless CLASS_SPECIFIC overrides it. */
const BY_SUBJECT_DETAIL: Readonly<Record<string, BounceReason>> = {
  '1.0': 'userunknown',
  '1.1': 'userunknown',
  '1.2': 'hostunknown',
  '1.3': 'userunknown',
  '1.6': 'hasmoved',
  '1.7': 'rejected',
  '1.8': 'rejected',
  '1.10': 'notaccept',
  '2.1': 'filtered',
  '2.2': 'mailboxfull',
  '2.3': 'exceedlimit',
  '3.0': 'systemerror',
  '3.1': 'systemerror',
  '3.2': 'notaccept',
  '3.4': 'exceedlimit',
  '3.5': 'systemerror',
  '4.0': 'networkerror',
  '4.1': 'expired',
  '4.2': 'networkerror',
  '4.3': 'networkerror',
  '4.4': 'hostunknown',
  '4.5': 'systemerror',
  '4.6': 'networkerror',
  '4.7': 'expired',
  '5.1': 'syntaxerror',
  '5.2': 'syntaxerror',
  '5.3': 'toomanyconn',
  '5.4': 'syntaxerror',
  '6.0': 'contenterror',
  '6.1': 'contenterror',
  '6.2': 'contenterror',
  '6.3': 'contenterror',
  '6.4': 'contenterror',
  '6.5': 'contenterror',
  '6.6': 'contenterror',
  '6.7': 'contenterror',
  '6.8': 'contenterror',
  '6.9': 'contenterror',
  '6.10': 'contenterror',
  '7.0': 'securityerror',
  '7.1': 'securityerror',
  '7.7': 'securityerror',
  '7.8': 'securityerror',
  '7.10': 'securityerror',
  '7.11': 'securityerror',
  '7.13': 'suspend',
  '7.17': 'hasmoved',
  '7.18': 'hasmoved',
  '7.20': 'authfailure',
  '7.21': 'authfailure',
  '7.22': 'authfailure',
  '7.23': 'authfailure',
  '7.24': 'authfailure',
  '7.25': 'requireptr',
  '7.26': 'authfailure',
  // 5.7.27 is "sender address has null MX": bounces.md names sisimai's `notaccept`, but that would
  // hard-bounce the recipient for our own configuration problem, so it is `rejected` (sender-side).
  '7.27': 'rejected',
  '7.28': 'spamdetected',
  '7.29': 'authfailure',
  '7.30': 'securityerror',
  // Codes outside the IANA registry that only Exchange Online issues; no other meaning collides.
  '4.310': 'hostunknown',
  '4.312': 'hostunknown',
  '7.64': 'norelaying',
  '7.350': 'spamdetected',
  '7.509': 'authfailure',
  '7.510': 'authfailure',
  '7.511': 'blocked',
  '7.606': 'blocked',
  '7.607': 'blocked',
  '7.608': 'blocked',
  '7.708': 'blocked',
  '7.750': 'blocked',
};

/** Where class 4 and class 5 mean different things. */
const CLASS_SPECIFIC: Readonly<Record<string, BounceReason>> = {
  '4.2.1': 'blocked', // mailbox temporarily disabled / Gmail "receiving too fast"
  '4.4.4': 'networkerror', // 5.4.4 is "unable to route" (hostunknown), 4.4.4 a routing hiccup
  '4.7.1': 'blocked', // "try again later" block of our client
};

/** Generic codes whose reason is a guess: a phrase match may replace it (sisimai reason.Retry()). */
export const LOW_CONFIDENCE_REASONS: ReadonlySet<BounceReason> = new Set([
  'undefined',
  'onhold',
  'systemerror',
  'securityerror',
  'expired',
  'networkerror',
  'blocked',
  'filtered',
]);

/** Provider-specific codes (deliverability.md §2–3); they win over the registry meaning. */
interface ProviderRule {
  provider: string;
  detect: RegExp;
  codes: Readonly<Record<string, BounceReason>>;
}
const PROVIDER_RULES: readonly ProviderRule[] = [
  {
    provider: 'gmail',
    detect: /\bgsmtp\b|google\.com|googlemail\.com|gmail\.com|support\.google/i,
    codes: {
      '4.7.23': 'requireptr',
      '5.7.25': 'requireptr',
      '4.7.25': 'requireptr',
      '4.7.27': 'authfailure',
      '5.7.27': 'authfailure',
      '4.7.29': 'securityerror',
      '5.7.29': 'securityerror',
      '4.7.30': 'authfailure',
      '5.7.30': 'authfailure',
      '4.7.31': 'authfailure',
      '4.7.40': 'authfailure',
      '5.7.40': 'authfailure',
      '4.7.32': 'authfailure',
      '5.7.32': 'authfailure',
      '5.7.26': 'authfailure',
      '4.7.28': 'speeding',
      '4.2.1': 'speeding',
      '4.5.3': 'toomanyconn',
    },
  },
  {
    provider: 'microsoft',
    detect: /outlook\.com|hotmail|protection\.outlook|office365|microsoft|\bresolver\.|\bS3150\b/i,
    codes: {
      '5.7.515': 'authfailure',
      '4.7.650': 'blocked',
      '4.7.651': 'blocked',
      '4.7.500': 'toomanyconn',
      '5.1.10': 'userunknown',
      '5.4.1': 'userunknown',
    },
  },
];

/** Splits "5.1.1" into its parts; null when it is not an enhanced code. */
export function parseEnhancedCode(code: string): { klass: 2 | 4 | 5; subject: number; detail: number } | null {
  const m = /^([245])\.(\d{1,3})\.(\d{1,3})$/.exec(code.trim());
  if (m === null) return null;
  return { klass: Number(m[1]) as 2 | 4 | 5, subject: Number(m[2]), detail: Number(m[3]) };
}

/** The registry meaning of an enhanced code, or null for generic/unknown codes. */
export function reasonForStatus(code: string): BounceReason | null {
  const parsed = parseEnhancedCode(code);
  if (parsed === null) return null;
  if (parsed.klass === 2) return 'delivered';
  const key = `${parsed.subject}.${parsed.detail}`;
  return CLASS_SPECIFIC[`${parsed.klass}.${key}`] ?? BY_SUBJECT_DETAIL[key] ?? null;
}

/** A provider-specific meaning when the text or remote MTA identifies the provider. */
export function reasonForProviderStatus(
  code: string,
  evidence: string,
): { provider: string; reason: BounceReason } | null {
  for (const rule of PROVIDER_RULES) {
    const reason = rule.codes[code];
    if (reason !== undefined && rule.detect.test(evidence)) return { provider: rule.provider, reason };
  }
  return null;
}
