/**
 * Mailgun send failures → SwitchyardErrors. Pure. Mailgun answers `{ "message": "…" }` (401 is a
 * bare "Forbidden"): 400 bad parameters (an invalid `to` address is a recipient problem, anything
 * else a message problem), 401 bad API key, 402/403 the domain or account may not send, 404 unknown
 * domain, 413 too large, 429 rate limited (Retry-After), 5xx temporary.
 */
import { SwitchyardError } from '../../../core/errors.ts';

export function mailgunMessage(bodyText: string): string {
  try {
    const body = JSON.parse(bodyText) as { message?: unknown };
    if (typeof body.message === 'string') return body.message;
  } catch {
    /* plain-text answers such as "Forbidden" */
  }
  return bodyText.slice(0, 300);
}

export function isMailgunRecipientError(status: number, message: string): boolean {
  return (
    status === 400 && /'to' parameter is not a valid address|invalid (recipient|to)|recipient address/i.test(message)
  );
}

export function mapMailgunError(status: number, bodyText: string, retryAfterMs: number | undefined): SwitchyardError {
  const message = mailgunMessage(bodyText);
  const details = { status, vendorMessage: message };
  if (status === 401)
    return new SwitchyardError('ESP_AUTH_FAILED', `Mailgun refused the API key: ${message}`, { details });
  if (status === 429)
    return new SwitchyardError('ESP_RATE_LIMITED', `Mailgun rate limit: ${message}`, {
      retryable: true,
      retryAfterMs,
      details,
    });
  if (status >= 500 || status === 408) {
    return new SwitchyardError('ESP_UNAVAILABLE', `Mailgun failed temporarily (HTTP ${status}): ${message}`, {
      retryable: true,
      retryAfterMs,
      details,
    });
  }
  if (isMailgunRecipientError(status, message)) {
    return new SwitchyardError('ESP_RECIPIENT_REJECTED', `Mailgun refused the recipient: ${message}`, { details });
  }
  return new SwitchyardError('ESP_MESSAGE_REJECTED', `Mailgun refused the request (HTTP ${status}): ${message}`, {
    details: { ...details, accountLevel: status === 402 || status === 403 || status === 404 },
  });
}
