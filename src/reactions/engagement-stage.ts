/**
 * Reactions → engagement score → CRM. The `engagement` group folds each reaction batch into
 * contact_engagement set-wise (one statement per batch, with the batch's bus message id as its
 * marker), so a redelivered message never counts twice. Changed scores go to
 * crm_engagement_outbox; the flusher sends every row due (≤ coalesceMs after a contact's first
 * pending change) in one crm.updateEngagement call per batchSize. No CRM call happens inside a
 * transaction; a row changed while its call was in flight stays for the next flush (revision).
 * A reply counts only when it is not a request to stop or a complaint (its stored text is
 * classified as the replies stage does): someone asking to be removed is not engaged.
 */
import type { Logger } from 'pino';
import type { StageDefinition } from '../bus/stage.ts';
import type { Clock } from '../clock/port.ts';
import type { Crm } from '../connectors/crm/port.ts';
import { accumulateEngagement, DEFAULT_ENGAGEMENT_OPTIONS, type EngagementOptions } from '../core/engagement-score.ts';
import { isSwitchyardError, toError } from '../core/errors.ts';
import { classifyReplyIntent, type IntentResult } from '../core/reply/intent.ts';
import type { Db } from '../store/port.ts';
import { consumerOf, TOPICS, type ReactionBatch, type StoredEvent } from '../bus/topics.ts';
import { type OpenAddresses, openPayloads } from './ingest.ts';
import { replyText } from './replies-stage.ts';

export interface EngagementStageDeps {
  db: Db;
  clock: Clock;
  crm: Crm;
  log: Logger;
  options?: Partial<EngagementFlushOptions> & { score?: EngagementOptions };
  /** Reply intent classifier, the same as the replies stage's (default classifyReplyIntent). */
  classify?: (text: string) => IntentResult;
  /** PII at rest: opens the sealed reply payloads (src/privacy/). */
  openPayloads?: OpenAddresses;
}

const REPLY_RAW = `select source_id, raw from engagement_events where source_id = any($1::text[])`;

/** Is this reply a request to stop or a complaint (then it adds no engagement)? */
export function isNegativeReply(result: Pick<IntentResult, 'intent' | 'stopRequested'>): boolean {
  return result.stopRequested || result.intent === 'unsubscribe_request' || result.intent === 'complaint';
}

/** The source ids of the batch's attributed replies that ask to stop or complain. */
async function negativeReplies(
  db: Db,
  events: readonly StoredEvent[],
  classify: (text: string) => IntentResult,
  open?: OpenAddresses,
): Promise<Set<string>> {
  const ids = events.filter((e) => e.type === 'replied' && e.contactId !== null).map((e) => e.sourceId);
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ source_id: string; raw: unknown }>(REPLY_RAW, [ids]);
  const raws = await openPayloads(
    open,
    rows.map((r) => r.raw),
  );
  return new Set(rows.filter((_r, i) => isNegativeReply(classify(replyText(raws[i])))).map((r) => r.source_id));
}

export interface EngagementFlushOptions {
  /** How long a contact's first pending change waits for more before it is sent (default 5 s). */
  coalesceMs: number;
  /** Contacts per crm.updateEngagement call; default min(crm.maxBatchSize, 500). */
  batchSize: number;
  /** How often the flusher looks for due rows (default 1 s). */
  intervalMs: number;
  /** After a failed CRM call its rows wait this long, or the CRM's Retry-After if longer (default 30 s). */
  retryDelayMs: number;
}

function flushOptions(deps: EngagementStageDeps): EngagementFlushOptions {
  const o = deps.options ?? {};
  return {
    coalesceMs: o.coalesceMs ?? 5_000,
    batchSize: o.batchSize ?? Math.min(Number.isFinite(deps.crm.maxBatchSize) ? deps.crm.maxBatchSize : 500, 500),
    intervalMs: o.intervalMs ?? 1_000,
    retryDelayMs: o.retryDelayMs ?? 30_000,
  };
}

