/**
 * The `list.entered` / `list.exited` messages of written transitions, as the outbox rows hold them
 * (one message per TRANSITIONS_PER_MESSAGE of a kind, in history order, id = list:<first history
 * id>), and their publication after the commit in slices: one bus publish statement carries a
 * bounded number of parameters.
 */
import { type Outboxed, publishOutboxed } from '../bus/outbox.ts';
import type { Bus, OutgoingMessage } from '../bus/port.ts';
import {
  type ListTransition,
  type ListTransitionCause,
  type ListTransitionElement,
  type ListTransitionsPayload,
  TOPICS,
} from '../bus/topics.ts';
import type { Db } from '../store/port.ts';
import { type OutboxSeqs, TRANSITIONS_PER_MESSAGE } from './queries.ts';

const SLICE = 20;

/**
 * Transitions written by one statement (with their history ids) → what to publish once committed
 * (`outbox`: their outbox rows), or in their transaction (null: the statement wrote no outbox rows).
 */
export function transitionMessages(
  written: readonly (ListTransition & { entered: boolean })[],
  outbox: OutboxSeqs | null,
): Outboxed[] {
  const out: Outboxed[] = [];
  for (const entered of [true, false]) {
    const mine = written.filter((t) => t.entered === entered).sort((a, b) => a.id - b.id);
    if (mine.length === 0) continue;
    const messages: OutgoingMessage[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < mine.length; i += TRANSITIONS_PER_MESSAGE) {
      const part = mine.slice(i, i + TRANSITIONS_PER_MESSAGE);
      const id = `list:${part[0]?.id}`;
      const seq = outbox === null ? undefined : outbox.get(id);
      if (outbox !== null && seq === undefined) throw new Error(`list event ${id} has no outbox row`);
      const payload: ListTransitionsPayload = {
        transitions: part.map((t) => ({
          id: t.id,
          listId: t.listId,
          contactId: t.contactId,
          at: t.at,
          cause: t.cause,
        })),
      };
      messages.push({ id, payload });
      if (seq !== undefined) seqs.push(seq);
    }
    out.push({ topic: entered ? TOPICS.listEntered : TOPICS.listExited, messages, seqs });
  }
  return out;
}

/**
 * The messages of one rebuild chunk's transitions (`written` in history id order): one list, time
 * and cause for all of them, so each message carries those once and its elements only id and
 * contact (a fifth of the JSON of whole elements); otherwise as transitionMessages.
 */
export function rebuildMessages(
  shared: { listId: string; at: string; cause: ListTransitionCause },
  written: readonly { id: number; contactId: string; entered: boolean }[],
  outbox: OutboxSeqs | null,
): Outboxed[] {
  const out: Outboxed[] = [];
  for (const entered of [true, false]) {
    const messages: OutgoingMessage[] = [];
    const seqs: number[] = [];
    let part: ListTransitionElement[] = [];
    const flush = () => {
      const id = `list:${part[0]?.id}`;
      const seq = outbox === null ? undefined : outbox.get(id);
      if (outbox !== null && seq === undefined) throw new Error(`list event ${id} has no outbox row`);
      const payload: ListTransitionsPayload = { ...shared, transitions: part };
      messages.push({ id, payload });
      if (seq !== undefined) seqs.push(seq);
      part = [];
    };
    for (const t of written) {
      if (t.entered !== entered) continue;
      part.push({ id: t.id, contactId: t.contactId });
      if (part.length === TRANSITIONS_PER_MESSAGE) flush();
    }
    if (part.length > 0) flush();
    if (messages.length > 0) out.push({ topic: entered ? TOPICS.listEntered : TOPICS.listExited, messages, seqs });
  }
  return out;
}

export async function publishSliced(deps: { db: Db; bus: Bus }, outboxed: readonly Outboxed[]): Promise<void> {
  const slices = outboxed.flatMap((o) => {
    const out: Outboxed[] = [];
    for (let i = 0; i < o.messages.length; i += SLICE) {
      out.push({ topic: o.topic, messages: o.messages.slice(i, i + SLICE), seqs: o.seqs.slice(i, i + SLICE) });
    }
    return out;
  });
  for (const s of slices) await publishOutboxed(deps, [s], { forgetInBackground: true });
}
