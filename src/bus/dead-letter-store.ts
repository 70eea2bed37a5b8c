/**
 * The dead_letters table as both buses keep it: listing, counting and adding ingress dead letters
 * are the same rows and SQL whichever bus runs; only `retry` differs (the postgres-log bus requeues
 * in the log, the NATS bus republishes a copy), so each adapter adds its own.
 */
import type { Clock } from '../clock/port.ts';
import type { Queryable } from '../store/port.ts';
import type { DeadLetter, DeadLetters } from './port.ts';

const LIST_DEAD = `
  select id, stage, topic, msg_id, msg_key, payload, code, message, attempts, first_failed_at, last_failed_at,
    retried_at
  from dead_letters
  where ($1::text is null or stage = $1) and ($2 or retried_at is null)
  order by id desc limit $3`;

const COUNT_DEAD = `select count(*)::int as n from dead_letters where retried_at is null`;

const ADD_DEAD = `
  insert into dead_letters (stage, payload, code, message, attempts, first_failed_at, last_failed_at)
  values ($1, $2, $3, $4, 0, $5, $5) returning id`;

// the statement's snapshot holds the stage's rows before the insert: keeping the newest keep − 1
// of them plus the new one leaves keep (concurrent adds may leave a few fewer, never more)
const ADD_DEAD_KEEPING = `
  with added as (${ADD_DEAD}),
  aged as (
    delete from dead_letters where id in (
      select id from dead_letters where stage = $1 order by id desc offset greatest($6::int - 1, 0)))
  select id from added`;

export function createDeadLetterStore(db: Queryable, clock: Clock): Omit<DeadLetters, 'retry'> {
  return {
    async list(filter = {}) {
      const { rows } = await db.query<Record<string, unknown>>(LIST_DEAD, [
        filter.stage ?? null,
        filter.includeRetried ?? false,
        filter.limit ?? 100,
      ]);
      return rows.map(toDeadLetter);
    },
    async count() {
      const { rows } = await db.query<{ n: number }>(COUNT_DEAD);
      return rows[0]?.n ?? 0;
    },
    async add(entry, options = {}) {
      const values = [entry.stage, JSON.stringify(entry.payload ?? null), entry.code, entry.message, clock.now()];
      const { rows } =
        options.keepNewest === undefined
          ? await db.query<{ id: number }>(ADD_DEAD, values)
          : await db.query<{ id: number }>(ADD_DEAD_KEEPING, [...values, Math.max(1, options.keepNewest)]);
      return rows[0]!.id;
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
