/**
 * The CRM port's input rules, checked by every adapter before it spends a vendor request, so a
 * bad item is refused the same way (VALIDATION_FAILED naming the item) whichever CRM is wired.
 */
import { SwitchyardError } from '../../core/errors.ts';
import type { CrmFieldUpdate, CrmTask, EngagementUpdate, OptOutItem } from './port.ts';

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

/** A field update names a contact and at least one field; names as journey definitions allow them. */
export function checkFields(u: CrmFieldUpdate): void {
  if (typeof u.contactId !== 'string' || u.contactId === '')
    throw new SwitchyardError('VALIDATION_FAILED', 'field update needs a contactId');
  const names = Object.keys(u.fields ?? {});
  if (names.length === 0)
    throw new SwitchyardError('VALIDATION_FAILED', `field update for ${u.contactId} sets no field`);
  for (const name of names)
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name))
      throw new SwitchyardError('VALIDATION_FAILED', `field update for ${u.contactId}: bad field name ${name}`);
}
