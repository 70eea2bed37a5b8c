/**
 * Dead letters of the NATS bus, in Switchyard's dead_letters table (the same rows and CLI as the
 * postgres-log bus). Retrying one publishes a copy on its group's own subject, so only that group
 * gets it again, as a first attempt.
 */
import type { Clock } from '../../clock/port.ts';
import type { Db } from '../../store/port.ts';
import { createDeadLetterStore } from '../dead-letter-store.ts';
import type { DeadLetters } from '../port.ts';
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
    ...createDeadLetterStore(db, clock),
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
