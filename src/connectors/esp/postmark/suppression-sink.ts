/**
 * A Postmark message stream's suppression list as a propagation sink: POST
 * /message-streams/{stream}/suppressions `{ "Suppressions": [{ "EmailAddress" }] }` with the
 * X-Postmark-Server-Token header, at most 50 addresses per request. Postmark answers 200 with one
 * entry per address, `Status` "Suppressed" or "Failed" (with a `Message`, e.g. an invalid
 * address): suppressed ones are confirmed, failed ones rejected for good. Suppressing an address
 * already suppressed answers "Suppressed" again, so a repeat is harmless. 429 honours Retry-After.
 */
import type { Clock } from '../../../clock/port.ts';
import type { SuppressResult, SuppressionSink } from '../../../compliance/sink-port.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import { callProvider, parseRetryAfter } from '../http-call.ts';
import { mapPostmarkHttpError } from './postmark-errors.ts';

export interface PostmarkSuppressionSinkOptions {
  serverToken: string;
  /** The message stream whose list is written (the one Switchyard sends through). */
  messageStream: string;
  /** Default https://api.postmarkapp.com. */
  baseUrl?: string;
  /** Sink name, the propagation system (default 'esp'). */
  name?: string;
  timeoutMs?: number;
}

const MAX_PER_REQUEST = 50;

export function createPostmarkSuppressionSink(
  deps: { clock: Clock; fetch?: typeof fetch },
  options: PostmarkSuppressionSinkOptions,
): SuppressionSink {
  const url =
    `${(options.baseUrl ?? 'https://api.postmarkapp.com').replace(/\/+$/, '')}`
    + `/message-streams/${encodeURIComponent(options.messageStream)}/suppressions`;
  const doFetch = deps.fetch ?? fetch;
  return {
    name: options.name ?? 'esp',
    async suppress(items) {
      const out: Required<Omit<SuppressResult, 'retryAfterMs'>> = { confirmed: [], rejected: [] };
      for (let i = 0; i < items.length; i += MAX_PER_REQUEST) {
        const emails = items.slice(i, i + MAX_PER_REQUEST).map((it) => it.email);
        const { res, text } = await callProvider(
          doFetch,
          'Postmark',
          url,
          {
            method: 'POST',
            headers: {
              Accept: 'application/json',
              'Content-Type': 'application/json',
              'X-Postmark-Server-Token': options.serverToken,
            },
            body: JSON.stringify({ Suppressions: emails.map((EmailAddress) => ({ EmailAddress })) }),
          },
          options.timeoutMs ?? 30_000,
        );
        if (!res.ok) {
          const error = mapPostmarkHttpError(
            res.status,
            text,
            parseRetryAfter(res.headers.get('retry-after'), deps.clock.now()),
          );
          if (out.confirmed.length + out.rejected.length > 0 && error.retryable)
            return { ...out, retryAfterMs: error.retryAfterMs };
          throw error;
        }
        const byEmail = statuses(text, res.status);
        for (const email of emails) {
          const s = byEmail.get(email.toLowerCase());
          if (s?.status === 'suppressed') out.confirmed.push(email);
          else if (s?.status === 'failed') out.rejected.push({ email, reason: s.message });
          // an address Postmark did not mention is neither: it is retried later
        }
      }
      return out;
    },
  };
}

function statuses(text: string, status: number): Map<string, { status: string; message: string }> {
  let body: { Suppressions?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch (err) {
    throw new SwitchyardError('ESP_UNAVAILABLE', `Postmark answered ${status} with a body that is not JSON`, {
      retryable: true,
      cause: err,
    });
  }
  const map = new Map<string, { status: string; message: string }>();
  if (!Array.isArray(body.Suppressions)) return map;
  for (const e of body.Suppressions as { EmailAddress?: unknown; Status?: unknown; Message?: unknown }[]) {
    if (typeof e.EmailAddress !== 'string' || typeof e.Status !== 'string') continue;
    map.set(e.EmailAddress.toLowerCase(), {
      status: e.Status.toLowerCase(),
      message: typeof e.Message === 'string' && e.Message !== '' ? e.Message : 'Postmark refused the address',
    });
  }
  return map;
}
