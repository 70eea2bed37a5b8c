/**
 * The contact profile service: applies changes from every feed (the signed change endpoint, the
 * warehouse poller, the CRM's contact.changed, our own reaction events) to Switchyard's profile of
 * each contact, then re-evaluates the lists those changes touch, in the same transaction, so a
 * profile and the memberships derived from it never disagree. Changes arriving together share one
 * transaction (group commit). Out-of-order and repeated changes are absorbed attribute by
 * attribute (core/profile-merge.ts); a change for an unknown contact creates its profile.
 */
import type { Logger } from 'pino';
import type { Outboxed } from '../bus/outbox.ts';
import type { Bus } from '../bus/port.ts';
import { publishSliced } from '../lists/publish.ts';
import type { ListTransitionCause } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import { mergeAttributes } from '../core/profile-merge.ts';
import type { TouchedInputs } from '../lists/catalog.ts';
import type { ListService } from '../lists/service.ts';
import { createGroupCommit } from '../reactions/group-commit.ts';
import type { Db } from '../store/port.ts';
import * as q from './queries.ts';
import { type LockedProfile, lockSnapshots } from './snapshots.ts';

/** One change to one contact's profile, from any source. */
export interface ProfileChange {
  /** Unique per change within its source (the history names it as the cause). */
  changeId: string;
  /** Where it came from: `intake`, `warehouse:<feed>`, `crm:hubspot`, … */
  source: string;
  /** Switchyard's contact id; else resolved from the identity keys (or made from them). */
  contactId?: string;
  email?: string;
  crmId?: string;
  warehouseId?: string;
  /** Attribute values as the source sent them; null clears one. Unknown fields are kept. */
  attributes: Record<string, unknown>;
  /** When the source observed these values (ISO 8601 or ms). */
  at: string | number;
  /** The source's version counter, when it has one. */
  version?: number;
  /** The source deleted the contact: every attribute is cleared (as of `at`). */
  deleted?: boolean;
}

export interface ApplyResult {
  /** Contact id each change was applied to, in order. */
  contactIds: string[];
  /** Contacts whose attributes changed (repeats and stale changes change nothing). */
  changedContacts: number;
  entered: number;
  exited: number;
}

export interface ProfileService {
  /** Applies a batch of changes in one transaction and publishes the list events after the commit. */
  applyChanges(changes: readonly ProfileChange[]): Promise<ApplyResult>;
  /** Like applyChanges, but joins concurrent callers into shared transactions (endpoints, feeds). */
  submit(changes: readonly ProfileChange[]): Promise<ApplyResult>;
  get(contactId: string): Promise<Awaited<ReturnType<typeof q.readProfile>>>;
}

export interface ProfileServiceDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
  lists: ListService;
}

function stampOf(at: string | number): number {
  const ms = typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(ms)) throw new SwitchyardError('CHANGE_INVALID', 'a change has no valid time (at)');
  return ms;
}

function madeUpId(c: ProfileChange): string {
  if (c.warehouseId !== undefined) return c.warehouseId;
  if (c.crmId !== undefined) return `crm:${c.crmId}`;
  if (c.email !== undefined) return `email:${c.email.toLowerCase()}`;
  throw new SwitchyardError('CHANGE_INVALID', 'a change names no contact (contactId, warehouseId, crmId or email)');
}