// One statement, so one round trip and one commit: mark the bus message applied, fold the batch
// into the stored scores, queue the changed scores for the CRM. Nothing is written when the
// message was applied before (the marker exists). The commit does not wait for its WAL flush: a
// crash that loses it loses the marker with it, so the redelivered message is applied once.
// The stored score mirrors mergeEngagement (core/engagement-score.ts): both sides decay to the
// later reference time, then add; exponents are clamped (2^−1000, e^−700 ≈ 1e−301, 1e−304) because
// PostgreSQL's power() and exp() raise an underflow error where JavaScript returns 0.
// The queued score mirrors scoreAt: decayed to now, 100·(1 − e^(−raw/saturation)), rounded half
// up to a tenth (Math.round), within 0–100. Nothing is queued without a CRM ($10 false): the
// queue's rows would only be flushed to nowhere.
const APPLY_BATCH = `
  with async_commit as (select set_config('synchronous_commit', 'off', true) as setting),
  marked as (
    insert into engagement_applied_batches (message_id, applied_at)
    select $1, $2 from async_commit
    on conflict (message_id) do nothing returning message_id
  ), stored as (
    insert into contact_engagement as c (contact_id, raw_score, raw_at, last_engaged_at, updated_at)
    select x.contact_id, x.raw, x.at, x.last_engaged_at, $2
    from unnest($3::text[], $4::float8[], $5::timestamptz[], $6::timestamptz[]) as x(contact_id, raw, at,
      last_engaged_at)
    where exists (select 1 from marked)
    on conflict (contact_id) do update set
      raw_score =
          c.raw_score * power(2::float8, greatest(-1000::float8,
            -extract(epoch from greatest(c.raw_at, excluded.raw_at) - c.raw_at)::float8 / $7::float8))
        + excluded.raw_score * power(2::float8, greatest(-1000::float8,
            -extract(epoch from greatest(c.raw_at, excluded.raw_at) - excluded.raw_at)::float8 / $7::float8)),
      raw_at = greatest(c.raw_at, excluded.raw_at),
      last_engaged_at = greatest(c.last_engaged_at, excluded.last_engaged_at),
      updated_at = excluded.updated_at
    returning contact_id, raw_score, raw_at, last_engaged_at
  ), queued as (
    insert into crm_engagement_outbox as o (contact_id, score, last_engaged_at, due_at)
    select s.contact_id,
      least(100::float8, greatest(0::float8, floor(100::float8 * (1 - exp(greatest(-700::float8,
        -(s.raw_score * power(2::float8, greatest(-1000::float8,
          least(0::float8, -extract(epoch from $2::timestamptz - s.raw_at)::float8 / $7::float8))))
        / $8::float8))) * 10 + 0.5) / 10)),
      s.last_engaged_at, $9
    from stored s where $10::boolean
    -- due_at keeps the first pending change's deadline: later changes ride along with it
    on conflict (contact_id) do update set
      score = excluded.score, last_engaged_at = greatest(o.last_engaged_at, excluded.last_engaged_at),
        revision = o.revision + 1
  )
  select count(*)::int as n from stored`;

/**
 * Folds one reaction batch into the stored scores and queues the changed ones for the CRM.
 * Returns how many contacts' scores changed. `messageId` is the bus message id: applying the same
 * id twice is a no-op (returns 0).
 */
export async function applyEngagementBatch(
  db: Db,
  batch: ReactionBatch,
  messageId: string,
  now: Date,
  options: {
    coalesceMs: number;
    score?: EngagementOptions;
    classify?: (text: string) => IntentResult;
    openPayloads?: OpenAddresses;
    /** Queue changed scores for the CRM (default true; false when no CRM is configured). */
    queueForCrm?: boolean;
  },
): Promise<number> {
  const score = options.score ?? DEFAULT_ENGAGEMENT_OPTIONS;
  const negative = await negativeReplies(
    db,
    batch.events,
    options.classify ?? ((t) => classifyReplyIntent(t)),
    options.openPayloads,
  );
  const byContact = new Map<string, { type: string; occurredAt: Date; isMachine: boolean }[]>();
  for (const e of batch.events) {
    if (e.contactId === null || negative.has(e.sourceId)) continue;
    const list = byContact.get(e.contactId) ?? [];
    list.push({ type: e.type, occurredAt: new Date(e.occurredAt), isMachine: e.isMachine });
    byContact.set(e.contactId, list);
  }
  // in contact order: concurrent batches (the group's handlers run 8 at once) then take the score rows'
  // locks in one order; unsorted, their upserts deadlocked on shared contacts (bench/README.md, reactions)
  const contacts = [...byContact].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const input = contacts.flatMap(([contactId, events]) => {
    const s = accumulateEngagement(events, score);
    return s === null
      ? []
      : [{ contact_id: contactId, raw: s.raw, at: s.at.toISOString(), last_engaged_at: s.lastEngagedAt.toISOString() }];
  });
  if (input.length === 0) return 0;
  const { rows } = await db.query<{ n: number }>(APPLY_BATCH, [
    messageId,
    now,
    input.map((i) => i.contact_id),
    input.map((i) => i.raw),
    input.map((i) => i.at),
    input.map((i) => i.last_engaged_at),
    score.halfLifeDays * 86_400,
    score.saturation,
    new Date(now.getTime() + options.coalesceMs),
    options.queueForCrm ?? true,
  ]);
  return rows[0]?.n ?? 0;
}

