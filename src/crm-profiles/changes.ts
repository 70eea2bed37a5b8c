/**
 * Keeps the profile cache current from the CRM's change feeds (HubSpot webhooks, Salesforce
 * polling) on `contact.changed`: the changed contact's profile is invalidated, so the next blast
 * that needs it fetches it again. The CRM names its own record id; it is resolved to Switchyard's
 * contact id through crm_profiles.crm_id. A change that matches no profile (a contact no blast
 * has read yet, or a record that is not one of ours) is recorded with the reason, not an error.
 */
import type { Delivery } from '../bus/port.ts';
import type { StageDefinition } from '../bus/stage.ts';
import { consumerOf, TOPICS } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import type { CrmContactChange } from '../connectors/crm/port.ts';
import type { Db } from '../store/port.ts';
import * as q from './queries.ts';

export interface ProfileChangeResult {
  invalidated: string[];
  unmatched?: string;
}

export async function applyProfileChange(
  deps: { db: Db; clock: Clock },
  change: CrmContactChange,
): Promise<ProfileChangeResult> {
  const { db, clock } = deps;
  const now = clock.now();
  const crmIds = [change.crmId, ...(change.mergedCrmIds ?? [])];
  const contactIds = new Set(await q.contactsOfCrmIds(db, change.source, crmIds));
  if (change.contactId !== undefined) contactIds.add(change.contactId);
  const invalidated = contactIds.size === 0 ? [] : await q.invalidateProfiles(db, [...contactIds], now);
  if (invalidated.length > 0) return { invalidated };
  const reason =
    change.contactId === undefined
      ? `no cached profile has ${change.source} record id ${crmIds.join(', ')}`
      : `contact ${change.contactId} has no cached profile`;
  await q.recordUnmatched(db, change, reason, now);
  return { invalidated, unmatched: reason };
}

export function profileChangesStage(deps: { db: Db; clock: Clock }): StageDefinition {
  return {
    name: 'crm-profiles',
    consumers: [
      consumerOf(
        { topic: TOPICS.contactChanged, group: 'crm-profiles', batchSize: 50, concurrency: 4 },
        async (m: Delivery<CrmContactChange>) => {
          await applyProfileChange(deps, m.payload);
        },
      ),
    ],
  };
}
