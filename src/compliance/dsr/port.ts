/**
 * The data-subject-request system port: one connected system (warehouse, CRM, ESP, billing, the
 * external compliance system, Switchyard's own store) that a request fans out to. The runner
 * (runner.ts) calls `handle` once per request and system, retrying with backoff, and records the
 * returned outcome as the step's confirmation or evidence. Implementations live in systems/ and
 * wrap the connector ports; the connector adapters themselves are chosen in app.ts.
 */
import type { DsrType } from '../../core/dsr/deadlines.ts';

/** Who the request is about. `emails` are normalised; `names` only when the requester gave them. */
export interface DsrSubject {
  emails: string[];
  subjectHash: string;
  contactIds: string[];
  names: string[];
}

/** What one system did with the request; each kind is final for the step. */
export type StepOutcome =
  /** Done and confirmed by the system; `evidence` is what it answered (ids, counts, status codes). */
  | { kind: 'confirmed'; evidence: Record<string, unknown> }
  /** The system holds nothing about the subject: recorded as the result. */
  | { kind: 'nothing_found'; evidence: Record<string, unknown> }
  /** The system has nothing to do for this type (SMTP has no deletion API): recorded with why. */
  | { kind: 'not_applicable'; reason: string }
  /** Partly kept because a law requires it (invoices): restricted, not deleted, with the reason. */
  | { kind: 'restricted'; reason: string; evidence: Record<string, unknown> }
  /** Access/portability: the system's copy of the subject's data, for the bundle. */
  | { kind: 'exported'; data: unknown; evidence: Record<string, unknown> };

export interface DsrSystem {
  /** Stable step name: 'warehouse' | 'crm' | 'esp' | 'billing' | 'compliance' | 'own-store'. */
  readonly name: string;
  /**
   * Carries out one request of `type` for the subject. Must be idempotent: after a crash or a
   * lost answer the runner calls it again for the same request. Throw a SwitchyardError when the
   * call failed: a retryable one is retried with backoff (honouring retryAfterMs) up to the
   * attempt limit; a permanent one sends the step to the exceptions queue at once.
   */
  handle(type: DsrType, subject: DsrSubject, requestId: string): Promise<StepOutcome>;
}
