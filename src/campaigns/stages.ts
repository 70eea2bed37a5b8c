/**
 * The blast road's early stages, one consumer group: select (warehouse → chunks, resumable by
 * continuation messages), each chunk prepared as it is read: comply (suppression, consent,
 * geography), enrich (contact profiles from the cache, missing ones from the CRM) and schedule
 * (send window, quiet hours, frequency cap → ready now, or staged until due).
 * Each handler is idempotent: chunk ids are deterministic and every write is set-wise with
 * `on conflict do nothing` or guarded by the state it expects.
 */
import type { Logger } from 'pino';
import type { Deferral } from '../bus/consumer.ts';
import type { Bus, Delivery } from '../bus/port.ts';
import type { StageDefinition } from '../bus/stage.ts';
import { consumerOf, publishTo, TOPICS, type ChunkPayload, type SelectStep } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import { checkEligibility, consentFromField } from '../core/eligibility.ts';
import { isSwitchyardError, SwitchyardError } from '../core/errors.ts';
import { nextAllowedTime } from '../core/send-window.ts';
import { addEngagement, bestSendTime, emptyHistogram, mergeHistograms, type OpenHistogram } from '../core/send-time.ts';
import type { Crm, CrmRecord } from '../connectors/crm/port.ts';
import type { ProfileCache } from '../crm-profiles/cache.ts';
import type { Warehouse } from '../connectors/warehouse/port.ts';
import { findConsents, findSuppressed, normalizeEmail } from '../compliance/suppression.ts';
import type { GeoRuleOverrides } from '../core/geo-rules.ts';
import type { TopicSubscriptions } from '../compliance/consent/ledger.ts';
import { carriedSubjects, type PiiSealer, SUBJECT_BYTES, sealed } from './pii.ts';
import type { Db } from '../store/port.ts';
import { rowsForPass, splitByVariant, variantsFor } from './ab-test.ts';
import { finishIfDone } from './completion.ts';
import * as q from './queries.ts';
import * as ledger from './send-ledger.ts';
import { stageChunk } from './staging.ts';
import type { TemplateCache } from './template-cache.ts';
import { CHUNK_SIZE, CHUNKS_PER_SELECT_STEP, type Audience, type Campaign, type Recipient } from './types.ts';

export interface BlastDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
  openWarehouse(audience: Audience): Warehouse;
  crm: Crm;
  /** Contact profiles kept from the CRM: enrichment reads them; without it, the CRM per chunk. */
  profiles?: ProfileCache;
  /** The campaigns' compiled templates: prepare sends on only the contact fields they read. */
  templates?: TemplateCache;
  /** PII at rest: ledger addresses sealed per subject, erased people found by fingerprint (src/privacy/). */
  pii?: PiiSealer;
  /** Per-workspace overrides of the geographic rules (law.md §12 defaults otherwise). */
  geoOverrides?: GeoRuleOverrides;
  /** The preference centre's per-topic state: a campaign with a topic skips who withdrew from it. */
  topics?: TopicSubscriptions;
}

const PAUSED_RECHECK_MS = 5_000;
const paused = (reason: string): Deferral => ({ kind: 'defer', delayMs: PAUSED_RECHECK_MS, reason });

/** When the CRM is down and says nothing about when to come back. */
const CRM_DOWN_RECHECK_MS = 30_000;

/**
 * A chunk whose enrichment the CRM could not answer (rate limit, outage) is not sent without it:
 * the step waits the CRM's Retry-After (unattempted, however long the limit lasts), and the
 * campaign shows why and until when. Null when the failure is not the CRM's.
 */
async function waitForCrm(deps: BlastDeps, campaignId: string, err: unknown): Promise<Deferral | null> {
  if (!isSwitchyardError(err) || err.code !== 'CRM_UNAVAILABLE') return null;
  const delayMs = Math.max(1, err.retryAfterMs ?? CRM_DOWN_RECHECK_MS);
  const reason =
    err.retryAfterMs === undefined
      ? `waiting on the CRM (${deps.crm.name}): ${err.message}`
      : `waiting on the CRM's rate limit (${deps.crm.name}): ${err.message}`;
  await q.setCrmWait(deps.db, campaignId, reason, new Date(deps.clock.now().getTime() + delayMs), true);
  deps.log.warn({ campaignId, delayMs, err }, 'campaign waits on the CRM');
  return { kind: 'defer', delayMs, reason };
}

