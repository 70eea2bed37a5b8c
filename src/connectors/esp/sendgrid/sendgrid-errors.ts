/**
 * SendGrid v3 mail-send failures → SwitchyardErrors. Pure. SendGrid answers
 * `{ "errors": [{ "message", "field", "help" }] }`: 400 bad request (a field names the
 * personalization, e.g. `personalizations.3.to.0.email`), 401 bad key, 403 forbidden (key scope, or
 * a from address that is not a verified sender), 413 payload too large, 429 rate limited
 * (Retry-After or X-RateLimit-Reset), 5xx temporary.
 */
import { parseRetryAfter } from '../http-call.ts';
import { SwitchyardError } from '../../../core/errors.ts';

export interface SendGridErrorItem {
  message: string;
  field: string | null;
}

export function parseSendGridErrors(bodyText: string): SendGridErrorItem[] {
  try {
    const body = JSON.parse(bodyText) as { errors?: unknown };
    if (!Array.isArray(body.errors)) return [];
    return body.errors.map((e: { message?: unknown; field?: unknown }) => ({
      message: typeof e.message === 'string' ? e.message : 'no message',
      field: typeof e.field === 'string' ? e.field : null,
    }));
  } catch {
    return [];
  }
}

/** Personalization indexes whose recipient address SendGrid refused (400 on `…to.N.email`). */
export function refusedPersonalizations(errors: readonly SendGridErrorItem[]): number[] | undefined {
  const out: number[] = [];
  for (const e of errors) {
    const m = /^personalizations\.(\d+)\.(to|cc|bcc)\b/.exec(e.field ?? '');
    if (m === null) return undefined; // some error is about something else: not a recipient problem only
    out.push(Number(m[1]));
  }
  return out.length === 0 ? undefined : [...new Set(out)];
}

export function mapSendGridError(
  status: number,
  errors: readonly SendGridErrorItem[],
  retryAfterMs: number | undefined,
): SwitchyardError {
  const text =
    errors.map((e) => (e.field === null ? e.message : `${e.field}: ${e.message}`)).join('; ') || `HTTP ${status}`;
  const details = { status, errors };
  if (status === 401)
    return new SwitchyardError('ESP_AUTH_FAILED', `SendGrid refused the API key: ${text}`, { details });
  if (status === 403) {
    if (/sender identity|from address/i.test(text)) {
      return new SwitchyardError('ESP_MESSAGE_REJECTED', `SendGrid refused the sender: ${text}`, {
        details: { ...details, accountLevel: true },
      });
    }
    return new SwitchyardError('ESP_AUTH_FAILED', `SendGrid refused the API key's access: ${text}`, { details });
  }
  if (status === 429)
    return new SwitchyardError('ESP_RATE_LIMITED', `SendGrid rate limit: ${text}`, {
      retryable: true,
      retryAfterMs,
      details,
    });
  if (status >= 500 || status === 408) {
    return new SwitchyardError('ESP_UNAVAILABLE', `SendGrid failed temporarily: ${text}`, {
      retryable: true,
      retryAfterMs,
      details,
    });
  }
  if (status === 400 && refusedPersonalizations(errors) !== undefined) {
    return new SwitchyardError('ESP_RECIPIENT_REJECTED', `SendGrid refused the recipient: ${text}`, { details });
  }
  return new SwitchyardError('ESP_MESSAGE_REJECTED', `SendGrid refused the request (HTTP ${status}): ${text}`, {
    details,
  });
}

/** Retry-After (seconds or HTTP date), else X-RateLimit-Reset (unix seconds), in ms from now. */
export function sendGridRetryAfterMs(headers: Headers, now: Date): number | undefined {
  const fromRetryAfter = parseRetryAfter(headers.get('retry-after'), now);
  if (fromRetryAfter !== undefined) return fromRetryAfter;
  const reset = Number(headers.get('x-ratelimit-reset') ?? NaN);
  return Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - now.getTime()) : undefined;
}
