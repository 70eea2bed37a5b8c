/**
 * The send stage: last-moment suppression check, render, ledger claim, ESP hand-off, outcome.
 * Ledger discipline (the idempotency record): a recipient is sent only under a claim this chunk
 * made (row → `rendered`), and becomes `sent` at the provider's commit point (SMTP: before the
 * final dot, group-committed), so a crash before that point leaves a `rendered` row the provider
 * never accepted — safe to claim again once stale — and a crash after it leaves `sent`.
 */
import type { Logger } from 'pino';
import type { Deferral } from '../bus/consumer.ts';
import type { Bus, Delivery } from '../bus/port.ts';
import type { StageDefinition } from '../bus/stage.ts';
import type { Clock } from '../clock/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import type { BatchResult, Esp, OutboundMessage } from '../connectors/esp/port.ts';
import { findSuppressed, normalizeEmail } from '../compliance/suppression.ts';
import type { Db } from '../store/port.ts';
import * as q from './queries.ts';
import { renderMessage } from './render/render-message.ts';
import type { TemplateCache, RenderSettings } from './template-cache.ts';
import { renderCampaignOf } from './template-cache.ts';
import { PRIORITIES, TOPICS, type ChunkPayload } from './types.ts';

export interface SendDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
  esp: Esp;
  templates: TemplateCache;
  render: RenderSettings;
  maxAttempts: number;
  /** Lease of a chunk; a `rendered` claim older than this belongs to a worker that died. */
  leaseMs: number;
}

const RECHECK_MS = 5_000;


export async function handleSend(deps: SendDeps, m: Delivery<ChunkPayload>): Promise<void | Deferral> {
  const { db, clock } = deps;
  const { campaignId, seq, part = 0, recipients } = m.payload;
  const c = await q.getCampaign(db, campaignId);
  if (c === null) throw new SwitchyardError('NOT_FOUND', `campaign ${campaignId} not found`);
  if (c.status === 'paused' || c.status === 'draft') return { kind: 'defer', delayMs: RECHECK_MS, reason: `campaign ${c.status}` };
  if (c.status !== 'running') {
    if (c.status === 'cancelled') {
      await q.insertExclusions(db, campaignId, seq, recipients.map((r) => ({ contactId: r.id, email: r.email, state: 'cancelled', reason: 'campaign cancelled' })), clock.now());
    }
    return;
  }
  // last moment: an unsubscribe that landed while this chunk waited stops it here
  const suppressed = await findSuppressed(db, recipients.map((r) => r.email));
  const exclusions: q.LedgerExclusion[] = [];
  const compiled = await deps.templates.get(c);
  const campaign = renderCampaignOf(c, deps.render);
  const now = clock.now();
  const messages: OutboundMessage[] = [];
  for (const r of recipients) {
    const reason = suppressed.get(normalizeEmail(r.email));
    if (reason !== undefined) {
      exclusions.push({ contactId: r.id, email: r.email, state: 'suppressed', reason: `suppressed_before_send:${reason}` });
      continue;
    }
    try {
      messages.push(renderMessage(compiled, { contact: { ...r.fields, id: r.id, email: r.email }, campaign, sendAt: now }));
    } catch (err) {
      exclusions.push({ contactId: r.id, email: r.email, state: 'failed', reason: `${(err as SwitchyardError).code ?? 'TEMPLATE_RENDER_FAILED'}: ${(err as Error).message}` });
    }
  }
  await q.insertExclusions(db, campaignId, seq, exclusions, now);
  const renderFailures = exclusions.filter((e) => e.state === 'failed');
  if (renderFailures.length > 0) {
    await deps.bus.deadLetters.add({ stage: 'render', payload: { campaignId, seq, part, contactIds: renderFailures.map((f) => f.contactId) }, code: 'TEMPLATE_RENDER_FAILED', message: `${renderFailures.length} recipient(s) of campaign ${campaignId} failed to render; first: ${renderFailures[0]!.reason}` });
  }

  const claimed = await q.claimForSend(db, campaignId, seq, messages.map((msg) => ({ contactId: msg.correlation.contactId, email: msg.to.address, messageId: msg.messageId })),
    deps.esp.name, now, new Date(now.getTime() - deps.leaseMs));
  const toSend = messages.filter((msg) => claimed.has(msg.correlation.contactId));
  const committer = createCommitter(db, campaignId, claimed, clock);
  let results: BatchResult[] = [];
  if (toSend.length > 0) {
    if (deps.esp.commitPoint === 'before-final-dot') {
      results = await deps.esp.sendBatch(toSend, { beforeCommit: (msg) => committer.commit(msg.correlation.contactId) });
    } else {
      // the provider commits on the request itself: record first (at most once), then send
      const committed = await q.commitSent(db, campaignId, toSend.map((msg) => ({ contactId: msg.correlation.contactId, attempt: claimed.get(msg.correlation.contactId)! })), clock.now());
      const going = toSend.filter((msg) => committed.has(msg.correlation.contactId));
      const sent = going.length === 0 ? [] : await deps.esp.sendBatch(going);
      const byId = new Map(going.map((msg, i) => [msg.correlation.contactId, sent[i]!]));
      results = toSend.map((msg) => byId.get(msg.correlation.contactId) ?? { ok: false, error: new SwitchyardError('ESP_UNAVAILABLE', 'claim taken over by another worker', { retryable: false }) });
    }
  }
  const lastAttempt = m.attempt >= deps.maxAttempts;
  let retryAfterMs = 0;
  const failures: { contactId: string; attempt: number; state: 'failed' | 'retry'; error: string }[] = [];
  results.forEach((res, i) => {
    if (res.ok) return;
    const contactId = toSend[i]!.correlation.contactId;
    const error = `${res.error.code}: ${res.error.message}`;
    const retry = res.error.retryable && !lastAttempt;
    if (retry) retryAfterMs = Math.max(retryAfterMs, res.error.retryAfterMs ?? 0);
    failures.push({ contactId, attempt: claimed.get(contactId)!, state: retry ? 'retry' : 'failed', error });
  });
  await q.recordSendFailures(db, campaignId, failures, clock.now());
  const retrying = failures.filter((f) => f.state === 'retry');
  if (retrying.length > 0) {
    throw new SwitchyardError('ESP_UNAVAILABLE', `${retrying.length} of ${toSend.length} message(s) of chunk ${seq} part ${part} must be retried: ${retrying[0]!.error}`,
      { retryable: true, retryAfterMs: retryAfterMs || undefined });
  }
  await q.markPartDone(db, campaignId, seq, part);
  await q.completeIfDone(db, campaignId, clock.now());
}