/** Chunks of one select step prepared at once (CRM look-ups and ledger writes overlap). */
const PREPARE_CONCURRENCY = 4;

/**
 * select: reads CHUNKS_PER_SELECT_STEP chunks after the stored position, prepares each one
 * (comply → enrich → schedule) as it arrives, then records the position and hands on.
 * Select and prepare are one consumer group, so the selected chunk's whole rows do not cross the
 * bus to another process of the same kind (docs/decisions/0004-one-prepare-step.md).
 * A crash re-runs the step from the stored position: every write of prepare is idempotent
 * (exclusions and chunk marks `on conflict do nothing`, ready parts deduplicated by id).
 */
export async function handleSelect(deps: BlastDeps, m: Delivery<SelectStep>): Promise<void | Deferral> {
  const { db, bus, clock } = deps;
  const c = await q.getCampaign(db, m.payload.campaignId);
  if (c === null || c.status === 'cancelled' || c.status === 'failed' || c.status === 'completed') return;
  if (c.status === 'paused') return paused('campaign paused');
  if (c.selectSeq !== m.payload.seq || c.selectDone) return; // a redelivered step already applied
  let seq = c.selectSeq;
  let after: string | null = null;
  let selected = 0;
  let rejected = 0;
  let done = true;
  const fields = await templateFields(deps, c);
  // prepare's failures are the step's (retried, or dead-lettered with the step); the
  // warehouse's are the audience's (below)
  let prepareFailure: { err: unknown } | undefined;
  const preparing = new Set<Promise<void>>();
  const startPrepare = (chunk: ChunkPayload): void => {
    const p: Promise<void> = prepareChunk(deps, c, chunk, fields, m.attempt === 1)
      .then(
        () => undefined,
        (err: unknown) => {
          prepareFailure ??= { err };
        },
      )
      .finally(() => preparing.delete(p));
    preparing.add(p);
  };
  try {
    const warehouse = deps.openWarehouse(c.definition.audience);
    const stream = warehouse.stream(
      { ...queryOf(c.definition.audience, c.id), afterKey: c.selectAfter ?? undefined },
      { batchSize: CHUNK_SIZE },
    );
    for await (const batch of stream) {
      for (const r of batch.rejected) {
        // The row stays in the payload for inspection: sources are only the operator's allowed
        // CSV directories and warehouse, and the reason names columns, never values.
        await bus.deadLetters.add({
          stage: 'select',
          payload: { campaignId: c.id, rowNumber: r.rowNumber, row: r.raw },
          code: 'WAREHOUSE_ROW_INVALID',
          message: `campaign ${c.id}, row ${r.rowNumber}: ${r.reason}`,
        });
      }
      while (preparing.size >= PREPARE_CONCURRENCY) await Promise.race(preparing);
      if (prepareFailure !== undefined) break;
      // an A/B test's pass reads the whole audience and keeps its share (test, or the remainder)
      const rows = rowsForPass(c, batch.rows);
      startPrepare({ campaignId: c.id, seq, recipients: rows });
      seq++;
      selected += rows.length;
      rejected += batch.rejected.length;
      after = batch.cursor;
      if (seq - c.selectSeq >= CHUNKS_PER_SELECT_STEP) {
        done = false;
        break;
      }
    }
  } catch (err) {
    await Promise.all(preparing);
    const retryable = isSwitchyardError(err) && err.retryable;
    if (retryable && m.attempt < 5) throw err;
    // the audience itself is broken (bad query, missing email column, warehouse gone for good)
    // adapters build messages without source data; anything else is named by kind only
    const reason = isSwitchyardError(err) ? err.message : 'the audience source could not be read';
    await q.transition(db, c.id, ['running', 'paused'], 'failed', clock.now(), `audience: ${reason}`);
    deps.log.error({ campaignId: c.id, err }, 'campaign failed while selecting');
    return;
  }
  await Promise.all(preparing);
  // nothing recorded: the step runs again from the stored position (prepare is idempotent)
  if (prepareFailure !== undefined) {
    const wait = await waitForCrm(deps, c.id, prepareFailure.err);
    if (wait !== null) return wait;
    throw prepareFailure.err;
  }
  const advanced = await q.advanceSelect(db, c.id, c.selectSeq, seq, after, done, selected, rejected, clock.now());
  if (advanced) await q.clearCrmWait(db, c.id);
  if (advanced && !done) {
    await publishTo(bus, TOPICS.select, [
      { id: `${c.id}:select:${seq}`, key: c.id, payload: { campaignId: c.id, seq } },
    ]);
  }
  if (done) await finishIfDone(deps, c.id, clock.now());
}

