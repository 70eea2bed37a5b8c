/**
 * The send stage: last-moment suppression check, render, ledger claim, ESP hand-off, outcome.
 * Ledger discipline (the idempotency record): only `queued` rows are claimed (→ `rendered`) and
 * sent, so a redelivered chunk never sends a row twice. A row left `rendered` by an interrupted
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
import { messageIdFor, renderMessage } from './render/render-message.ts';
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
  const { campaignId, recipients } = m.payload;
  const c = await q.getCampaign(db, campaignId);
  if (c === null) throw new SwitchyardError('NOT_FOUND', `campaign ${campaignId} not found`);
  if (c.status === 'paused' || c.status === 'draft') return { kind: 'defer', delayMs: RECHECK_MS, reason: `campaign ${c.status}` };
  const ids = recipients.map((r) => r.id);
  if (c.status !== 'running') {
    if (c.status === 'cancelled') await q.moveLedger(db, campaignId, ids, ['queued'], 'cancelled', null, clock.now());
    return;
  }
  if (m.attempt > 1) await q.moveLedger(db, campaignId, ids, ['rendered'], 'unknown', 'send interrupted; outcome unknown', clock.now());

  // last moment: an unsubscribe that landed while this chunk waited stops it here
  const suppressed = await findSuppressed(db, recipients.map((r) => r.email));
  const bySuppression = new Map<string, string[]>();
  for (const r of recipients) {
    const reason = suppressed.get(normalizeEmail(r.email));
    if (reason !== undefined) bySuppression.set(reason, [...(bySuppression.get(reason) ?? []), r.id]);
  }
  for (const [reason, list] of bySuppression) await q.moveLedger(db, campaignId, list, ['queued'], 'suppressed', `suppressed_before_send:${reason}`, clock.now());

  const compiled = await deps.templates.get(c);
  const campaign = renderCampaignOf(c, deps.render);
  const now = clock.now();
  const messages: OutboundMessage[] = [];
  const renderFailures: q.SendResult[] = [];
  for (const r of recipients) {
    if (suppressed.has(normalizeEmail(r.email))) continue;
    try {
      messages.push(renderMessage(compiled, { contact: { ...r.fields, id: r.id, email: r.email }, campaign, sendAt: now }));
    } catch (err) {
      renderFailures.push({ contactId: r.id, state: 'failed', error: `${(err as SwitchyardError).code ?? 'TEMPLATE_RENDER_FAILED'}: ${(err as Error).message}` });
    }
  }
  if (renderFailures.length > 0) {
    await q.moveLedger(db, campaignId, renderFailures.map((f) => f.contactId), ['queued'], 'failed', 'render failed', now);
    await deps.bus.deadLetters.add({ stage: 'render', payload: { campaignId, failures: renderFailures }, code: 'TEMPLATE_RENDER_FAILED', message: `${renderFailures.length} recipient(s) of campaign ${campaignId} failed to render; first: ${renderFailures[0]!.error}` });
  }

  const claimed = await q.claimForSend(db, campaignId, messages.map((msg) => ({ contactId: msg.correlation.contactId, messageId: messageIdFor(campaignId, msg.correlation.contactId, campaign.messageIdDomain) })), deps.esp.name, now);
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
      return { contactId, state: 'queued', error };
    }
    return { contactId, state: 'failed', error };
  });
  await q.recordSendResults(db, campaignId, outcomes, clock.now());
  const retrying = outcomes.filter((o) => o.state === 'queued').length;
  if (retrying > 0) {
    throw new SwitchyardError('ESP_UNAVAILABLE', `${retrying} of ${toSend.length} message(s) of chunk ${m.payload.seq} must be retried: ${outcomes.find((o) => o.state === 'queued')!.error}`,
      { retryable: true, retryAfterMs: retryAfterMs || undefined });
  }
  await q.completeIfDone(db, campaignId, clock.now());
}

export function sendStage(deps: SendDeps): StageDefinition {
  // one consumer per priority; transactional gets the most handlers so it overtakes bulk
  const concurrency = { transactional: 8, triggered: 4, bulk: 2 } as const;
  return {
    name: 'send',
    consumers: PRIORITIES.map((p) => ({
      options: { topic: TOPICS.ready(p), group: 'send', batchSize: concurrency[p], concurrency: concurrency[p], maxAttempts: deps.maxAttempts },
      handler: (m: Delivery<ChunkPayload>) => handleSend(deps, m),
    })),
  };
}
