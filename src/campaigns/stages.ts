/**
 * The blast road's early stages: select (warehouse → chunks, resumable by continuation
 * messages), comply (suppression, consent, geography → ledger rows), enrich (CRM batch look-ups)
 * and schedule (send window, quiet hours, frequency cap → ready now, or staged until due).
 * Each handler is idempotent: chunk ids are deterministic and every write is set-wise with
 * `on conflict do nothing` or guarded by the state it expects.
 */
import type { Logger } from 'pino';
import type { Deferral } from '../bus/consumer.ts';
import type { Bus, Delivery } from '../bus/port.ts';
import type { StageDefinition } from '../bus/stage.ts';
import type { Clock } from '../clock/port.ts';
import { checkEligibility, consentFromField } from '../core/eligibility.ts';
import { isSwitchyardError, SwitchyardError } from '../core/errors.ts';
import { nextAllowedTime } from '../core/send-window.ts';
import type { Crm } from '../connectors/crm/port.ts';
import type { Warehouse } from '../connectors/warehouse/port.ts';
import { findConsents, findSuppressed, normalizeEmail } from '../compliance/suppression.ts';
import type { Db } from '../store/port.ts';
import * as q from './queries.ts';
import { stageChunk } from './staging.ts';
import { CHUNK_SIZE, CHUNKS_PER_SELECT_STEP, TOPICS, type Audience, type ChunkPayload, type Recipient, type SelectStep } from './types.ts';

export interface BlastDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
  openWarehouse(audience: Audience): Warehouse;
  crm: Crm;
}

const PAUSED_RECHECK_MS = 5_000;
const paused = (reason: string): Deferral => ({ kind: 'defer', delayMs: PAUSED_RECHECK_MS, reason });

/** select: reads CHUNKS_PER_SELECT_STEP chunks after the stored position, then hands on. */
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
  try {
    const warehouse = deps.openWarehouse(c.definition.audience);
    const stream = warehouse.stream({ ...queryOf(c.definition.audience), afterKey: c.selectAfter ?? undefined }, { batchSize: CHUNK_SIZE });
    for await (const batch of stream) {
      await bus.publish<ChunkPayload>(TOPICS.selected, [{ id: `${c.id}:chunk:${seq}`, key: c.id, payload: { campaignId: c.id, seq, recipients: batch.rows } }]);
      for (const r of batch.rejected) {
        await bus.deadLetters.add({ stage: 'select', payload: { campaignId: c.id, rowNumber: r.rowNumber, row: r.raw }, code: 'WAREHOUSE_ROW_INVALID', message: `campaign ${c.id}, row ${r.rowNumber}: ${r.reason}` });
      }
      seq++;
      selected += batch.rows.length;
      rejected += batch.rejected.length;
      after = batch.cursor;
      if (seq - c.selectSeq >= CHUNKS_PER_SELECT_STEP) { done = false; break; }
    }
  } catch (err) {
    const retryable = isSwitchyardError(err) && err.retryable;
    if (retryable && m.attempt < 5) throw err;
    // the audience itself is broken (bad query, missing email column, warehouse gone for good)
    await q.transition(db, c.id, ['running', 'paused'], 'failed', clock.now(), `audience: ${(err as Error).message}`);
    deps.log.error({ campaignId: c.id, err }, 'campaign failed while selecting');
    return;
  }
  if (await q.advanceSelect(db, c.id, c.selectSeq, seq, after, done, selected, rejected, clock.now()) && !done) {
    await bus.publish<SelectStep>(TOPICS.select, [{ id: `${c.id}:select:${seq}`, key: c.id, payload: { campaignId: c.id, seq } }]);
  }
  if (done) await q.completeIfDone(db, c.id, clock.now());
}

function queryOf(a: Audience): { sql?: string; table?: string } {
  return a.source === 'postgres' ? { sql: a.sql, table: a.table } : {};
}

/** comply: suppression, consent and geography for a whole chunk; ledger rows for everyone. */
export async function handleComply(deps: BlastDeps, m: Delivery<ChunkPayload>): Promise<void> {
  const { db, bus, clock } = deps;
  const { campaignId, seq } = m.payload;
  const recipients = [...q.recipientsById(m.payload.recipients).values()];
  const suppressed = await findSuppressed(db, recipients.map((r) => r.email));
  const consents = await findConsents(db, recipients.map((r) => r.id));
  const eligible: Recipient[] = [];
  const rows: q.LedgerInsert[] = recipients.map((r) => {
    const email = normalizeEmail(r.email);
    const verdict = checkEligibility({ suppressedReason: suppressed.get(email), consent: consents.get(r.id) ?? consentFromField(r.fields.marketingOptIn), country: r.country });
    if (verdict.eligible) eligible.push(r);
    return verdict.eligible ? { contactId: r.id, email, state: 'queued', reason: null } : { contactId: r.id, email, state: 'suppressed', reason: verdict.reason };
  });
  await db.transaction((tx) => q.insertLedgerChunk(tx, campaignId, seq, rows, clock.now()));
  await bus.publish<ChunkPayload>(TOPICS.complied, [{ id: `${campaignId}:chunk:${seq}`, key: campaignId, payload: { campaignId, seq, recipients: eligible } }]);
  if (eligible.length === 0) await q.completeIfDone(db, campaignId, clock.now());
}

