/**
 * The send stage: last-moment suppression check, render, ledger claim, ESP hand-off, outcome.
 * Ledger discipline (the idempotency record): a recipient is sent only when this chunk's claim
 * inserted its row (→ `rendered`), so a redelivered chunk never sends a row twice. A row left `rendered` by an interrupted
 * attempt has an unknown outcome; it becomes `unknown` and is never resent automatically.
 */
import type { Logger } from 'pino';
import type { Deferral } from '../bus/consumer.ts';
import type { Bus, Delivery } from '../bus/port.ts';
import type { StageDefinition } from '../bus/stage.ts';
import type { Clock } from '../clock/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import type { Esp, OutboundMessage } from '../connectors/esp/port.ts';
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
  const ids = recipients.map((r) => r.id);
  if (m.attempt > 1) await q.moveLedger(db, campaignId, ids, ['rendered'], 'unknown', 'send interrupted; outcome unknown', clock.now());

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

  const claimed = await q.claimForSend(db, campaignId, seq, messages.map((msg) => ({ contactId: msg.correlation.contactId, email: msg.to.address, messageId: msg.messageId })), deps.esp.name, now);
  const toSend = messages.filter((msg) => claimed.has(msg.correlation.contactId));
  const results = toSend.length === 0 ? [] : await deps.esp.sendBatch(toSend);
  const lastAttempt = m.attempt >= deps.maxAttempts;
  let retryAfterMs = 0;
  const outcomes: q.SendResult[] = results.map((res, i) => {
    const contactId = toSend[i]!.correlation.contactId;
    if (res.ok) return { contactId, state: 'sent', espMessageId: res.receipt.providerMessageId };
    const error = `${res.error.code}: ${res.error.message}`;
    if (res.error.retryable && !lastAttempt) {
      retryAfterMs = Math.max(retryAfterMs, res.error.retryAfterMs ?? 0);
      return { contactId, state: 'retry', error };
    }
    return { contactId, state: 'failed', error };
  });
  await q.recordSendResults(db, campaignId, outcomes, clock.now());
  const retrying = outcomes.filter((o) => o.state === 'retry');
  if (retrying.length > 0) {
    throw new SwitchyardError('ESP_UNAVAILABLE', `${retrying.length} of ${toSend.length} message(s) of chunk ${seq} part ${part} must be retried: ${retrying[0]!.error}`,
      { retryable: true, retryAfterMs: retryAfterMs || undefined });
  }
  await q.markPartDone(db, campaignId, seq, part);
  await q.completeIfDone(db, campaignId, clock.now());
}

export function sendStage(deps: SendDeps): StageDefinition {
  // one consumer per priority; transactional gets the most handlers so it overtakes bulk
  const concurrency = { transactional: 8, triggered: 6, bulk: 4 } as const;
  return {
    name: 'send',
    consumers: PRIORITIES.map((p) => ({
      options: { topic: TOPICS.ready(p), group: 'send', batchSize: concurrency[p], concurrency: concurrency[p], maxAttempts: deps.maxAttempts },
      handler: (m: Delivery<ChunkPayload>) => handleSend(deps, m),
    })),
  };
}
