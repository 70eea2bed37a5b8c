/**
 * Postmark failures → SwitchyardErrors. Pure. Postmark answers request-level problems with an HTTP
 * status (401 bad token, 422 with an ErrorCode, 429, 5xx) and per-message problems inside a 200
 * batch response (`ErrorCode` ≠ 0 on that entry), so both paths come through here.
 * ErrorCodes (Postmark API docs): 10 bad/missing server token, 300 invalid email request,
 * 400/401 sender signature missing/unconfirmed, 405 account not allowed to send (credits, pause),
 * 406 inactive recipient (hard bounce, complaint, manual suppression), 409 JSON required,
 * 410 too many batch messages.
 */
import { SwitchyardError } from '../../../core/errors.ts';

export function mapPostmarkErrorCode(errorCode: number, message: string, status: number, to?: string): SwitchyardError {
  const details = { status, errorCode, vendorMessage: message };
  if (errorCode === 10)
    return new SwitchyardError('ESP_AUTH_FAILED', `Postmark refused the server token: ${message}`, { details });
  const isRecipient =
    errorCode === 406
    || (errorCode === 300
      && (/'to'|\bto\b.*address|recipient/i.test(message) || (to !== undefined && message.includes(to))));
  if (isRecipient) {
    return new SwitchyardError(
      'ESP_RECIPIENT_REJECTED',
      `Postmark refused the recipient (ErrorCode ${errorCode}): ${message}`,
      { details },
    );
  }
  return new SwitchyardError(
    'ESP_MESSAGE_REJECTED',
    `Postmark refused the message (ErrorCode ${errorCode}): ${message}`,
    {
      details: { ...details, accountLevel: errorCode === 405 || errorCode === 400 || errorCode === 401 },
    },
  );
}

/** A whole-request failure (non-2xx) → the error every message of that request gets. */
export function mapPostmarkHttpError(
  status: number,
  bodyText: string,
  retryAfterMs: number | undefined,
): SwitchyardError {
  let parsed: { ErrorCode?: unknown; Message?: unknown } = {};
  try {
    parsed = JSON.parse(bodyText) as typeof parsed;
  } catch {
    /* non-JSON error page: keep the text */
  }
  const code = typeof parsed.ErrorCode === 'number' ? parsed.ErrorCode : undefined;
  const message = typeof parsed.Message === 'string' ? parsed.Message : bodyText.slice(0, 300);
  if (status === 401 || status === 403) {
    return new SwitchyardError('ESP_AUTH_FAILED', `Postmark refused the server token (HTTP ${status}): ${message}`, {
      details: { status, errorCode: code },
    });
  }
  if (status === 429) {
    return new SwitchyardError('ESP_RATE_LIMITED', `Postmark rate limit (HTTP 429): ${message}`, {
      retryable: true,
      retryAfterMs,
      details: { status, errorCode: code },
    });
  }
  if (status >= 500 || status === 408) {
    return new SwitchyardError('ESP_UNAVAILABLE', `Postmark failed temporarily (HTTP ${status}): ${message}`, {
      retryable: true,
      retryAfterMs,
      details: { status, errorCode: code },
    });
  }
  return mapPostmarkErrorCode(code ?? -1, message, status);
}
