/**
 * Suppression sinks for the systems Switchyard connects to. The CRM sink records opt-outs through
 * the Crm port; the warehouse and compliance sinks are stand-ins that write tables of the
 * Switchyard store (suppression_export, compliance_suppression_log) until the customer's own
 * warehouse writer and compliance archive exist; the recording sink keeps items in memory (the
 * sandbox ESP's suppression list, tests). Every sink is idempotent, as the port requires.
 */
import type { Clock } from '../clock/port.ts';
import type { Crm } from '../connectors/crm/port.ts';
import type { Queryable } from '../store/port.ts';
import type { SuppressionItem, SuppressionSink } from './sink-port.ts';

/** Opt-outs in the CRM (crm.setOptOut), split to the CRM's maxBatchSize. */
export function createCrmSuppressionSink(crm: Crm, name = 'crm'): SuppressionSink {
  const size = Number.isFinite(crm.maxBatchSize) ? Math.max(1, crm.maxBatchSize) : 100;
  return {
    name,
    async suppress(items) {
      const confirmed: string[] = [];
      for (let i = 0; i < items.length; i += size) {
        const chunk = items.slice(i, i + size);
        const result = await crm.setOptOut(
          chunk.map((it) => ({
            email: it.email,
            optedOut: true,
            reason: it.reason,
            ...(it.contactId === undefined ? {} : { contactId: it.contactId }),
          })),
        );
        confirmed.push(...result.confirmed);
      }
      return { confirmed };
    },
  };
}

const EXPORT = `
  insert into suppression_export (email, reason, contact_id, exported_at)
  select x.email, x.reason, x.contact_id, $2
  from jsonb_to_recordset($1::jsonb) as x(email text, reason text, contact_id text)
  on conflict (email) do nothing`;

/**
 * The warehouse stand-in: one row per address in `suppression_export` of the Switchyard store
 * (the table a customer's warehouse job would read). The first reason recorded stays.
 */
export function createWarehouseTableSink(deps: { db: Queryable; clock: Clock }, name = 'warehouse'): SuppressionSink {
  return {
    name,
    async suppress(items) {
      if (items.length === 0) return { confirmed: [] };
      await deps.db.query(EXPORT, [JSON.stringify(toRows(items)), deps.clock.now()]);
      return { confirmed: items.map((i) => i.email) };
    },
  };
}

const LOG = `
  insert into compliance_suppression_log (email, reason, contact_id, logged_at)
  select x.email, x.reason, x.contact_id, $2
  from jsonb_to_recordset($1::jsonb) as x(email text, reason text, contact_id text)`;

/**
 * The compliance archive stand-in: appends each item to `compliance_suppression_log`. It is an
 * audit trail, so a retry after a lost answer may append a second line for the same address;
 * it never loses one.
 */
export function createComplianceLogSink(deps: { db: Queryable; clock: Clock }, name = 'compliance'): SuppressionSink {
  return {
    name,
    async suppress(items) {
      if (items.length === 0) return { confirmed: [] };
      await deps.db.query(LOG, [JSON.stringify(toRows(items)), deps.clock.now()]);
      return { confirmed: items.map((i) => i.email) };
    },
  };
}

export interface RecordingSuppressionSink extends SuppressionSink {
  /** Every item received, in order (repeats included). */
  readonly received: SuppressionItem[];
}

/** A sink that records in memory and confirms everything: the sandbox ESP's suppression list. */
export function createRecordingSuppressionSink(name = 'esp'): RecordingSuppressionSink {
  const received: SuppressionItem[] = [];
  return {
    name,
    received,
    async suppress(items) {
      received.push(...items.map((i) => ({ ...i })));
      return { confirmed: items.map((i) => i.email) };
    },
  };
}

function toRows(items: readonly SuppressionItem[]): { email: string; reason: string; contact_id: string | null }[] {
  return items.map((i) => ({ email: i.email, reason: i.reason, contact_id: i.contactId ?? null }));
}
