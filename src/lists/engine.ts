/**
 * Re-evaluates lists for a set of locked profiles inside the caller's transaction: each list in
 * cascade order (every list after the lists it reads), each contact by the compiled predicate
 * over its snapshot, whose memberships are updated as the cascade goes, so a list reading another
 * sees that list's new answer. Only real transitions are written (members, history and the outbox
 * rows of their messages, one statement); a redelivered change finds nothing to do because the
 * memberships already say so. Time-relative lists get each contact's next re-check time.
 */
import type { Outboxed } from '../bus/outbox.ts';
import type { Bus } from '../bus/port.ts';
import { type ListTransitionCause, TOPICS } from '../bus/topics.ts';
import { nextFlipAt } from '../core/segments/inputs.ts';
import { completeMemberships, type LockedProfile, lockSnapshots } from '../profiles/snapshots.ts';
import type { Queryable } from '../store/port.ts';
import type { ListCatalog } from './catalog.ts';
import { transitionMessages } from './publish.ts';
import * as q from './queries.ts';

/**
 * A bus's publish inside the caller's transaction (postgres-log: its log is in the store), so the
 * events commit with the memberships they announce and need no outbox row.
 */
export type PublishInTransaction = NonNullable<Bus['publishInTransaction']>;

/** A static list's membership set or cleared for some contacts, before the cascade. */
export interface ForcedMembership {
  listId: string;
  contactIds: readonly string[];
  entered: boolean;
}

export interface EvaluationResult {
  outboxed: Outboxed[];
  entered: number;
  exited: number;
  /** Contacts whose membership of the forced list really changed. */
  forcedChanged: string[];
}

/**
 * The profiles of `ids`, locked, with the memberships that evaluating `order` (and `alsoRead`)
 * reads, read only once those lists are locked: a rebuild chunk of one of them that committed
 * between the read and the lock would leave the evaluation working from a stale membership.
 */
export async function lockForEvaluation(
  tx: Queryable,
  catalog: ListCatalog,
  ids: readonly string[],
  now: Date,
  order: readonly string[],
  alsoRead: readonly string[] = [],
): Promise<Map<string, LockedProfile>> {
  const read = catalog.membershipsFor([...alsoRead, ...order]);
  await q.lockListsShared(tx, read);
  return lockSnapshots(tx, ids, now, { ...catalog.needs(order), lists: read });
}

/**
 * `order`: the lists to re-evaluate, in cascade order (from the catalogue). `causeOf` names why
 * each contact is re-evaluated (its change id, the timer, the rebuild, who edited the list). With
 * `inTransaction` the events are published in `tx` and `outboxed` is empty; else the caller
 * publishes `outboxed` once committed. One evaluation per transaction with `inTransaction`.
 */
export async function evaluateLocked(
  tx: Queryable,
  catalog: ListCatalog,
  profiles: ReadonlyMap<string, LockedProfile>,
  order: readonly string[],
  causeOf: (contactId: string) => ListTransitionCause,
  now: Date,
  forced?: ForcedMembership,
  inTransaction?: PublishInTransaction,
): Promise<EvaluationResult> {
  const nowMs = now.getTime();
  const transitions: q.Transition[] = [];
  const timers: { listId: string; contactId: string; dueAt: Date | null }[] = [];
  const forcedChanged: string[] = [];
  const record = (listId: string, p: LockedProfile, entered: boolean): void => {
    const cause = causeOf(p.contactId);
    const row = entered ? null : (p.memberRows.get(listId) ?? null);
    transitions.push({ listId, contactId: p.contactId, entered, causeKind: cause.kind, causeId: cause.id, row });
    // a row written here has no version known to this snapshot
    p.memberRows.delete(listId);
    if (entered) p.lists.add(listId);
    else p.lists.delete(listId);
  };
  if (forced !== undefined) {
    for (const id of forced.contactIds) {
      const p = profiles.get(id);
      if (p === undefined || p.lists.has(forced.listId) === forced.entered) continue;
      record(forced.listId, p, forced.entered);
      forcedChanged.push(id);
    }
  }
  // a profile created just now has never been evaluated: every list may take it in (one reading
  // `not` of something holds for an empty profile)
  const fresh = [...profiles.values()].some((p) => !p.existed);
  const lists = fresh ? catalog.withDependents(catalog.lists.keys()) : order;
  await q.lockListsShared(tx, lists);
  await completeMemberships(tx, profiles, catalog.membershipsFor(lists));
  for (const listId of lists) {
    const list = catalog.lists.get(listId);
    if (list?.predicate == null || list.definition === null) continue;
    const timeRelative = list.inputs?.timeRelative === true;
    for (const p of profiles.values()) {
      const want = list.predicate(p, nowMs);
      if (want !== p.lists.has(listId)) record(listId, p, want);
      if (timeRelative) {
        const due = nextFlipAt(list.definition, p, nowMs);
        timers.push({ listId, contactId: p.contactId, dueAt: due === null ? null : new Date(due) });
      }
    }
  }
  const topics = { entered: TOPICS.listEntered, exited: TOPICS.listExited };
  // history ids ascend in input order, so the written ids line up with `transitions`
  const written = await q.writeTransitions(tx, transitions, now, topics, inTransaction === undefined);
  await q.writeTimers(tx, timers);
  const at = now.toISOString();
  let enteredN = 0;
  const withIds = transitions.map((t, i) => {
    if (t.entered) enteredN++;
    return {
      id: written.ids[i] as number,
      listId: t.listId,
      contactId: t.contactId,
      entered: t.entered,
      at,
      cause: { kind: t.causeKind as ListTransitionCause['kind'], id: t.causeId },
    };
  });
  if (inTransaction !== undefined) {
    // entered before exited, as every evaluation does: two transactions take the topics' locks in one order
    for (const m of transitionMessages(withIds, null)) await inTransaction(tx, m.topic, m.messages);
    return { outboxed: [], entered: enteredN, exited: transitions.length - enteredN, forcedChanged };
  }
  const outboxed = transitionMessages(withIds, written.outbox);
  return { outboxed, entered: enteredN, exited: transitions.length - enteredN, forcedChanged };
}
