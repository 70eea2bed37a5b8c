/**
 * Publishes committed outbox rows of list events in slices: a rebuild can write hundreds of
 * thousands of transitions, and one bus publish statement carries a bounded number of parameters.
 */
import { type Outboxed, publishOutboxed } from '../bus/outbox.ts';
import type { Bus } from '../bus/port.ts';
import type { Db } from '../store/port.ts';

const SLICE = 2000;

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
