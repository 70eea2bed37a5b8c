/**
 * Amazon SES v2 failures → SwitchyardErrors. Pure. SES answers an HTTP status plus an error type in
 * the `x-amzn-ErrorType` header (`Type:namespace…`) or the body's `__type`/`code`, and a `message`.
 * Credentials/signature types → ESP_AUTH_FAILED; throttling and sending-rate/quota limits →
 * ESP_RATE_LIMITED; MessageRejected naming our recipient (or an illegal recipient address) →
 * ESP_RECIPIENT_REJECTED; other MessageRejected, unverified MAIL FROM, paused or suspended sending,
 * a missing configuration set → ESP_MESSAGE_REJECTED (accountLevel when a human must act);
 * 5xx → ESP_UNAVAILABLE.
 */
import { SwitchyardError } from '../../../core/errors.ts';

const AUTH_TYPES = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'AccessDeniedException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
]);
const THROTTLE_TYPES = new Set(['TooManyRequestsException', 'ThrottlingException', 'Throttling']);
const ACCOUNT_TYPES = new Set([
  'AccountSuspendedException',
  'SendingPausedException',
  'AccountSendingPausedException',
  'ConfigurationSetSendingPausedException',
  'MailFromDomainNotVerifiedException',
  'NotFoundException',
]);

export function sesErrorType(
  headerValue: string | null,
  body: { __type?: unknown; code?: unknown; Code?: unknown },
): string {
  const raw =
    headerValue ?? ([body.__type, body.code, body.Code].find((v) => typeof v === 'string') as string | undefined) ?? '';
  const type = raw.split(':')[0] ?? '';
  return type.includes('#') ? type.slice(type.lastIndexOf('#') + 1) : type;
}

export function mapSesError(
  status: number,
  type: string,
  message: string,
  to: string,
  retryAfterMs?: number,
): SwitchyardError {
  const details = { status, type, vendorMessage: message };
  const text = `${type || `HTTP ${status}`}: ${message}`;
  if (AUTH_TYPES.has(type) || status === 401 || (status === 403 && type === '')) {
    return new SwitchyardError('ESP_AUTH_FAILED', `SES refused our credentials (${text})`, { details });
  }
  if (
    THROTTLE_TYPES.has(type)
    || status === 429
    || (type === 'LimitExceededException' && /rate|quota/i.test(message))
  ) {
    return new SwitchyardError('ESP_RATE_LIMITED', `SES throttled the send (${text})`, {
      retryable: true,
      retryAfterMs,
      details,
    });
  }
  if (status >= 500 || type === 'InternalFailure' || type === 'ServiceUnavailable') {
    return new SwitchyardError('ESP_UNAVAILABLE', `SES failed temporarily (${text})`, {
      retryable: true,
      retryAfterMs,
      details,
    });
  }
  if (ACCOUNT_TYPES.has(type)) {
    return new SwitchyardError('ESP_MESSAGE_REJECTED', `SES refused to send for the account (${text})`, {
      details: { ...details, accountLevel: true },
    });
  }
  const namesRecipient = message.toLowerCase().includes(to.toLowerCase());
  if (
    (type === 'MessageRejected' && namesRecipient)
    || (type === 'BadRequestException' && /illegal address|invalid.*address/i.test(message) && namesRecipient)
  ) {
    return new SwitchyardError('ESP_RECIPIENT_REJECTED', `SES refused the recipient (${text})`, { details });
  }
  return new SwitchyardError('ESP_MESSAGE_REJECTED', `SES refused the message (${text})`, { details });
}
