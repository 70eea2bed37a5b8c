/**
 * The interface other services (journeys' add-to / remove-from-list steps, the API, the CLI) use
 * to change and read list membership. Membership changes only through it, so every real
 * transition is recorded in the history and announced once on `list.entered` / `list.exited`
 * (through the outbox, in the transaction that changed it), and lists that depend on the changed
 * list are re-evaluated in topological order.
 */
import type { ListTransitionCause } from '../bus/topics.ts';

/** What one add or remove did: only contacts whose membership really changed are listed. */
export interface MembershipResult {
  /** Contacts that entered (add) or exited (remove) the list now. */
  changed: string[];
  /** Contacts that were already in (add) or already out (remove): nothing recorded or published. */
  unchanged: string[];
}

export interface ListMembership {
  /**
   * Adds contacts to a static list. Idempotent: a contact already a member is `unchanged`, no
   * event. Contacts without a profile get an empty one. Throws SwitchyardError LIST_NOT_FOUND, or
   * LIST_NOT_STATIC for a dynamic list (its segment decides membership).
   */
  addToList(listId: string, contactIds: readonly string[], cause: ListTransitionCause): Promise<MembershipResult>;
  /** Removes contacts from a static list; idempotent like addToList, same errors. */
  removeFromList(listId: string, contactIds: readonly string[], cause: ListTransitionCause): Promise<MembershipResult>;
  /** Whether the contact is a member now (static or dynamic list). Throws LIST_NOT_FOUND. */
  isMember(listId: string, contactId: string): Promise<boolean>;
}
