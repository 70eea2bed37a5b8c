/**
 * Classifies a temporary failure for the governor (pure), following deliverability.md §3:
 * - `hard`: the provider says our IP/domain is rate limited or has a bad reputation (Gmail 421
 *   4.7.28, Outlook RP-001..003, 451 4.7.650/651): halve and stop the key for a while.
 * - `throttle`: a generic "slow down" (421, 4.7.x, 4.3.0 / 4.4.x busy, HTTP 429): AIMD decrease.
 * - `recipient`: about one mailbox (450 4.2.1 user receiving too fast, 4.2.2 mailbox full, 452
 *   4.5.3 too many recipients): never throttles the domain and never counts in the deferral ratio.
 * Recipient-level classes are checked first because a 4.2.1 arrives with a 450 code.
 */

export type DeferralClass = 'hard' | 'throttle' | 'recipient';

export interface DeferralDetail {
  /** SMTP reply code, e.g. 421. */
  smtpCode?: number;
  /** Enhanced status, e.g. "4.7.28". */
  enhancedStatus?: string;
  /** HTTP status from an API provider, e.g. 429. */
  httpStatus?: number;
  /** The provider's text (used for RP-00x tokens and 4.7.x codes embedded in text). */
  diagnostic?: string;
}

const RECIPIENT_STATUS = /^4\.(2\.[12]|5\.3)$/;
const HARD_STATUS = /^4\.7\.(28|650|651)$/;
const HARD_TEXT = /\b(RP-00[123]|4\.7\.(28|650|651))\b/i;

export function classifyDeferral(d: DeferralDetail): DeferralClass {
  const status = d.enhancedStatus ?? /\b(4\.\d{1,3}\.\d{1,3})\b/.exec(d.diagnostic ?? '')?.[1];
  if (status !== undefined && RECIPIENT_STATUS.test(status)) return 'recipient';
  if ((status !== undefined && HARD_STATUS.test(status)) || HARD_TEXT.test(d.diagnostic ?? '')) return 'hard';
  return 'throttle';
}
