/**
 * Staged chunks: work that must wait for a due time (a contact's send window or best hour).
 * Kept in the store, not in memory or in the bus, and released by `dispatchDue` on the clock.
 */
import type { Logger } from 'pino';
import type { Bus } from '../bus/port.ts';
import { pollUntilAborted, publishToTopics } from '../bus/relay.ts';
import type { Clock } from '../clock/port.ts';
import type { Db, Queryable } from '../store/port.ts';

export async function stageChunk(
  db: Queryable,
  item: { id: string; topic: string; dueAt: Date; payload: unknown },
): Promise<void> {
  await db.query(
    'insert into staged_chunks (id, topic, due_at, payload) values ($1, $2, $3, $4) on conflict (id) do nothing',
    [item.id, item.topic, item.dueAt, JSON.stringify(item.payload)],
  );
}

/** Publishes every chunk due by now (oldest first, up to `limit`), then forgets them. */
export async function dispatchDue(deps: { db: Db; bus: Bus; clock: Clock }, limit = 100): Promise<number> {
  const { rows } = await deps.db.query<{ id: string; topic: string; payload: unknown }>(
    'select id, topic, payload from staged_chunks where due_at <= $1 order by due_at, id limit $2',
    [deps.clock.now(), limit],
  );
  if (rows.length === 0) return 0;
  await publishToTopics(
    deps.bus,
    rows.map((r) => ({ topic: r.topic, message: { id: r.id, payload: r.payload } })),
  );
  await deps.db.query('delete from staged_chunks where id = any($1::text[])', [rows.map((r) => r.id)]);
  return rows.length;
}

/** The dispatcher loop of the schedule stage: drains due chunks, then waits on the clock. */
export function runDispatcher(
  deps: { db: Db; bus: Bus; clock: Clock; log: Logger },
  signal: AbortSignal,
  intervalMs = 1_000,
): Promise<void> {
  return pollUntilAborted(deps, signal, intervalMs, 'dispatching staged chunks', () => dispatchDue(deps));
}
