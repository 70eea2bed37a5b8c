/**
 * The sandbox's pending simulated events kept in the store (migration 0014) instead of memory, so
 * a process that restarts after a crash still delivers, opens and clicks what the dead one
 * accepted: otherwise those ledger rows would stay `sent` for good. Flushes claim due rows before
 * emitting, so two processes never emit the same row; a row claimed by a process that died is
 * claimed again once its claim ends, and event ids derive from the provider message id, so ingest
 * sees such a repeat as a duplicate.
 */
import type { EngagementEvent } from '../../../core/events.ts';
import type { Db } from '../../../store/port.ts';
import { nextStage, type SimulatedSend, stageDueAt, stageEvents } from './simulated-events.ts';

const INSERT = `
  insert into sandbox_events
    (provider_message_id, accepted_at, message_id, email, correlation, flags, url, stage, due_at)
  select x.pmid, x.accepted_at, x.message_id, x.email, x.correlation, x.flags, x.url, x.stage, x.due_at
  from jsonb_to_recordset($1::jsonb) as x(pmid text, accepted_at timestamptz, message_id text, email text,
    correlation jsonb, flags int, url text, stage int, due_at timestamptz)
  on conflict (provider_message_id) do nothing`;

const CLAIM = `
  with due as (
    select provider_message_id from sandbox_events
    where due_at <= $1 and (claimed_until is null or claimed_until <= $1)
    order by due_at limit $2
    for update skip locked
  )
  update sandbox_events e set claimed_until = $3
  from due where e.provider_message_id = due.provider_message_id
  returning e.provider_message_id, e.accepted_at, e.message_id, e.email, e.correlation, e.flags, e.url, e.stage`;

const ADVANCE = `
  update sandbox_events e set stage = x.stage, due_at = x.due_at, claimed_until = null
  from jsonb_to_recordset($1::jsonb) as x(pmid text, stage int, due_at timestamptz)
  where e.provider_message_id = x.pmid`;

const DELETE = `delete from sandbox_events where provider_message_id = any($1::text[])`;

const NEXT_DUE = `select min(due_at) as at from sandbox_events`;

const UNCLAIM = `update sandbox_events set claimed_until = null where provider_message_id = any($1::text[])`;

interface Row {
  provider_message_id: string;
  accepted_at: Date;
  message_id: string;
  email: string;
  correlation: SimulatedSend['correlation'];
  flags: number;
  url: string | null;
  stage: number;
}

export interface ClaimedEvents {
  events: EngagementEvent[];
  /** How many rows were claimed (a full batch means more may be due). */
  rows: number;
  /** After a successful emit: moves each row to its next stage, or deletes it. */
  done(): Promise<void>;
  /** After a failed emit: the rows are due again at once. */
  release(): Promise<void>;
}

export function createDurableEvents(db: Db, delayMs: number, claimMs: number) {
  return {
    /** Stores accepted messages that have events to come (flags ≠ 0); returns the earliest due time (ms). */
    async add(recs: readonly SimulatedSend[]): Promise<number | undefined> {
      let earliest: number | undefined;
      const rows = recs.flatMap((r) => {
        const stage = nextStage(r.flags, -1);
        if (stage === undefined) return [];
        const due = stageDueAt(r.acceptedAt, stage, delayMs);
        if (earliest === undefined || due < earliest) earliest = due;
        return [
          {
            pmid: r.providerMessageId,
            accepted_at: new Date(r.acceptedAt).toISOString(),
            message_id: r.messageId,
            email: r.email,
            correlation: r.correlation,
            flags: r.flags,
            url: r.url ?? null,
            stage,
            due_at: new Date(due).toISOString(),
          },
        ];
      });
      if (rows.length === 0) return undefined;
      await db.query(INSERT, [JSON.stringify(rows)]);
      return earliest;
    },
    /** When the earliest stored row falls due (rows claimed by any process included), or null when none is left. */
    async nextDueAt(): Promise<Date | null> {
      const { rows } = await db.query<{ at: Date | null }>(NEXT_DUE);
      return rows[0]?.at ?? null;
    },
    /** Claims up to `limit` rows due at `now` and builds their events, oldest first. */
    async claim(now: Date, limit: number): Promise<ClaimedEvents> {
      const { rows } = await db.query<Row>(CLAIM, [now, limit, new Date(now.getTime() + claimMs)]);
      const recs = rows.map((r) => ({
        stage: r.stage,
        rec: {
          acceptedAt: r.accepted_at.getTime(),
          providerMessageId: r.provider_message_id,
          messageId: r.message_id,
          email: r.email,
          correlation: r.correlation,
          flags: r.flags,
          url: r.url ?? undefined,
        } satisfies SimulatedSend,
      }));
      const events = recs
        .flatMap(({ rec, stage }) => stageEvents(rec, stage, delayMs))
        .sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
      const ids = rows.map((r) => r.provider_message_id);
      return {
        events,
        rows: rows.length,
        async done() {
          const advance: { pmid: string; stage: number; due_at: string }[] = [];
          const finished: string[] = [];
          for (const { rec, stage } of recs) {
            const next = nextStage(rec.flags, stage);
            if (next === undefined) finished.push(rec.providerMessageId);
            else
              advance.push({
                pmid: rec.providerMessageId,
                stage: next,
                due_at: new Date(stageDueAt(rec.acceptedAt, next, delayMs)).toISOString(),
              });
          }
          await db.transaction(async (tx) => {
            if (advance.length > 0) await tx.query(ADVANCE, [JSON.stringify(advance)]);
            if (finished.length > 0) await tx.query(DELETE, [finished]);
          });
        },
        async release() {
          if (ids.length > 0) await db.query(UNCLAIM, [ids]);
        },
      };
    },
    async pending(): Promise<number> {
      const { rows } = await db.query<{ n: number }>('select count(*)::int as n from sandbox_events');
      return rows[0]?.n ?? 0;
    },
  };
}
