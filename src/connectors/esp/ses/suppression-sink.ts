/**
 * The SES account-level suppression list as a propagation sink: SES API v2
 * PutSuppressedDestination, PUT /v2/email/suppression/addresses `{ "EmailAddress", "Reason" }`,
 * one address per request, signed with AWS Signature V4 (`aws4`, time from the injected clock).
 * SES knows two reasons: hard bounces go in as BOUNCE, everything else as COMPLAINT (both stop
 * every send to the address, which is what an unsubscribe needs). SES answers 200 with an empty
 * body and overwrites an existing entry, so a repeat is harmless. A 400 naming the address
 * (invalid) rejects that address for good; on 429 (TooManyRequestsException) the call stops and
 * the remaining addresses wait for Retry-After or the loop's backoff.
 */
import type { Clock } from '../../../clock/port.ts';
import type { SuppressResult, SuppressionSink } from '../../../compliance/sink-port.ts';
import { parseRetryAfter } from '../http-call.ts';
import { mapSesError, sesErrorType } from './ses-errors.ts';
import { type SesEndpoint, sesCall } from './signed-call.ts';

export interface SesSuppressionSinkOptions {
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Default https://email.<region>.amazonaws.com. */
  baseUrl?: string;
  /** Sink name, the propagation system (default 'esp'). */
  name?: string;
  timeoutMs?: number;
}

/** SES's two suppression reasons. */
export function sesReasonFor(reason: string): 'BOUNCE' | 'COMPLAINT' {
  return reason === 'bounced_hard' ? 'BOUNCE' : 'COMPLAINT';
}

export function createSesSuppressionSink(
  deps: { clock: Clock; fetch?: typeof fetch },
  options: SesSuppressionSinkOptions,
): SuppressionSink {
  const endpoint: SesEndpoint = {
    base: new URL(options.baseUrl ?? `https://email.${options.region}.amazonaws.com`),
    region: options.region,
    credentials: options.credentials,
    fetch: deps.fetch ?? fetch,
  };

  /** One PutSuppressedDestination: null when recorded, else the error. */
  async function put(email: string, reason: string) {
    const body = JSON.stringify({ EmailAddress: email, Reason: sesReasonFor(reason) });
    const { res, text } = await sesCall(endpoint, {
      method: 'PUT',
      path: '/v2/email/suppression/addresses',
      body,
      now: deps.clock.now(),
      timeoutMs: options.timeoutMs ?? 30_000,
    });
    if (res.ok) return null;
    let parsed: { message?: unknown; Message?: unknown; __type?: unknown; code?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      /* error pages may be XML or empty */
    }
    const message =
      typeof parsed.message === 'string'
        ? parsed.message
        : typeof parsed.Message === 'string'
          ? parsed.Message
          : text.slice(0, 300);
    const type = sesErrorType(res.headers.get('x-amzn-errortype'), parsed);
    return {
      type,
      message,
      error: mapSesError(
        res.status,
        type,
        message,
        email,
        parseRetryAfter(res.headers.get('retry-after'), deps.clock.now()),
      ),
    };
  }

  return {
    name: options.name ?? 'esp',
    async suppress(items) {
      const out: SuppressResult & { rejected: { email: string; reason: string }[] } = { confirmed: [], rejected: [] };
      for (const it of items) {
        const failure = await put(it.email, it.reason);
        if (failure === null) {
          out.confirmed.push(it.email);
        } else if (failure.type === 'BadRequestException') {
          // the request was well formed but for this address: SES will never take it
          out.rejected.push({ email: it.email, reason: `${failure.type}: ${failure.message}` });
        } else if (failure.error.retryable && out.confirmed.length + out.rejected.length > 0) {
          return { ...out, retryAfterMs: failure.error.retryAfterMs };
        } else {
          throw failure.error;
        }
      }
      return out;
    },
  };
}