// a list audience is frozen per campaign: its reader needs the campaign id
function queryOf(a: Audience, campaignId: string): { sql?: string; table?: string; params?: string[] } {
  if (a.source === 'list') return { params: [campaignId] };
  return a.source === 'postgres' ? { sql: a.sql, table: a.table } : {};
}

/** The exclusion reason of a contact who withdrew from the campaign's topic (preference centre). */
export const topicReason = (topic: string): string => `topic_unsubscribed:${topic}`;

/**
 * comply: suppression, consent, geography and, for a campaign with a topic, the preference
 * centre's per-topic choice, for a whole chunk (one query each). Excluded recipients get their
 * ledger row now, with the reason; the eligible ones are returned.
 */
export async function comply(
  deps: Pick<BlastDeps, 'db' | 'clock' | 'pii' | 'geoOverrides' | 'topics'>,
  chunk: ChunkPayload,
  firstTry = false,
  topic?: string,
): Promise<Recipient[]> {
  const { eligible, recorded } = await complyChunk(deps, chunk, firstTry, topic);
  await recorded;
  return eligible;
}

/**
 * comply, returning the eligible recipients while the excluded ones' ledger rows (and, with PII at
 * rest, their key rows) are still being written: prepare overlaps that with enrichment and awaits
 * `recorded` before it marks the chunk prepared.
 */
async function complyChunk(
  deps: Pick<BlastDeps, 'db' | 'clock' | 'pii' | 'geoOverrides' | 'topics'>,
  chunk: ChunkPayload,
  firstTry: boolean,
  topic?: string,
): Promise<{ eligible: Recipient[]; recorded: Promise<void> }> {
  const { db, clock } = deps;
  const recipients = [...q.recipientsById(chunk.recipients).values()];
  const { pii } = deps;
  // PII at rest: each address is hashed once here, into one buffer, for the fingerprint check and every seal after it
  const emails = recipients.map((r) => normalizeEmail(r.email));
  const packed = pii === undefined ? undefined : pii.blindIndexes(emails);
  const suppressed = await findSuppressed(db, emails, packed);
  const consents = await findConsents(
    db,
    recipients.map((r) => r.id),
  );
  const withdrawn =
    topic === undefined || deps.topics === undefined
      ? undefined
      : await deps.topics.unsubscribedFrom(
          recipients.map((r) => r.email),
          topic,
        );
  const eligible: Recipient[] = [];
  const excluded: ledger.LedgerExclusion[] = [];
  const byContact = new Map<string, Buffer>();
  for (const [i, r] of recipients.entries()) {
    const email = emails[i]!;
    const recorded = consents.get(r.id);
    const verdict = checkEligibility(
      {
        suppressedReason: suppressed.get(email),
        consent: recorded?.status ?? consentFromField(r.fields.marketingOptIn),
        basis: recorded?.basis,
        country: r.country,
      },
      deps.geoOverrides,
    );
    const at = i * SUBJECT_BYTES;
    if (verdict.eligible && withdrawn?.has(email) !== true) {
      // the send stage seals the eligible ones' ledger rows with the subject carried in the chunk.
      // The subject goes before the spread: a property added after an object spread takes V8's
      // slow path, for this object and every later spread of it (decision 0042)
      eligible.push(
        packed === undefined
          ? { ...r, email }
          : { subject: packed.toString('base64url', at, at + SUBJECT_BYTES), ...r, email },
      );
      continue;
    }
    const reason = verdict.eligible ? topicReason(topic!) : verdict.reason;
    excluded.push({ contactId: r.id, email, state: 'suppressed', reason });
    if (packed !== undefined) byContact.set(r.id, packed.subarray(at, at + SUBJECT_BYTES));
  }
  const recorded = (async () => {
    const rows = await sealed(pii, excluded, byContact);
    await ledger.recordExclusions(db, chunk.campaignId, chunk.seq, rows, clock.now(), { firstTry });
  })();
  return { eligible, recorded };
}