export function createProfileService(deps: ProfileServiceDeps): ProfileService {
  const { db, clock, lists } = deps;

  async function resolve(changes: readonly ProfileChange[]): Promise<string[]> {
    const open = changes.filter((c) => c.contactId === undefined);
    const known = await q.resolveIdentities(db, {
      crmIds: open.flatMap((c) => (c.crmId === undefined ? [] : [c.crmId])),
      warehouseIds: open.flatMap((c) => (c.warehouseId === undefined ? [] : [c.warehouseId])),
      emails: open.flatMap((c) => (c.email === undefined ? [] : [c.email.toLowerCase()])),
    });
    const byWarehouse = new Map(known.filter((k) => k.warehouseId).map((k) => [k.warehouseId, k.contactId]));
    const byCrm = new Map(known.filter((k) => k.crmId).map((k) => [k.crmId, k.contactId]));
    const byEmail = new Map(known.filter((k) => k.email).map((k) => [k.email, k.contactId]));
    return changes.map(
      (c) =>
        c.contactId
        ?? (c.warehouseId === undefined ? undefined : byWarehouse.get(c.warehouseId))
        ?? (c.crmId === undefined ? undefined : byCrm.get(c.crmId))
        ?? (c.email === undefined ? undefined : byEmail.get(c.email.toLowerCase()))
        ?? madeUpId(c),
    );
  }

  async function applyChanges(changes: readonly ProfileChange[]): Promise<ApplyResult> {
    if (changes.length === 0) return { contactIds: [], changedContacts: 0, entered: 0, exited: 0 };
    const stamps = changes.map((c) => stampOf(c.at));
    const contactIds = await resolve(changes);
    const written = await db.transaction(async (tx) => {
      const now = clock.now();
      const catalog = await lists.catalog(tx);
      const named = new Set(changes.flatMap((c) => Object.keys(c.attributes)));
      const anyDelete = changes.some((c) => c.deleted === true);
      const touchable = catalog.listsTouchedBy({ attributes: named, clickTags: new Set(), opens: false });
      // only the memberships the evaluation can read (a contact is in tens of lists, a change touches few)
      const read = anyDelete ? [...catalog.lists.keys()] : catalog.membershipsFor(touchable);
      const needs = { ...catalog.needs(anyDelete ? read : touchable), lists: read };
      // the lists first, then the memberships: a rebuild chunk of one of them that commits in between
      // would otherwise be missing from the memberships read, and the evaluation would be wrong
      await lists.lockLists(tx, read);
      const profiles = await lockSnapshots(tx, contactIds, now, needs);
      const touchedAttributes = new Set<string>();
      const changed = new Map<string, LockedProfile>();
      const causes = new Map<string, ListTransitionCause>();
      const writes = new Map<string, q.ProfileWrite>();
      changes.forEach((c, i) => {
        const p = profiles.get(contactIds[i] as string) as LockedProfile;
        const values =
          c.deleted === true ? Object.fromEntries(Object.keys(p.attributes).map((k) => [k, null])) : c.attributes;
        const merged = mergeAttributes(
          { attributes: p.attributes as Record<string, unknown>, versions: p.versions },
          { attributes: values, at: stamps[i] as number, ...(c.version === undefined ? {} : { version: c.version }) },
        );
        const identityMoved =
          (c.email !== undefined && c.email !== p.email)
          || (c.crmId !== undefined && c.crmId !== p.crmId)
          || (c.warehouseId !== undefined && c.warehouseId !== p.warehouseId);
        p.attributes = merged.attributes;
        p.versions = merged.versions;
        if (c.email !== undefined) p.email = c.email;
        if (c.crmId !== undefined) p.crmId = c.crmId;
        if (c.warehouseId !== undefined) p.warehouseId = c.warehouseId;
        const stampsMoved = Object.keys(values).length > 0;
        if (merged.changed.length > 0 || identityMoved || stampsMoved || !p.existed) {
          writes.set(p.contactId, { ...p, attributes: merged.attributes, versions: merged.versions });
        }
        // a new profile is evaluated whole: every list that could take it in
        if (merged.changed.length > 0 || !p.existed) {
          for (const a of merged.changed) touchedAttributes.add(a);
          if (!p.existed) for (const a of Object.keys(p.attributes)) touchedAttributes.add(a);
          changed.set(p.contactId, p);
          causes.set(p.contactId, { kind: 'change', id: `${c.source}:${c.changeId}` });
        }
      });
      await q.writeProfiles(tx, [...writes.values()], now);
      if (changed.size === 0) return { outboxed: [] as Outboxed[], changedContacts: 0, entered: 0, exited: 0 };
      const touched: TouchedInputs = { attributes: touchedAttributes, clickTags: new Set(), opens: false };
      const causeOf = (id: string) => causes.get(id) as ListTransitionCause;
      const r = await lists.reevaluate(tx, changed, touched, causeOf, catalog);
      return { outboxed: r.outboxed, changedContacts: changed.size, entered: r.entered, exited: r.exited };
    });
    if (written.outboxed.length > 0) await publishSliced(deps, written.outboxed);
    return { contactIds, changedContacts: written.changedContacts, entered: written.entered, exited: written.exited };
  }

  // concurrent submitters share a transaction; each gets the result of the whole group
  const grouped = createGroupCommit<readonly ProfileChange[], ApplyResult>(
    async (batches) => {
      const all = batches.flat();
      const r = await applyChanges(all);
      let offset = 0;
      return batches.map((b) => {
        const ids = r.contactIds.slice(offset, offset + b.length);
        offset += b.length;
        return { ...r, contactIds: ids };
      });
    },
    { maxWeight: 1000, weight: (b) => b.length, concurrency: 2 },
  );

  return {
    applyChanges,
    submit: (changes) => grouped(changes),
    get: (contactId) => q.readProfile(db, contactId),
  };
}
