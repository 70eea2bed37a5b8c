/**
 * The one error registry. Every failure in Switchyard is a SwitchyardError whose code is listed
 * here with a one-line meaning; docs/errors.md must list the same codes (a test checks both ways).
 * Callers decide by `code` and `retryable`, never by message text.
 */

export const ERROR_CODES = {
  CONFIG_INVALID: 'One or more configuration keys are missing or malformed',
  STORE_UNREACHABLE: 'The database could not be reached or opened',
  STORE_MIGRATION_FAILED: 'A schema migration failed and was rolled back',
  BUS_MESSAGE_INVALID: 'A bus message was malformed (missing id, topic or payload)',
  BUS_HANDLER_FAILED: 'A bus handler threw something that was not a SwitchyardError',
  BUS_ATTEMPTS_EXHAUSTED: 'A message failed on every allowed attempt and was dead-lettered',
  BUS_UNREACHABLE: 'The message broker (NATS) could not be reached or did not answer in time',
  BUS_NO_HANDLER: 'A message arrived for a type no handler knows',
  DEAD_LETTER_NOT_FOUND: 'No dead letter has that id',
  NOT_FOUND: 'The requested resource does not exist',
  UNAUTHENTICATED: 'No API key, or an unknown or revoked one (send Authorization: Bearer KEY)',
  FORBIDDEN: 'The API key is valid but its role does not grant the scope this route needs',
  VALIDATION_FAILED: 'A request or input did not match its schema',
  ESP_RATE_LIMITED: 'Provider asked us to slow down; retry after retryAfterMs',
  ESP_RECIPIENT_REJECTED: 'Provider refused the address permanently',
  ESP_MESSAGE_REJECTED: 'Provider refused the message itself permanently (content, size, sender)',
  ESP_UNAVAILABLE: 'Provider could not be reached or failed temporarily; retryable',
  ESP_AUTH_FAILED: 'Provider refused our credentials',
  WEBHOOK_SIGNATURE_INVALID: 'A webhook signature or credential did not verify',
  WEBHOOK_PAYLOAD_INVALID: 'A webhook body was malformed or had an unknown shape',
  WEBHOOK_PAYLOAD_TOO_LARGE: 'A webhook body exceeded the configured size limit',
  WEBHOOK_STALE: 'A webhook timestamp was outside the accepted tolerance',
  WEBHOOK_REPLAYED: 'A webhook signature already used with another body (same token or signed timestamp) was refused',
  TEMPLATE_INVALID: 'A template failed to parse or compile',
  TEMPLATE_RENDER_FAILED: 'A template failed while rendering one recipient',
  TEMPLATE_LIMIT_EXCEEDED: 'A template exceeded its render time, memory or size limit (permanent for that recipient)',
  CAMPAIGN_INVALID: 'A campaign definition failed validation',
  MESSAGE_INVALID: 'A transactional message request failed validation (every problem is listed)',
  MESSAGE_IDEMPOTENCY_CONFLICT: 'An idempotency key was reused with a different message',
  JOURNEY_INVALID: 'A journey definition failed validation (every problem is listed by path)',
  JOURNEY_STATE_CONFLICT: 'The journey or run cannot make that change from its current state',
  JOURNEY_WEBHOOK_FAILED: 'A journey webhook step got no 2xx answer; the run tries it again later',
  CAMPAIGN_STATE_CONFLICT: 'The campaign cannot make that transition from its current state',
  SEND_CLAIMS_UNSETTLED:
    'Recipients of a chunk are still held by another send claim; the chunk is retried until each is final (retryable)',
  WAREHOUSE_UNREACHABLE:
    'The warehouse or CSV file could not be reached, or the query failed transiently (retryable unless '
    + 'details say otherwise)',
  WAREHOUSE_ROW_INVALID: 'A warehouse row could not be mapped to a contact',
  WAREHOUSE_QUERY_FAILED:
    'The warehouse refused or aborted the audience query; details.sqlstate says why (the message never quotes data)',
  AUDIENCE_PATH_NOT_ALLOWED:
    'A CSV audience path is not a regular file inside the configured SWITCHYARD_CSV_DIRS (checked after symlinks)',
  AUDIENCE_SQL_INVALID: 'An audience query is not exactly one plain SELECT (or calls a refused function)',
  CRM_UNAVAILABLE: 'The CRM could not be reached or failed temporarily; retryable',
  CRM_AUTH_FAILED: 'The CRM refused our credentials (expired, revoked or missing token, or a missing scope)',
  TRACKING_SIGNATURE_INVALID: 'A tracking or unsubscribe link signature did not verify',
  TRACKING_PREVIEW_TOKEN: 'A tracking or unsubscribe link came from a preview; previews never track or unsubscribe',
  TRACKING_PAYLOAD_TOO_LARGE: 'A request body to a tracking or unsubscribe URL exceeded its size limit',
  INBOUND_MESSAGE_INVALID: 'An inbound email could not be parsed',
  INBOUND_MESSAGE_UNSTORABLE:
    'An inbound email could not be stored for a reason that would repeat; kept as a dead letter with its bytes',
  DELIVERABILITY_PAUSED:
    'Sending is paused for this campaign or sending domain by the deliverability governor (see details.reason)',
  REVIEW_ITEM_CONFLICT:
    'The review item cannot take that action in its current state (claimed by someone else, or already resolved)',
  RATE_LIMITED: 'Too many requests from this source address or API key; retry after the Retry-After header (seconds)',
  HOST_NOT_ALLOWED: 'The Host header is not one of the names the admin listener answers to (DNS rebinding defence)',
  ORIGIN_NOT_ALLOWED: 'The request came from a web page whose origin is not allowed to call the admin API',
  CONTENT_TYPE_NOT_ALLOWED: 'A state-changing admin request must be sent with Content-Type: application/json',
  CSRF_TOKEN_INVALID: 'A state-changing dashboard request (session cookie) lacked the X-CSRF-Token of its session',
  JSON_TOO_DEEP: 'A JSON body was nested deeper than the allowed depth',
  SEGMENT_INVALID: 'A segment definition failed validation; details.problems lists each problem with its path',
  LIST_NOT_FOUND: 'No list has that id (or it was deleted)',
  LIST_NOT_STATIC: 'Members can be added or removed by hand only on a static list; a dynamic list follows its segment',
  LIST_CYCLE: 'The list definition would make lists depend on each other in a cycle; details.cycle names it',
  LIST_REFERENCE_INVALID:
    'The list definition names a list that does not exist or was deleted, or is still read by others',
  CHANGE_SIGNATURE_INVALID:
    'A change sent to POST /v1/changes had no valid signature (HMAC-SHA256 over timestamp and body)',
  CHANGE_STALE: 'A change sent to POST /v1/changes was signed more than the allowed tolerance from now',
  CHANGE_INVALID: 'A change sent to POST /v1/changes was malformed; kept as a dead letter with the reason',

  LINK_INVALID: 'A signed compliance link (confirmation, identity check, download) is malformed, forged or expired',
  DSR_STATE_CONFLICT: 'The data-subject request or exception cannot take that action in its current state',
  BILLING_UNAVAILABLE: 'The billing system could not be reached, timed out, rate-limited or answered 5xx; retried',
  BILLING_AUTH_FAILED: 'The billing system refused our credentials',
  BILLING_ROW_INVALID: 'A billing table row cannot be revenue (a column missing or malformed); dead-lettered, skipped',
  COMPLIANCE_SINK_UNAVAILABLE: 'The external compliance system could not be reached or answered 5xx; retried',
  COMPLIANCE_SINK_REJECTED: 'The external compliance system refused the request (4xx)',
  PII_KEY_UNAVAILABLE:
    'A subject data key could not be wrapped or unwrapped (master key not configured, KMS down: see retryable)',
  PII_SHREDDED: 'The subject was erased: its data key is destroyed and its personal data can no longer be read',
  PII_TAMPERED: 'A sealed personal value failed authentication (altered, or moved to another subject)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface SwitchyardErrorOptions {
  retryable?: boolean;
  retryAfterMs?: number;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: SwitchyardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwitchyardError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
  }
}

/** True for a SwitchyardError from any copy of this module (decides by shape, not instanceof). */
export function isSwitchyardError(err: unknown): err is SwitchyardError {
  return (
    typeof err === 'object'
    && err !== null
    && (err as { name?: unknown }).name === 'SwitchyardError'
    && typeof (err as { code?: unknown }).code === 'string'
  );
}

/** Wraps anything thrown into an Error, keeping SwitchyardErrors as they are. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
}
