/**
 * The external compliance system port: the customer's own consent/DSR platform (OneTrust,
 * Transcend, an in-house service) that must carry out every data-subject request too. Errors:
 * COMPLIANCE_SINK_UNAVAILABLE (retryable) for network failures, 429 and 5xx;
 * COMPLIANCE_SINK_REJECTED (permanent) for any other refusal.
 */
export interface ComplianceRequest {
  requestId: string;
  type: string;
  /** The subject's addresses (the system must find the person) and their keyed hash. */
  emails: string[];
  subjectHash: string;
}

export interface ComplianceSystem {
  readonly name: string;
  /** Hands the request over; idempotent by requestId. Resolves with the system's confirmation. */
  submit(req: ComplianceRequest): Promise<{ status: 'confirmed' | 'nothing_found'; reference: string | null }>;
}