/**
 * enrich: the chunk's CRM records — from the profile cache when there is one (one query; only
 * missing or stale profiles are fetched, paced by the batcher), else one CRM look-up. A CRM
 * failure rejects: no recipient of the chunk goes on without its enrichment.
 */
export async function enrich(deps: BlastDeps, recipients: Recipient[], campaignId?: string): Promise<Recipient[]> {
  if (recipients.length === 0) return recipients;
  const ids = recipients.map((r) => r.id);
  let records: Map<string, CrmRecord>;
  if (deps.profiles === undefined) records = await deps.crm.lookup(ids);
  else {
    const cache = deps.profiles;
    const onFetch =
      campaignId === undefined
        ? undefined
        : async (plan: { missing: number; requests: number; expectedMs: number }) => {
            // a wait worth showing: the fetch is paced by the CRM's rate limit for at least a second
            if (plan.expectedMs < 1_000) return;
            const reason =
              `waiting on the CRM's rate limit (${cache.crm}): fetching ${plan.missing} contact profiles `
              + `in ${plan.requests} requests`;
            await q.setCrmWait(deps.db, campaignId, reason, new Date(deps.clock.now().getTime() + plan.expectedMs));
          };
    records = (await cache.read(ids, onFetch === undefined ? undefined : { onFetch })).records;
  }
  return recipients.map((r) => {
    const crm = records.get(r.id);
    return crm === undefined
      ? r
      : {
          ...r,
          fields: {
            ...r.fields,
            crm: {
              accountStatus: crm.accountStatus,
              tier: crm.tier,
              owner: crm.owner?.name,
              engagementScore: crm.engagementScore,
              ...crm.fields,
            },
          },
        };
  });
}

/** schedule: frequency cap, then each recipient's due time; returns the parts by due time. */
export async function schedule(
  deps: BlastDeps,
  c: Campaign,
  seq: number,
  input: Recipient[],
): Promise<{ due: Date; recipients: Recipient[] }[]> {
  const { db, clock } = deps;
  const now = clock.now();
  let recipients = input;
  const cap = c.definition.frequencyCap;
  if (cap !== undefined && recipients.length > 0) {
    const over = await ledger.overCap(
      db,
      recipients.map((r) => r.id),
      new Date(now.getTime() - cap.windowHours * 3_600_000),
      cap.max,
    );
    if (over.size > 0) {
      const reason = `frequency_cap:${cap.max}/${cap.windowHours}h`;
      await ledger.recordExclusions(
        db,
        c.id,
        seq,
        await sealed(
          deps.pii,
          recipients
            .filter((r) => over.has(r.id))
            .map((r) => ({ contactId: r.id, email: r.email, state: 'capped' as const, reason })),
          carriedSubjects(recipients),
        ),
        now,
      );
      recipients = recipients.filter((r) => !over.has(r.id));
    }
  }
  const rules = c.definition.schedule ?? {};
  // a chunk has few distinct time zones: each one's next allowed time is worked out once
  const dueByZone = new Map<string | undefined, number>();
  const dueIn = (tz: string | undefined): number => {
    let due = dueByZone.get(tz);
    if (due === undefined) {
      due = Math.max(now.getTime(), nextAllowedTime(now, tz, rules).getTime());
      dueByZone.set(tz, due);
    }
    return due;
  };
  const best = rules.bestTime === true ? await bestTimes(db, recipients, now, rules, dueIn) : undefined;
  const byDue = new Map<number, Recipient[]>();
  for (const r of recipients) {
    const due = best?.get(r.id) ?? dueIn(r.timezone);
    const list = byDue.get(due);
    if (list === undefined) byDue.set(due, [r]);
    else list.push(r);
  }
  return [...byDue.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([due, list]) => ({ due: new Date(due), recipients: list }));
}