const SELECT_DUE = `
  select contact_id, score, last_engaged_at, revision from crm_engagement_outbox
  where due_at <= $1 order by due_at, contact_id limit $2`;

// Only rows whose revision is still the one sent: a change that arrived meanwhile stays queued.
const DELETE_SENT = `
  delete from crm_engagement_outbox o using unnest($1::text[], $2::int[]) as s(contact_id, revision)
  where o.contact_id = s.contact_id and o.revision = s.revision`;

const POSTPONE = `update crm_engagement_outbox set due_at = $2 where contact_id = any($1::text[])`;

/**
 * Sends every outbox row due now, batchSize contacts per crm.updateEngagement call. Returns how
 * many contacts were sent. A failed call postpones its rows by retryDelayMs and rethrows.
 */
export async function flushEngagementOutbox(deps: EngagementStageDeps): Promise<number> {
  const o = flushOptions(deps);
  const now = deps.clock.now();
  let sent = 0;
  for (;;) {
    const { rows } = await deps.db.query<{
      contact_id: string;
      score: number;
      last_engaged_at: Date;
      revision: number;
    }>(SELECT_DUE, [now, o.batchSize]);
    if (rows.length === 0) return sent;
    try {
      await deps.crm.updateEngagement(
        rows.map((r) => ({
          contactId: r.contact_id,
          score: Number(r.score),
          lastEngagedAt: new Date(r.last_engaged_at),
        })),
      );
    } catch (err) {
      // a CRM that said when to come back (429 Retry-After) is not asked again before then
      const delayMs = Math.max(o.retryDelayMs, isSwitchyardError(err) ? (err.retryAfterMs ?? 0) : 0);
      await deps.db.query(POSTPONE, [rows.map((r) => r.contact_id), new Date(now.getTime() + delayMs)]);
      throw err;
    }
    await deps.db.query(DELETE_SENT, [rows.map((r) => r.contact_id), rows.map((r) => r.revision)]);
    sent += rows.length;
    if (rows.length < o.batchSize) return sent;
  }
}

/** The flusher loop: flush, then sleep intervalMs on the clock, until the signal aborts. */
export async function runEngagementFlusher(deps: EngagementStageDeps, signal: AbortSignal): Promise<void> {
  const o = flushOptions(deps);
  const log = deps.log.child({ stage: 'engagement', loop: 'crm-flush' });
  while (!signal.aborted) {
    try {
      const n = await flushEngagementOutbox(deps);
      if (n > 0) log.debug({ sent: n }, 'engagement scores sent to CRM');
    } catch (err) {
      log.warn({ err: toError(err) }, 'engagement CRM flush failed; rows postponed');
    }
    await deps.clock.sleep(o.intervalMs, signal).catch(() => undefined);
  }
}

export function engagementStage(deps: EngagementStageDeps): StageDefinition {
  const coalesceMs = flushOptions(deps).coalesceMs;
  const score = deps.options?.score;
  // with no CRM (crm 'none') the scores are kept but nothing is queued or flushed for it
  const queueForCrm = deps.crm.name !== 'none';
  return {
    name: 'engagement',
    consumers: [
      consumerOf({ topic: TOPICS.reactions, group: 'engagement', batchSize: 20 }, async (m) => {
        await applyEngagementBatch(deps.db, m.payload, m.id, deps.clock.now(), {
          coalesceMs,
          queueForCrm,
          ...(score === undefined ? {} : { score }),
          ...(deps.classify === undefined ? {} : { classify: deps.classify }),
          ...(deps.openPayloads === undefined ? {} : { openPayloads: deps.openPayloads }),
        });
      }),
    ],
    loops: queueForCrm ? [(signal) => runEngagementFlusher(deps, signal)] : [],
  };
}
