/**
 * What the journey engine knows about a contact when a run moves: the address to mail, the time
 * zone for local-time waits, and the profile snapshot branch conditions and goals are evaluated
 * against. A port, so the engine does not depend on where profiles live; the store-backed source
 * here reads Switchyard's contact profiles when the lists service keeps them, and otherwise falls
 * back to what the run was given at entry (and the last address the send ledger holds).
 */
import type { ProfileSnapshot } from '../core/segments/types.ts';
import type { Queryable } from '../store/port.ts';
import type { EntryInput } from './queries.ts';
import * as q from './queries.ts';

export interface JourneyContact {
  email: string | null;
  timezone: string | undefined;
  profile: ProfileSnapshot;
}

export interface JourneyContacts {
  /**
   * The current view of these contacts, one set-wise read. `given` is what each run was entered
   * with; a source that knows more (a stored profile) overrides it attribute by attribute.
   * Never throws for an unknown contact: it gets the given data, or an empty profile.
   */
  load(given: ReadonlyMap<string, EntryInput['contact']>): Promise<Map<string, JourneyContact>>;
}

export function snapshotOf(contactId: string, attributes: Record<string, unknown>): ProfileSnapshot {
  return { contactId, attributes, lastClickByTag: new Map(), campaigns: [], lists: new Set() };
}

function timezoneOf(attributes: Record<string, unknown>, given: string | undefined): string | undefined {
  const tz = attributes.timezone ?? attributes.time_zone ?? given;
  return typeof tz === 'string' && tz !== '' ? tz : undefined;
}

/**
 * The store-backed source: the attributes a run was entered with, and for contacts entered
 * without an address (a click, a list entry) the last one the send ledger holds.
 */
export function createStoreContacts(db: Queryable): JourneyContacts {
  return {
    async load(given) {
      const missing = [...given].filter(([, c]) => c.email === null || c.email === '').map(([id]) => id);
      const emails = await q.ledgerEmails(db, missing);
      const out = new Map<string, JourneyContact>();
      for (const [id, c] of given) {
        const attributes = c.attributes ?? {};
        out.set(id, {
          email: c.email || emails.get(id) || null,
          timezone: timezoneOf(attributes, c.timezone),
          profile: snapshotOf(id, attributes),
        });
      }
      return out;
    },
  };
}
