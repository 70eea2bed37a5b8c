/**
 * What the journey engine knows about a contact when a run moves: the address to mail, the time
 * zone for local-time waits, and the profile snapshot branch conditions and goals are evaluated
 * against. A port, so the engine does not depend on where profiles live; the store-backed source
 * here reads Switchyard's contact profiles (kept by src/profiles/) over what the run was given at
 * entry, and the last address the send ledger holds for a contact known by neither.
 */
import { MAX_CAMPAIGN_LOOKBACK, type ProfileSnapshot } from '../core/segments/types.ts';
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
 * The store-backed source: the contact's stored profile (src/profiles/: attributes as the sources
 * sent them, click tags, recent campaigns, list memberships) over the attributes the run was
 * entered with; for a contact with no address anywhere (a click, a list entry), the last one the
 * send ledger holds.
 */
export function createStoreContacts(db: Queryable): JourneyContacts {
  return {
    async load(given) {
      const ids = [...given.keys()];
      const stored = await q.storedProfiles(db, ids, MAX_CAMPAIGN_LOOKBACK);
      const missing = ids.filter((id) => !(given.get(id)!.email || stored.get(id)?.email));
      const emails = await q.ledgerEmails(db, missing);
      const out = new Map<string, JourneyContact>();
      for (const [id, c] of given) {
        const s = stored.get(id);
        const attributes = { ...(c.attributes ?? {}), ...(s?.attributes ?? {}) };
        out.set(id, {
          email: s?.email || c.email || emails.get(id) || null,
          timezone: timezoneOf(attributes, c.timezone),
          profile:
            s === undefined
              ? snapshotOf(id, attributes)
              : { contactId: id, attributes, lastClickByTag: s.lastClickByTag, campaigns: s.campaigns, lists: s.lists },
        });
      }
      return out;
    },
  };
}
