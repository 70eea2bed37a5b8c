/**
 * What goes into and comes out of the governor: send keys, outcomes and alerts. Apart from
 * governor.ts so that governor-report.ts, which governor.ts uses, can speak them too.
 */
export interface AlertScope {
  campaignId?: string;
  sendingDomain?: string;
  provider?: string;
  receivingGroup?: string;
}
export interface GovernorAlert {
  kind: 'paused' | 'resumed' | 'rate_reduced';
  scope: AlertScope;
  reason: string;
  at: Date;
}

/** Which budgets one send draws on. `recipientDomain` may be a full address. */
export interface SendKey {
  provider: string;
  sendingDomain: string;
  recipientDomain: string;
  campaignId?: string;
}

export type OutcomeKind =
  | 'accepted'
  | 'deferred'
  | 'bounced_hard'
  | 'bounced_soft'
  | 'complained'
  | 'delivered'
  | 'failed';

export interface SendOutcome extends SendKey {
  kind: OutcomeKind;
  /** Time the ESP / MX took to answer; above the AIMD latency target it slows the key down. */
  latencyMs?: number;
  smtpCode?: number;
  enhancedStatus?: string;
  httpStatus?: number;
  diagnostic?: string;
  /** Provider's Retry-After on a 429: the provider key sends nothing until then. */
  retryAfterMs?: number;
}