const LEARN_DAYS = 90;
const HUMAN_ENGAGEMENT = `
  select contact_id, occurred_at from engagement_events
  where contact_id = any($1::text[]) and type in ('opened', 'clicked') and not is_machine and occurred_at > $2`;

/**
 * "Send at the best time within 24 h": each contact's open-hour histogram from its human opens
 * and clicks (one query per chunk), falling back to the chunk's merged histogram (the segment),
 * then to the first allowed time. Quiet hours and the send window still apply.
 */
async function bestTimes(
  db: Db,
  recipients: readonly Recipient[],
  now: Date,
  rules: NonNullable<Campaign['definition']['schedule']>,
  earliestIn: (tz: string | undefined) => number,
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ contact_id: string; occurred_at: Date }>(HUMAN_ENGAGEMENT, [
    recipients.map((r) => r.id),
    new Date(now.getTime() - LEARN_DAYS * 86_400_000),
  ]);
  const tzOf = new Map(recipients.map((r) => [r.id, r.timezone ?? 'UTC']));
  const perContact = new Map<string, OpenHistogram>();
  for (const row of rows.sort((a, b) => a.occurred_at.getTime() - b.occurred_at.getTime())) {
    perContact.set(
      row.contact_id,
      addEngagement(
        perContact.get(row.contact_id) ?? emptyHistogram(),
        row.occurred_at,
        tzOf.get(row.contact_id) ?? 'UTC',
      ),
    );
  }
  const segment = mergeHistograms([...perContact.values()]);
  const result = new Map<string, number>();
  for (const r of recipients) {
    const earliest = new Date(earliestIn(r.timezone));
    const at = bestSendTime(
      { contact: perContact.get(r.id), segment },
      {
        tz: r.timezone ?? 'UTC',
        earliest,
        withinHours: 24,
        quietHours: rules.quiet,
        sendWindow: rules.window,
        spreadKey: r.id,
      },
    );
    result.set(r.id, at.getTime());
  }
  return result;
}

/**
 * The recipients as the send stage needs them: id, email and the contact fields the template
 * reads (null: all of them). Every other field would be JSON that prepare stringifies, PostgreSQL
 * stores and the send worker parses for nothing; the demo template reads two.
 */
export function forRender(recipients: Recipient[], fields: ReadonlySet<string> | null): Recipient[] {
  if (fields === null) return recipients;
  return recipients.map((r) => {
    const kept: Record<string, unknown> = {};
    for (const f of fields) if (Object.hasOwn(r.fields, f)) kept[f] = r.fields[f];
    return { ...r, fields: kept };
  });
}

/**
 * prepare = comply → enrich → schedule on one chunk, in memory, then the chunk is marked
 * prepared. They run in one process because each bus hop of a 1000-recipient chunk costs
 * serialisation and storage (docs/decisions/0004-one-prepare-step.md), while none of
 * them needs to scale apart. Parts due now go to the send queue; later ones are staged until due.
 * Returns how many parts the chunk became.
 */
async function prepareChunk(
  deps: BlastDeps,
  c: Campaign,
  chunk: ChunkPayload,
  fields: ReadonlySet<string> | null,
  firstTry: boolean,
): Promise<number> {
  const { db } = deps;
  const { campaignId, seq } = chunk;
  const { eligible, recorded } = await complyChunk(deps, chunk, firstTry, c.definition.topic);
  // the excluded recipients' rows are written while the eligible ones are enriched and handed on;
  // both are settled before either failure is thrown, so a retry never races a write still running
  const [handed, written] = await Promise.allSettled([handOn(deps, c, chunk, eligible, fields), recorded]);
  if (handed.status === 'rejected') throw handed.reason;
  if (written.status === 'rejected') throw written.reason;
  await q.markChunkPrepared(db, campaignId, seq, chunk.recipients.length, handed.value);
  return handed.value;
}

