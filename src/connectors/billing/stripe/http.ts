/**
 * One Stripe REST call (Bearer secret key, form-encoded bodies, JSON answers), shared by the
 * customer (DSR) and list (backfill) adapters. Translates Stripe's failures at the edge:
 * network errors, 429 and 5xx are BILLING_UNAVAILABLE (retryable, with Retry-After as
 * retryAfterMs), 401/403 BILLING_AUTH_FAILED; other statuses are returned for the caller to judge.
 */
import { SwitchyardError } from '../../../core/errors.ts';

export interface StripeHttpOptions {
  /** sk_live_… / sk_test_… (never logged). */
  secretKey: string;
  /** https://api.stripe.com by default; a local server in tests. */
  baseUrl?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export type StripeCall = (
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  form?: URLSearchParams,
) => Promise<{ status: number; body: Record<string, unknown> }>;

export function createStripeCall(options: StripeHttpOptions): StripeCall {
  const base = (options.baseUrl ?? 'https://api.stripe.com').replace(/\/$/, '');
  const doFetch = options.fetch ?? fetch;
  return async (method, path, form) => {
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${options.secretKey}`,
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(form ? { body: form.toString() } : {}),
        signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
      });
    } catch (err) {
      throw new SwitchyardError('BILLING_UNAVAILABLE', 'Stripe could not be reached', { retryable: true, cause: err });
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      body = {};
    }
    if (res.ok) return { status: res.status, body };
    const error = (body.error ?? {}) as { type?: string; code?: string };
    const details = { status: res.status, type: error.type, code: error.code };
    if (res.status === 401 || res.status === 403)
      throw new SwitchyardError('BILLING_AUTH_FAILED', 'Stripe refused the secret key', { details });
    if (res.status === 429 || res.status >= 500) {
      const after = Number(res.headers.get('retry-after'));
      throw new SwitchyardError('BILLING_UNAVAILABLE', `Stripe answered ${res.status}`, {
        retryable: true,
        details,
        ...(Number.isFinite(after) && after > 0 ? { retryAfterMs: after * 1000 } : {}),
      });
    }
    return { status: res.status, body };
  };
}
