/**
 * Staged chunks: work that must wait for a due time (a contact's send window or best hour).
 * Kept in the store, not in memory or in the bus, and released by `dispatchDue` on the clock.
 */
import type { Logger } from 'pino';
import type { Bus } from '../bus/port.ts';
import type { Clock } from '../clock/port.ts';
import type { Db, Queryable } from '../store/port.ts';

export async function stageChunk(db: Queryable, item: { id: string; topic: string; dueAt: Date; payload: unknown }): Promise<void> {
  await db.query('insert into staged_chunks (id, topic, due_at, payload) values ($1, $2, $3, $4) on conflict (id) do nothing',
    [item.id, item.topic, item.dueAt, JSON.stringify(item.payload)]);
}

/** Publishes every chunk due by now (oldest first, up to `limit`), then forgets them. */
export async function dispatchDue(deps: { db: Db; bus: Bus; clock: Clock }, limit = 100): Promise<number> {
  const { rows } = await deps.db.query<{ id: string; topic: string; payload: unknown }>(
    'select id, topic, payload from staged_chunks where due_at <= $1 order by due_at, id limit $2', [deps.clock.now(), limit]);
  if (rows.length === 0) return 0;
  const byTopic = new Map<string, { id: string; payload: unknown }[]>();
  for (const r of rows) {
    const list = byTopic.get(r.topic) ?? [];
    list.push({ id: r.id, payload: r.payload });
    byTopic.set(r.topic, list);
  }
  for (const [topic, messages] of byTopic) await deps.bus.publish(topic, messages);
  await deps.db.query('delete from staged_chunks where id = any($1::text[])', [rows.map((r) => r.id)]);
  return rows.length;
}

/** The dispatcher loop of the schedule stage: drains due chunks, then waits on the clock. */
export async function runDispatcher(deps: { db: Db; bus: Bus; clock: Clock; log: Logger }, signal: AbortSignal, intervalMs = 1_000): Promise<void> {
  while (!signal.aborted) {
    let n = 0;
    try {
      n = await dispatchDue(deps);
    } catch (err) {
      if (!signal.aborted) deps.log.error({ err }, 'dispatching staged chunks failed; will retry');
    }
    if (n === 0) await deps.clock.sleep(intervalMs, signal).catch(() => undefined);
  }
}