/** enrich → schedule → split by variant → publish (or stage) the eligible recipients of a chunk; returns the parts. */
async function handOn(
  deps: BlastDeps,
  c: Campaign,
  chunk: ChunkPayload,
  eligible: Recipient[],
  fields: ReadonlySet<string> | null,
): Promise<number> {
  const { db, bus, clock } = deps;
  const { campaignId, seq } = chunk;
  const enriched = await enrich(deps, eligible, campaignId);
  const scheduled = await schedule(deps, c, seq, enriched);
  const parts = splitByVariant(
    c,
    scheduled,
    await variantsFor(
      db,
      c,
      seq,
      scheduled.flatMap((p) => p.recipients),
      clock.now(),
    ),
  );
  const topic = TOPICS.ready(c.definition.priority);
  const now = clock.now().getTime();
  const ready = [];
  for (const [part, p] of parts.entries()) {
    const message = {
      id: `${campaignId}:chunk:${seq}:${part}`,
      key: campaignId,
      payload: {
        campaignId,
        seq,
        part,
        ...(p.variant === undefined ? {} : { variant: p.variant }),
        recipients: forRender(p.recipients, fields),
      },
    };
    if (p.due.getTime() <= now) ready.push(message);
    else await stageChunk(db, { topic, id: message.id, dueAt: p.due, payload: message.payload });
  }
  if (ready.length > 0) await publishTo(bus, topic, ready);
  return parts.length;
}

/** The contact fields the campaign's template reads (forRender); null: all of them. */
async function templateFields(deps: BlastDeps, c: Campaign): Promise<ReadonlySet<string> | null> {
  if (deps.templates === undefined) return null;
  const templates = deps.templates;
  // an A/B test's variants may each read other fields: the union of them all
  const variants = c.definition.abTest === undefined ? [undefined] : c.definition.abTest.variants.map((_, i) => i);
  try {
    const sets = await Promise.all(variants.map((v) => templates.get(c, v).then((t) => t.contactFields)));
    if (sets.some((f) => f === null)) return null;
    return new Set(sets.flatMap((f) => [...f!]));
  } catch {
    return null;
  }
}

/**
 * Chunks on `blast.selected` (published by an older version for a campaign running across an
 * upgrade, or a dead letter replayed there) are prepared here.
 */
export async function handleSelectedChunk(deps: BlastDeps, m: Delivery<ChunkPayload>): Promise<void | Deferral> {
  const c = await q.getCampaign(deps.db, m.payload.campaignId);
  if (c === null) throw new SwitchyardError('NOT_FOUND', `campaign ${m.payload.campaignId} not found`);
  if (c.status === 'paused') return paused('campaign paused');
  if (c.status !== 'running') return;
  const fields = await templateFields(deps, c);
  let parts: number;
  try {
    parts = await prepareChunk(deps, c, m.payload, fields, m.attempt === 1);
  } catch (err) {
    const wait = await waitForCrm(deps, c.id, err);
    if (wait !== null) return wait;
    throw err;
  }
  await q.clearCrmWait(deps.db, c.id);
  // a chunk with nothing left to send may be the campaign's last (select completes its own steps)
  if (parts === 0) await finishIfDone(deps, c.id, deps.clock.now());
}

export function blastEarlyStages(deps: BlastDeps): StageDefinition[] {
  const on =
    <P>(fn: (d: BlastDeps, m: Delivery<P>) => Promise<void | Deferral>) =>
    (m: Delivery<P>) =>
      fn(deps, m);
  return [
    // steps of different campaigns run side by side; one campaign's steps follow each other (continuations)
    {
      name: 'select',
      consumers: [
        consumerOf({ topic: TOPICS.select, group: 'select', batchSize: 2, concurrency: 2 }, on(handleSelect)),
      ],
    },
    // the staged-chunk dispatcher runs here too (app.ts)
    {
      name: 'prepare',
      consumers: [
        consumerOf({ topic: TOPICS.selected, group: 'prepare', batchSize: 4, concurrency: 4 }, on(handleSelectedChunk)),
      ],
    },
  ];
}
