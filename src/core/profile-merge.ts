/**
 * Merges one change into a contact profile's attributes, attribute by attribute, so that changes
 * can arrive late, twice or out of order and the profile still ends where the newest change of
 * each attribute put it. Each attribute remembers the source time (ms) and, when the source has
 * one, the version of the value held. Pure; the order in which a set of changes is applied never
 * changes the result (fast-check property in test/core/profile-merge.test.ts).
 */

/** The source time (ms since epoch) and optional source version of one attribute's value. */
export interface AttributeStamp {
  t: number;
  v?: number;
}

export interface ProfileAttributes {
  attributes: Record<string, unknown>;
  versions: Record<string, AttributeStamp>;
}

export interface AttributeChange {
  /** New values by attribute; null clears an attribute (it no longer `exists`). */
  attributes: Readonly<Record<string, unknown>>;
  /** When the source observed the values (ms since epoch). */
  at: number;
  /** The source's version (a counter), when it has one: it decides before the time does. */
  version?: number;
}

export interface MergeResult extends ProfileAttributes {
  /** Attributes whose value changed (not those whose stamp alone moved). */
  changed: string[];
}

/** >0 when `a` (with value `aText`) is newer than `b`; a tie on both stamps goes to the larger text. */
function compareStamps(a: AttributeStamp, aText: string, b: AttributeStamp, bText: string): number {
  if (a.v !== undefined && b.v !== undefined && a.v !== b.v) return a.v - b.v;
  if (a.t !== b.t) return a.t - b.t;
  return aText < bText ? -1 : aText > bText ? 1 : 0;
}

export function mergeAttributes(current: ProfileAttributes, change: AttributeChange): MergeResult {
  const attributes = { ...current.attributes };
  const versions = { ...current.versions };
  const changed: string[] = [];
  for (const [key, raw] of Object.entries(change.attributes)) {
    const value = raw === undefined ? null : raw;
    const stamp: AttributeStamp = change.version === undefined ? { t: change.at } : { t: change.at, v: change.version };
    const text = JSON.stringify(value);
    const held = Object.hasOwn(versions, key) ? versions[key] : undefined;
    const heldValue = Object.hasOwn(attributes, key) ? attributes[key] : null;
    const heldText = JSON.stringify(heldValue);
    if (held !== undefined && compareStamps(stamp, text, held, heldText) <= 0) continue;
    versions[key] = stamp;
    if (text !== heldText) {
      // null clears: the key goes, so a cleared attribute looks the same however it was reached
      if (value === null) delete attributes[key];
      else attributes[key] = value;
      changed.push(key);
    }
  }
  return { attributes, versions, changed };
}
