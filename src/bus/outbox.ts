/**
 * The transactional outbox: a message is written in the transaction whose state it announces
 * (`addToOutbox(tx, …)`), so it exists exactly when that state does, and is published after the
 * commit (`relayOutbox(…, seqs)`) — or, when the process died in between or the bus refused, by
 * the relay loop (`runOutboxRelay`). Works with any bus: it only needs `publish`, whose
 * idempotency per (topic, message id) makes a second publish of the same row harmless.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock/port.ts';
import type { Db, Queryable } from '../store/port.ts';
import type { Bus, OutgoingMessage } from './port.ts';

/** Writes messages to the outbox inside `tx`; returns their outbox positions (for relayOutbox). */
export async function addToOutbox(tx: Queryable, topic: string, messages: readonly OutgoingMessage[], at: Date): Promise<number[]> {
  if (messages.length === 0) return [];
  const { rows } = await tx.query<{ seq: string }>(
    `insert into bus_outbox (topic, msg_id, msg_key, payload, created_at)
     select $1, x.msg_id, x.msg_key, x.payload, $2 from unnest($3::text[], $4::text[], $5::text[]) with ordinality as x(msg_id, msg_key, payload, n)
     order by x.n returning seq`,
    [topic, at, messages.map((m) => m.id), messages.map((m) => m.key ?? null), messages.map((m) => JSON.stringify(m.payload))]);
  return rows.map((r) => Number(r.seq));
}

/**
 * Publishes outbox rows in outbox order, grouped by topic, then deletes them: the rows `seqs`
 * (right after their transaction committed), or the oldest `limit` written before `writtenBefore`
 * (the relay). Returns how many.
 */
export async function relayOutbox(deps: { db: Db; bus: Bus }, seqs?: readonly number[], options: { limit?: number; writtenBefore?: Date } = {}): Promise<number> {
  const { rows } = seqs === undefined
    ? await deps.db.query<{ seq: string; topic: string; msg_id: string; msg_key: string | null; payload: string }>(
      'select seq, topic, msg_id, msg_key, payload from bus_outbox where created_at <= $2 order by seq limit $1',
      [options.limit ?? 500, options.writtenBefore ?? new Date(8.64e15)])
    : await deps.db.query<{ seq: string; topic: string; msg_id: string; msg_key: string | null; payload: string }>(
      'select seq, topic, msg_id, msg_key, payload from bus_outbox where seq = any($1::bigint[]) order by seq', [seqs]);
  if (rows.length === 0) return 0;
  const byTopic = new Map<string, OutgoingMessage[]>();
  for (const r of rows) {
    const list = byTopic.get(r.topic) ?? [];
    list.push({ id: r.msg_id, ...(r.msg_key === null ? {} : { key: r.msg_key }), payload: JSON.parse(r.payload) as unknown });
    byTopic.set(r.topic, list);
  }
  for (const [topic, messages] of byTopic) await deps.bus.publish(topic, messages);
  await deps.db.query('delete from bus_outbox where seq = any($1::bigint[])', [rows.map((r) => r.seq)]);
  return rows.length;
}

/** How long a row is its writer's to publish before the relay takes it over. */
export const OUTBOX_GRACE_MS = 5_000;

/** The relay loop: publishes what the outbox still holds after the grace time, then waits on the clock. */
export async function runOutboxRelay(deps: { db: Db; bus: Bus; clock: Clock; log: Logger }, signal: AbortSignal, intervalMs = 1_000): Promise<void> {
  while (!signal.aborted) {
    let n = 0;
    try {
      n = await relayOutbox(deps, undefined, { writtenBefore: new Date(deps.clock.now().getTime() - OUTBOX_GRACE_MS) });
      if (n > 0) deps.log.warn({ messages: n }, 'outbox relay published messages left behind after their commit');
    } catch (err) {
      if (!signal.aborted) deps.log.error({ err }, 'outbox relay failed; will retry');
    }
    if (n === 0) await deps.clock.sleep(intervalMs, signal).catch(() => undefined);
  }
}
