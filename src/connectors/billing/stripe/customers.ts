/**
 * Stripe customers for data-subject requests, over Stripe's REST API (form-encoded bodies,
 * Bearer secret key): list by email, whether invoices exist, delete, and restrict (clear the
 * personal fields Stripe lets us clear). Stripe keeps issued invoices whatever we do, and tax law
 * requires them to be kept, so a customer with invoices is restricted, never deleted.
 */
import { SwitchyardError } from '../../../core/errors.ts';
import type { BillingCustomers } from '../port.ts';

export interface StripeCustomersOptions {
  /** sk_live_… / sk_test_… (never logged). */
  secretKey: string;
  /** https://api.stripe.com by default; a local server in tests. */
  baseUrl?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export function createStripeCustomers(options: StripeCustomersOptions): BillingCustomers {
  const base = (options.baseUrl ?? 'https://api.stripe.com').replace(/\/$/, '');
  const doFetch = options.fetch ?? fetch;

  async function call(method: 'GET' | 'POST' | 'DELETE', path: string, form?: URLSearchParams) {
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
  }

  return {
    name: 'stripe',
    async findByEmail(email) {
      const { body } = await call('GET', `/v1/customers?${new URLSearchParams({ email, limit: '100' })}`);
      const customers = ((body.data ?? []) as { id: string }[]).filter((c) => typeof c.id === 'string');
      const out: { id: string; hasInvoices: boolean }[] = [];
      for (const c of customers) {
        const inv = await call('GET', `/v1/invoices?${new URLSearchParams({ customer: c.id, limit: '1' })}`);
        out.push({ id: c.id, hasInvoices: ((inv.body.data ?? []) as unknown[]).length > 0 });
      }
      return out;
    },
    async deleteCustomer(id) {
      const { status } = await call('DELETE', `/v1/customers/${encodeURIComponent(id)}`);
      // 404 resource_missing: deleted before (a retry after a lost answer)
      if (status !== 200 && status !== 404)
        throw new SwitchyardError('BILLING_UNAVAILABLE', `Stripe refused the delete (${status})`, {
          details: { status },
        });
    },
    async restrictCustomer(id, reason) {
      const form = new URLSearchParams({
        name: '',
        phone: '',
        description: '',
        address: '',
        shipping: '',
        'metadata[switchyard_restricted]': 'true',
        'metadata[switchyard_restriction_reason]': reason.slice(0, 500),
      });
      const { status } = await call('POST', `/v1/customers/${encodeURIComponent(id)}`, form);
      if (status !== 200)
        throw new SwitchyardError('BILLING_UNAVAILABLE', `Stripe refused the update (${status})`, {
          details: { status },
        });
    },
    async exportCustomer(id) {
      const { body } = await call('GET', `/v1/customers/${encodeURIComponent(id)}`);
      return body;
    },
  };
}
