/**
 * Stripe customers for data-subject requests, over Stripe's REST API (form-encoded bodies,
 * Bearer secret key): list by email, whether invoices exist, delete, and restrict (clear the
 * personal fields Stripe lets us clear). Stripe keeps issued invoices whatever we do, and tax law
 * requires them to be kept, so a customer with invoices is restricted, never deleted.
 */
import { SwitchyardError } from '../../../core/errors.ts';
import type { BillingCustomers } from '../port.ts';
import { createStripeCall, type StripeHttpOptions } from './http.ts';

export type StripeCustomersOptions = StripeHttpOptions;

export function createStripeCustomers(options: StripeCustomersOptions): BillingCustomers {
  const call = createStripeCall(options);

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