/** enrich: one CRM look-up per chunk (the batcher splits by the vendor's batch size and rate). */
export async function handleEnrich(deps: BlastDeps, m: Delivery<ChunkPayload>): Promise<void> {
  const { campaignId, seq, recipients } = m.payload;
  const records = recipients.length === 0 ? new Map() : await deps.crm.lookup(recipients.map((r) => r.id));
  const enriched = recipients.map((r) => {
    const crm = records.get(r.id);
    return crm === undefined ? r : { ...r, fields: { ...r.fields, crm: { accountStatus: crm.accountStatus, tier: crm.tier, owner: crm.owner?.name, engagementScore: crm.engagementScore, ...crm.fields } } };
  });
  await deps.bus.publish<ChunkPayload>(TOPICS.enriched, [{ id: `${campaignId}:chunk:${seq}`, key: campaignId, payload: { campaignId, seq, recipients: enriched } }]);
}

/** schedule: frequency cap, then each recipient's due time; due-now goes to the send queue. */
export async function handleSchedule(deps: BlastDeps, m: Delivery<ChunkPayload>): Promise<void> {
  const { db, bus, clock } = deps;
  const { campaignId, seq } = m.payload;
  const c = await q.getCampaign(db, campaignId);
  if (c === null) throw new SwitchyardError('NOT_FOUND', `campaign ${campaignId} not found`);
  const now = clock.now();
  let recipients = m.payload.recipients;
  const cap = c.definition.frequencyCap;
  if (cap !== undefined && recipients.length > 0) {
    const over = await q.overCap(db, recipients.map((r) => r.id), new Date(now.getTime() - cap.windowHours * 3_600_000), cap.max);
    if (over.size > 0) {
      await q.moveLedger(db, campaignId, [...over], ['queued'], 'capped', `frequency_cap:${cap.max}/${cap.windowHours}h`, now);
      recipients = recipients.filter((r) => !over.has(r.id));
    }
  }
  const rules = c.definition.schedule ?? {};
  const byDue = new Map<number, Recipient[]>();
  for (const r of recipients) {
    const due = nextAllowedTime(now, r.timezone, rules).getTime();
    const list = byDue.get(due);
    if (list === undefined) byDue.set(due, [r]); else list.push(r);
  }
  const topic = TOPICS.ready(c.definition.priority);
  const nowParts: ChunkPayload[] = [];
  let part = 0;
  for (const [due, list] of [...byDue.entries()].sort((a, b) => a[0] - b[0])) {
    const payload: ChunkPayload = { campaignId, seq, part: part++, recipients: list };
    if (due <= now.getTime()) nowParts.push(payload);
    else await stageChunk(db, { topic, id: `${campaignId}:chunk:${seq}:${payload.part}`, dueAt: new Date(due), payload });
  }
  if (nowParts.length > 0) {
    await bus.publish<ChunkPayload>(topic, nowParts.map((p) => ({ id: `${campaignId}:chunk:${seq}:${p.part}`, key: campaignId, payload: p })));
  }
  if (recipients.length === 0) await q.completeIfDone(db, campaignId, now);
}

export function blastEarlyStages(deps: BlastDeps): StageDefinition[] {
  const on = <P>(fn: (d: BlastDeps, m: Delivery<P>) => Promise<void | Deferral>) => (m: Delivery<P>) => fn(deps, m);
  return [
    { name: 'select', consumers: [{ options: { topic: TOPICS.select, group: 'select', batchSize: 1, concurrency: 1, leaseMs: 300_000 }, handler: on(handleSelect) }] },
    { name: 'comply', consumers: [{ options: { topic: TOPICS.selected, group: 'comply', batchSize: 4 }, handler: on(handleComply) }] },
    { name: 'enrich', consumers: [{ options: { topic: TOPICS.complied, group: 'enrich', batchSize: 4 }, handler: on(handleEnrich) }] },
    { name: 'schedule', consumers: [{ options: { topic: TOPICS.enriched, group: 'schedule', batchSize: 4 }, handler: on(handleSchedule) }] },
  ];
}
