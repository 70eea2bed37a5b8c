/**
 * The CRM port's input rules, checked by every adapter before it spends a vendor request, so a
 * bad item is refused the same way (VALIDATION_FAILED naming the item) whichever CRM is wired.
 */
import { SwitchyardError } from '../../core/errors.ts';
import type { CrmTask, EngagementUpdate, OptOutItem } from './port.ts';

export function checkEngagement(u: EngagementUpdate): void {
  if (typeof u.contactId !== 'string' || u.contactId === '')
    throw new SwitchyardError('VALIDATION_FAILED', 'engagement update needs a contactId');
  if (!(u.score >= 0 && u.score <= 100))
    throw new SwitchyardError(
      'VALIDATION_FAILED',
      `engagement score for ${u.contactId} must be within 0…100, got ${u.score}`,
    );
  if (!(u.lastEngagedAt instanceof Date) || Number.isNaN(u.lastEngagedAt.getTime()))
    throw new SwitchyardError('VALIDATION_FAILED', `lastEngagedAt for ${u.contactId} is not a valid date`);
}

export function checkOptOut(item: OptOutItem): void {
  if (typeof item.email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(item.email.trim()))
    throw new SwitchyardError('VALIDATION_FAILED', `opt-out email is not an address: "${String(item.email)}"`);
  if (typeof item.reason !== 'string' || item.reason.trim() === '')
    throw new SwitchyardError('VALIDATION_FAILED', `opt-out for ${item.email} needs a reason`);
}

export function checkTask(task: CrmTask): void {
  for (const key of ['contactId', 'kind', 'title'] as const) {
    if (typeof task[key] !== 'string' || task[key].trim() === '')
      throw new SwitchyardError('VALIDATION_FAILED', `task ${key} must be a non-empty string`);
  }
}

/** Checks each update and keeps the newest per contact: one write per contact, never an older one. */
export function latestEngagementPerContact(updates: readonly EngagementUpdate[]): Map<string, EngagementUpdate> {
  const latest = new Map<string, EngagementUpdate>();
  for (const u of updates) {
    checkEngagement(u);
    const seen = latest.get(u.contactId);
    if (seen === undefined || seen.lastEngagedAt <= u.lastEngagedAt) latest.set(u.contactId, u);
  }
  return latest;
}
