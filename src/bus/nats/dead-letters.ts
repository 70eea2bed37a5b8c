/**
 * Dead letters of the NATS bus, in Switchyard's dead_letters table (the same rows and CLI as the
 * postgres-log bus). Retrying one publishes a copy on its group's own subject, so only that group
 * gets it again, as a first attempt.
 */
import type { Clock } from '../../clock/port.ts';
import type { Db } from '../../store/port.ts';
import type { DeadLetter, DeadLetters } from '../port.ts';
import * as q from './queries.ts';

export interface DeadLetterCopy {
  dlId: number;
  group: string;
  topic: string;
  id: string;
  key: string | null;
  /** The payload as JSON text. */
  payload: string;
}

export function createNatsDeadLetters(deps: {
  db: Db;
  clock: Clock;
  publishCopy: (copy: DeadLetterCopy) => Promise<void>;
}): DeadLetters {
  const { db, clock } = deps;
  return {
    async list(filter = {}) {
      const { rows } = await db.query<Record<string, unknown>>(q.LIST_DEAD, [
        filter.stage ?? null,
        filter.includeRetried ?? false,
        filter.limit ?? 100,
      ]);
      return rows.map(toDeadLetter);
    },
    async count() {
      const { rows } = await db.query<{ n: number }>(q.COUNT_DEAD);
      return rows[0]?.n ?? 0;
    },
    async add(entry) {
      const { rows } = await db.query<{ id: number }>(q.ADD_DEAD, [
        entry.stage,
        JSON.stringify(entry.payload ?? null),
        entry.code,
        entry.message,
        clock.now(),
      ]);
      return rows[0]!.id;
    },
    async retry(ids) {
      // marked first (a concurrent retry of the same id gets nothing), unmarked if the copy failed
      const { rows } = await db.query<{
        id: number;
        stage: string;
        topic: string;
        msg_id: string;
        msg_key: string | null;
        payload: string;
      }>(q.MARK_DEAD_RETRIED, [ids, clock.now()]);
      const done: number[] = [];
      const failed: number[] = [];
      for (const r of rows) {
        try {
          await deps.publishCopy({
            dlId: r.id,
            group: r.stage,
            topic: r.topic,
            id: r.msg_id,
            key: r.msg_key,
            payload: r.payload,
          });
          done.push(r.id);
        } catch {
          failed.push(r.id);
        }
      }
      if (failed.length > 0) await db.query(q.UNMARK_DEAD_RETRIED, [failed]);
      return done;
    },
  };
}

function toDeadLetter(r: Record<string, unknown>): DeadLetter {
  return {
    id: r.id as number,
    stage: r.stage as string,
    topic: (r.topic as string | null) ?? null,
    messageId: (r.msg_id as string | null) ?? null,
    key: (r.msg_key as string | null) ?? null,
    payload: r.payload,
    code: r.code as string,
    message: r.message as string,
    attempts: r.attempts as number,
    firstFailedAt: r.first_failed_at as Date,
    lastFailedAt: r.last_failed_at as Date,
    retriedAt: (r.retried_at as Date | null) ?? null,
  };
}
