/**
 * Types of bounce classification: the sisimai-style reason taxonomy (bounces.md §6) and the
 * classification result. Pure declarations only; the decision procedure lives in classify.ts.
 */

/** sisimai reason names, exactly as bounces.md §6 lists them. */
export const BOUNCE_REASONS = [
  'userunknown',
  'hostunknown',
  'hasmoved',
  'notaccept',
  'mailboxfull',
  'exceedlimit',
  'mesgtoobig',
  'filtered',
  'blocked',
  'spamdetected',
  'policyviolation',
  'rejected',
  'expired',
  'suspend',
  'toomanyconn',
  'speeding',
  'networkerror',
  'securityerror',
  'authfailure',
  'requireptr',
  'failedstarttls',
  'badreputation',
  'notcompliantrfc',
  'contenterror',
  'virusdetected',
  'systemerror',
  'systemfull',
  'syntaxerror',
  'norelaying',
  'mailererror',
  'suppressed',
  'onhold',
  'undefined',
  'feedback',
  'vacation',
  'delivered',
] as const;
export type BounceReason = (typeof BOUNCE_REASONS)[number];

/** Exactly one of these per classified recipient. */
export const BOUNCE_KINDS = ['hard_bounce', 'soft_bounce', 'deferred', 'delivered', 'complaint', 'auto_reply'] as const;
export type BounceKind = (typeof BOUNCE_KINDS)[number];

/** sisimai's hard reasons (go-sisimai smtp/failure.IsHardBounce); notaccept is hard only for 5xx. */
export const HARD_REASONS: ReadonlySet<BounceReason> = new Set(['userunknown', 'hostunknown', 'hasmoved']);

/** Sender-side signals: with a 4xx class they are a governor signal, not a recipient bounce (§8 step 6). */
export const THROTTLE_REASONS: ReadonlySet<BounceReason> = new Set([
  'speeding',
  'toomanyconn',
  'blocked',
  'badreputation',
  'spamdetected',
]);

/** Soft reasons that count toward the recipient's soft-bounce limit (§8 step 9, our policy). */
export const RECIPIENT_SIDE_REASONS: ReadonlySet<BounceReason> = new Set([
  'mailboxfull',
  'exceedlimit',
  'filtered',
  'suspend',
  'expired',
  'policyviolation',
  'systemerror',
  'systemfull',
  'networkerror',
  'undefined',
]);

/** Where the failure was observed: a live SMTP reply, an asynchronous DSN, an ESP event, bounce text. */
export type FailureSource = 'sync' | 'dsn' | 'esp' | 'text';

/** One recipient's failure, in structured fields. Every field is optional; text may be anything. */
export interface FailureInput {
  /** DSN `Action:` (failed | delayed | delivered | relayed | expanded). */
  action?: string;
  /** Enhanced status code, e.g. DSN `Status: 5.1.1`. */
  status?: string;
  /** Raw diagnostic text (DSN `Diagnostic-Code` without or with the `smtp;` type). */
  diagnostic?: string;
  /** Basic SMTP reply code (RFC 5321), e.g. 550. */
  smtpReplyCode?: number;
  /** DSN `Remote-MTA` (used to recognise the receiving provider). */
  remoteMta?: string;
  source?: FailureSource;
  /** True when the message is an ARF/feedback report (§8 step 1). */
  isFeedback?: boolean;
  /** True when the message carries RFC 3834 auto-reply signals (§8 step 2). */
  isAutoReply?: boolean;
  /** Overrides the default "is this the final word" (failed DSN / ESP = final; live 4xx = not). */
  isFinal?: boolean;
}

export interface BounceClassification {
  kind: BounceKind;
  reason: BounceReason;
  /** The enhanced code used for the decision, else the reply code as text, else null. */
  status: string | null;
  smtpReplyCode: number | null;
  /** True for a soft bounce that counts toward the recipient's soft-bounce limit. */
  countsTowardSoftLimit: boolean;
  /** True when the failure says "slow down / reputation" about us, not about the recipient. */
  isThrottleSignal: boolean;
  /** Which rule decided the reason: the status table, a provider-specific code, a phrase, or none. */
  matchedBy: 'status' | 'provider-status' | 'phrase' | 'action' | 'signal' | 'none';
  /** The phrase (or provider) that matched, for audit. */
  matchedRule: string | null;
}
