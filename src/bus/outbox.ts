/**
 * The transactional outbox: a message is written in the transaction whose state it announces
 * (`addToOutbox(tx, …)`), so it exists exactly when that state does, and is published after the
 * commit (`publishOutboxed`, from memory) — or, when the process died in between or the bus
 * refused, by the relay loop (`runOutboxRelay`). Works with any bus: it only needs `publish`,
 * whose idempotency per (topic, message id) makes a second publish of the same row harmless.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock/port.ts';
import type { Db, Queryable } from '../store/port.ts';
import type { Bus, OutgoingMessage } from './port.ts';
import { pollUntilAborted, publishToTopics } from './relay.ts';

/** Messages written to the outbox: their rows (`seqs`) and what to publish once committed. */
export interface Outboxed {
  topic: string;
  messages: readonly OutgoingMessage[];
  seqs: readonly number[];
}

/** Writes messages to the outbox inside `tx`. */
export async function addToOutbox(
  tx: Queryable,
  topic: string,
  messages: readonly OutgoingMessage[],
  at: Date,
): Promise<Outboxed> {
  if (messages.length === 0) return { topic, messages, seqs: [] };
  const { rows } = await tx.query<{ seq: string }>(
    `insert into bus_outbox (topic, msg_id, msg_key, payload, created_at)
     select $1, x.msg_id, x.msg_key, x.payload, $2 from unnest($3::text[], $4::text[], $5::text[])
       with ordinality as x(msg_id, msg_key, payload, n)
     order by x.n returning seq`,
    [
      topic,
      at,
      messages.map((m) => m.id),
      messages.map((m) => m.key ?? null),
      messages.map((m) => JSON.stringify(m.payload)),
    ],
  );
  return { topic, messages, seqs: rows.map((r) => Number(r.seq)) };
}

async function forget(db: Db, seqs: readonly (number | string)[]): Promise<void> {
  if (seqs.length > 0) await db.query('delete from bus_outbox where seq = any($1::bigint[])', [seqs]);
}

/**
 * After their transaction committed: publishes the messages as written (no read back), then
 * removes their rows. Returns how many were published. With `forgetInBackground` it returns once
 * published and leaves the removal running: a row it fails to remove is published again by the
 * relay after the grace time, which changes nothing (publish is idempotent per message id).
 */
export async function publishOutboxed(
  deps: { db: Db; bus: Bus },
  written: readonly Outboxed[],
  options: { forgetInBackground?: boolean } = {},
): Promise<number> {
  const items = written.flatMap((w) => w.messages.map((message) => ({ topic: w.topic, message })));
  await publishToTopics(deps.bus, items);
  const removal = forget(
    deps.db,
    written.flatMap((w) => w.seqs),
  );
  if (options.forgetInBackground) removal.catch(() => undefined);
  else await removal;
  return items.length;
}

/** The relay's step: publishes the oldest `limit` rows written before `writtenBefore`, in outbox
 *  order, then removes them. Returns how many. */
export async function relayOutbox(
  deps: { db: Db; bus: Bus },
  options: { limit?: number; writtenBefore?: Date } = {},
): Promise<number> {
  const { rows } = await deps.db.query<{
    seq: string;
    topic: string;
    msg_id: string;
    msg_key: string | null;
    payload: string;
  }>(
    `select seq, topic, msg_id, msg_key, payload from bus_outbox where ($2::timestamptz is null or created_at <= $2)
      order by seq limit $1`,
    [options.limit ?? 500, options.writtenBefore ?? null],
  );
  if (rows.length === 0) return 0;
  await publishToTopics(
    deps.bus,
    rows.map((r) => ({
      topic: r.topic,
      message: {
        id: r.msg_id,
        ...(r.msg_key === null ? {} : { key: r.msg_key }),
        payload: JSON.parse(r.payload) as unknown,
      },
    })),
  );
  await forget(
    deps.db,
    rows.map((r) => r.seq),
  );
  return rows.length;
}

/** How long a row is its writer's to publish before the relay takes it over. */
export const OUTBOX_GRACE_MS = 5_000;

/** The relay loop: publishes what the outbox still holds after the grace time, then waits on the clock. */
export function runOutboxRelay(
  deps: { db: Db; bus: Bus; clock: Clock; log: Logger },
  signal: AbortSignal,
  intervalMs = 1_000,
): Promise<void> {
  return pollUntilAborted(deps, signal, intervalMs, 'outbox relay', async () => {
    const n = await relayOutbox(deps, { writtenBefore: new Date(deps.clock.now().getTime() - OUTBOX_GRACE_MS) });
    if (n > 0) deps.log.warn({ messages: n }, 'outbox relay published messages left behind after their commit');
    return n;
  });
}
