/**
 * No CRM: what the stages talk to when none is configured (SWITCHYARD_DEMO=false and no vendor
 * adapter). It knows no contact, so enrichment passes recipients through unenriched and engagement
 * updates touch nothing; writes it cannot keep (opt-outs, tasks, field updates) are refused permanently, so a
 * reply's follow-up goes to the review queue and a reviewer's "create task" is a 400.
 */
import { SwitchyardError } from '../../../core/errors.ts';
import type { Crm } from '../port.ts';

export function createNoCrm(): Crm {
  const refuse = (what: string): never => {
    throw new SwitchyardError('VALIDATION_FAILED', `no CRM is configured (SWITCHYARD_DEMO is false): cannot ${what}`);
  };
  return {
    name: 'none',
    maxBatchSize: Number.POSITIVE_INFINITY,
    rateLimit: { requests: Number.POSITIVE_INFINITY, perMs: 1000 },
    lookup: async () => new Map(),
    updateEngagement: async () => ({ updated: 0 }),
    setOptOut: async () => refuse('record opt-outs'),
    createTask: async () => refuse('create a task'),
    updateFields: async () => refuse('update CRM fields'),
    // no CRM holds nobody: every address is simply not there
    eraseContacts: async (emails) => ({ erased: [], notFound: emails.map((e) => e.trim().toLowerCase()) }),
    readClosedWonDeals: async () => ({ deals: [], more: false }),
    readChangedDeals: async () => ({ changes: [], more: false }),
  };
}
