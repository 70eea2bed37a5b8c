/**
 * The DSR systems over the connector ports: CRM (eraseContacts / lookup / setOptOut), ESP (its
 * suppression API through the existing suppression sink; SMTP has none: not applicable),
 * billing (delete, or restrict when invoices must be kept), warehouse (configured statements),
 * and the external compliance system (signed webhook). Each translates a request type into the
 * port's calls and its answer into a step outcome; errors pass through for the runner to retry.
 */
import type { ComplianceSystem } from '../../connectors/compliance/port.ts';
import type { BillingCustomers } from '../../connectors/billing/port.ts';
import type { Crm } from '../../connectors/crm/port.ts';
import type { WarehouseEraser } from '../../connectors/warehouse/port.ts';
import { SwitchyardError } from '../../core/errors.ts';
import type { SuppressionSink } from '../sink-port.ts';
import type { DsrSystem } from './port.ts';

/** Tax and accounting law keep invoices for years (e.g. HGB §257: 10 y; IRS: 7 y); stated on the step. */
export const INVOICE_RETENTION_REASON =
  'issued invoices must be kept by law (tax and accounting retention); customer restricted, personal fields cleared';

export function crmSystem(crm: Crm): DsrSystem {
  return {
    name: 'crm',
    async handle(type, subject) {
      switch (type) {
        case 'erasure': {
          const res = await crm.eraseContacts(subject.emails);
          if (res.failed && res.failed.length > 0)
            throw new SwitchyardError('CRM_UNAVAILABLE', `CRM refused erasure: ${res.failed[0]!.message}`, {
              retryable: true,
            });
          return res.erased.length > 0
            ? {
                kind: 'confirmed',
                evidence: { crm: crm.name, erased: res.erased.length, notFound: res.notFound.length },
              }
            : { kind: 'nothing_found', evidence: { crm: crm.name, notFound: res.notFound.length } };
        }
        case 'access':
        case 'portability': {
          const found = subject.contactIds.length > 0 ? await crm.lookup(subject.contactIds) : new Map();
          return found.size > 0
            ? { kind: 'exported', data: [...found.values()], evidence: { crm: crm.name, records: found.size } }
            : { kind: 'nothing_found', evidence: { crm: crm.name } };
        }
        case 'opt_out_of_sale': {
          const res = await crm.setOptOut(
            subject.emails.map((email) => ({ email, optedOut: true, reason: 'DSR opt-out of sale/sharing' })),
          );
          return { kind: 'confirmed', evidence: { crm: crm.name, confirmed: res.confirmed.length } };
        }
        case 'rectification':
          return { kind: 'not_applicable', reason: 'the CRM is the record owner: corrections are made there' };
      }
    },
  };
}

/**
 * The ESP: its own suppression/deletion API through the ESP's suppression sink, so the provider
 * itself refuses the address from now on. SMTP relays keep no recipient data: not applicable.
 */
export function espSystem(espName: string, sink: SuppressionSink | undefined): DsrSystem {
  return {
    name: 'esp',
    async handle(type, subject) {
      if (sink === undefined)
        return { kind: 'not_applicable', reason: `${espName} keeps no recipient list and has no deletion API` };
      if (type === 'access' || type === 'portability')
        return { kind: 'not_applicable', reason: `${espName}: sends and events are in Switchyard's own store` };
      if (type === 'rectification') return { kind: 'not_applicable', reason: `${espName} stores addresses only` };
      const res = await sink.suppress(
        subject.emails.map((email) => ({ email, reason: type === 'erasure' ? 'erased' : 'opt_out' })),
      );
      const missing = subject.emails.filter((e) => !res.confirmed.includes(e));
      if (missing.length > 0)
        throw new SwitchyardError('ESP_UNAVAILABLE', `${espName} did not confirm the suppression`, {
          retryable: true,
          ...(res.retryAfterMs ? { retryAfterMs: res.retryAfterMs } : {}),
        });
      // a suppression at the ESP says nothing about whether it held data: `held: false`
      return { kind: 'confirmed', evidence: { esp: espName, suppressed: res.confirmed.length, held: false } };
    },
  };
}

export function billingSystem(billing: BillingCustomers): DsrSystem {
  return {
    name: 'billing',
    async handle(type, subject) {
      if (type === 'opt_out_of_sale' || type === 'rectification')
        return {
          kind: 'not_applicable',
          reason: `${billing.name} holds billing records only; nothing is sold or shared`,
        };
      const customers = (await Promise.all(subject.emails.map((e) => billing.findByEmail(e)))).flat();
      if (customers.length === 0) return { kind: 'nothing_found', evidence: { billing: billing.name } };
      if (type === 'access' || type === 'portability') {
        const data = await Promise.all(customers.map((c) => billing.exportCustomer(c.id)));
        return { kind: 'exported', data, evidence: { billing: billing.name, customers: customers.length } };
      }
      const deleted: string[] = [];
      const restricted: string[] = [];
      for (const c of customers) {
        if (c.hasInvoices) {
          await billing.restrictCustomer(c.id, INVOICE_RETENTION_REASON);
          restricted.push(c.id);
        } else {
          await billing.deleteCustomer(c.id);
          deleted.push(c.id);
        }
      }
      return restricted.length > 0
        ? {
            kind: 'restricted',
            reason: INVOICE_RETENTION_REASON,
            evidence: { billing: billing.name, deleted, restricted },
          }
        : { kind: 'confirmed', evidence: { billing: billing.name, deleted } };
    },
  };
}

export function warehouseSystem(eraser: WarehouseEraser): DsrSystem {
  return {
    name: 'warehouse',
    async handle(type, subject) {
      if (type !== 'erasure')
        return {
          kind: 'not_applicable',
          reason: 'the warehouse is erased by configured statements only; exports come from its owner',
        };
      const counts = await eraser.erase(subject.emails, subject.contactIds);
      const rows = counts.reduce((a, b) => a + b, 0);
      return rows > 0
        ? { kind: 'confirmed', evidence: { warehouse: eraser.name, rowsPerStatement: counts } }
        : { kind: 'nothing_found', evidence: { warehouse: eraser.name, rowsPerStatement: counts } };
    },
  };
}

export function complianceSystem(sink: ComplianceSystem): DsrSystem {
  return {
    name: 'compliance',
    async handle(type, subject, requestId) {
      const res = await sink.submit({ requestId, type, emails: subject.emails, subjectHash: subject.subjectHash });
      const evidence = { system: sink.name, reference: res.reference };
      return res.status === 'nothing_found' ? { kind: 'nothing_found', evidence } : { kind: 'confirmed', evidence };
    },
  };
}