/**
 * Group commit for the 'before-final-dot' commit point: every message waiting at its final dot
 * joins the next statement (one per event-loop turn), so the ledger write costs one round trip
 * per group of concurrent SMTP transactions, not one per message.
 */
function createCommitter(db: Db, campaignId: string, claims: ReadonlyMap<string, number>, clock: Clock): { commit(contactId: string): Promise<void> } {
  let pending: { contactId: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  const flush = async (): Promise<void> => {
    const group = pending;
    pending = [];
    try {
      const done = await q.commitSent(db, campaignId, group.map((g) => ({ contactId: g.contactId, attempt: claims.get(g.contactId)! })), clock.now());
      for (const g of group) if (done.has(g.contactId)) g.resolve(); else g.reject(new Error(`ledger claim of ${g.contactId} was taken over`));
    } catch (err) {
      for (const g of group) g.reject(err as Error);
    }
  };
  return {
    commit(contactId) {
      return new Promise<void>((resolve, reject) => {
        if (pending.length === 0) setImmediate(() => void flush());
        pending.push({ contactId, resolve, reject });
      });
    },
  };
}

export function sendStage(deps: SendDeps): StageDefinition {
  // one consumer per priority; transactional gets the most handlers so it overtakes bulk
  const concurrency = { transactional: 8, triggered: 6, bulk: 4 } as const;
  return {
    name: 'send',
    consumers: PRIORITIES.map((p) => ({
      options: { topic: TOPICS.ready(p), group: 'send', batchSize: concurrency[p], concurrency: concurrency[p], maxAttempts: deps.maxAttempts, leaseMs: deps.leaseMs },
      handler: (m: Delivery<ChunkPayload>) => handleSend(deps, m),
    })),
  };
}
