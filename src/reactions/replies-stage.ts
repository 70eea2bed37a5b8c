/**
 * Replies → intent → automation or a person. The `replies` group reads each `replied` event's
 * stored text (engagement_events.raw: `trimmedText`, else `text`, which is trimmed here; the
 * inbound path also stores `subject`), classifies the intent (core/reply) and acts only on a
 * clear result: unsubscribe_request → an `unsubscribed` event through ingest (suppression now,
 * propagation follows); complaint → the same, plus a review item so a person sees it;
 * interested → one CRM follow-up task (dedupeKey = the reply's sourceId); out_of_office → no
 * action. Everything else, and anything automation cannot complete (no contact, no address, the
 * CRM refusing the task), goes to the review queue. Automation runs only for a reply the inbound
 * path verified (`raw.verified`: a reply to one of our messages, from the address it went to);
 * anyone can send us "unsubscribe me" in someone else's name, so every other reply is reviewed.
 * Every step is idempotent under redelivery.
 */
import type { Logger } from 'pino';
import type { StageDefinition } from '../bus/stage.ts';
import type { Clock } from '../clock/port.ts';
import type { Crm } from '../connectors/crm/port.ts';
import { isSwitchyardError } from '../core/errors.ts';
import type { EngagementEvent } from '../core/events.ts';
import { classifyReplyIntent, type IntentResult } from '../core/reply/intent.ts';
import { trimReplyText } from '../core/reply/trim.ts';
import type { Db } from '../store/port.ts';
import type { Ingest } from './ingest.ts';
import { openPayloads } from './ingest.ts';
import { addReviewItems, replyUnsubscribeSourceId, type NewReviewItem, type ReviewPii } from './review-queue.ts';
import { consumerOf, TOPICS, type ReactionBatch, type StoredEvent } from '../bus/topics.ts';

export interface RepliesStageDeps {
  db: Db;
  clock: Clock;
  crm: Crm;
  ingest: Ingest;
  log: Logger;
  /** Intent classifier; default classifyReplyIntent with the default rules. */
  classify?: (text: string) => IntentResult;
  /** PII at rest: reply payloads and review excerpts are sealed per sender (src/privacy/). */
  pii?: ReviewPii;
}

export type ReplyAction = 'unsubscribe' | 'unsubscribe_and_review' | 'task' | 'none' | 'review';

export interface ReplyOutcome {
  sourceId: string;
  intent: string;
  confidence: number;
  action: ReplyAction;
}

const EXCERPT_CHARS = 500;

/** What a classified reply leads to (before checking that automation can carry it out). */
export function decideReplyAction(result: Pick<IntentResult, 'intent' | 'isClear'>): ReplyAction {
  if (!result.isClear) return 'review';
  switch (result.intent) {
    case 'unsubscribe_request':
      return 'unsubscribe';
    case 'complaint':
      return 'unsubscribe_and_review';
    case 'interested':
      return 'task';
    case 'out_of_office':
      return 'none';
    case 'wrong_person':
    case 'other':
      return 'review';
  }
}

/** Whether the inbound path verified this reply (raw.verified === true); anything else is not. */
export function isVerifiedReply(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && (raw as { verified?: unknown }).verified === true;
}

/** The reply text stored by the inbound path: trimmedText, else text (trimmed here). */
export function replyText(raw: unknown): string {
  if (typeof raw !== 'object' || raw === null) return '';
  const r = raw as { trimmedText?: unknown; text?: unknown };
  if (typeof r.trimmedText === 'string') return r.trimmedText;
  return typeof r.text === 'string' ? trimReplyText(r.text) : '';
}

const RAW = `select source_id, raw from engagement_events where source_id = any($1::text[])`;

/** Handles the replies of one reaction batch; returns what happened to each. */
export async function handleReplies(deps: RepliesStageDeps, batch: ReactionBatch): Promise<ReplyOutcome[]> {
  const replies = batch.events.filter((e) => e.type === 'replied');
  if (replies.length === 0) return [];
  const classify = deps.classify ?? ((text: string) => classifyReplyIntent(text));
  const { rows } = await deps.db.query<{ source_id: string; raw: unknown }>(RAW, [replies.map((e) => e.sourceId)]);
  const raws = await openPayloads(
    deps.pii?.openMany,
    rows.map((r) => r.raw),
  );
  const rawById = new Map(rows.map((r, i) => [r.source_id, raws[i]]));
  const now = deps.clock.now();
  const outcomes: ReplyOutcome[] = [];
  const unsubscribes: EngagementEvent[] = [];
  const review: NewReviewItem[] = [];

  for (const e of replies) {
    const raw = rawById.get(e.sourceId);
    const text = replyText(raw);
    const result = classify(text);
    let action = decideReplyAction(result);
    if (action !== 'none' && !isVerifiedReply(raw)) action = 'review';
    const item: NewReviewItem = {
      sourceId: e.sourceId,
      contactId: e.contactId,
      campaignId: e.campaignId,
      intent: result.intent,
      confidence: result.confidence,
      excerpt: excerpt(text),
      email: e.email,
    };
    if ((action === 'unsubscribe' || action === 'unsubscribe_and_review') && e.email === null) action = 'review';
    if (action === 'task' && e.contactId === null) action = 'review';
    if (action === 'task') action = await createFollowUpTask(deps, e, result, item.excerpt);
    if (action === 'unsubscribe' || action === 'unsubscribe_and_review') unsubscribes.push(unsubscribeEvent(e, result));
    if (action === 'review' || action === 'unsubscribe_and_review') review.push(item);
    outcomes.push({ sourceId: e.sourceId, intent: result.intent, confidence: result.confidence, action });
  }
  if (unsubscribes.length > 0) await deps.ingest(unsubscribes);
  if (review.length > 0) await addReviewItems(deps.db, review, now, deps.pii);
  return outcomes;
}

/** 'task' when the CRM took it; 'review' when the CRM refused it permanently (a person decides). */
async function createFollowUpTask(
  deps: RepliesStageDeps,
  e: StoredEvent,
  result: IntentResult,
  text: string,
): Promise<ReplyAction> {
  try {
    await deps.crm.createTask({
      contactId: e.contactId!,
      kind: 'reply-follow-up',
      title: 'Interested reply to a campaign',
      body:
        `${text}\n\n(intent ${result.intent}, confidence ${result.confidence}`
        + `${e.campaignId === null ? '' : `, campaign ${e.campaignId}`})`,
      dedupeKey: e.sourceId,
    });
    return 'task';
  } catch (err) {
    if (isSwitchyardError(err) && !err.retryable) {
      deps.log.warn({ contactId: e.contactId, code: err.code }, 'CRM refused the reply follow-up task; sent to review');
      return 'review';
    }
    throw err; // retryable: the bus redelivers the batch, and every step above is idempotent
  }
}

/** The opt-out took effect when the person replied, so the event carries the reply's time. */
function unsubscribeEvent(e: StoredEvent, result: IntentResult): EngagementEvent {
  return {
    type: 'unsubscribed',
    sourceId: replyUnsubscribeSourceId(e.sourceId),
    provider: 'inbound',
    occurredAt: new Date(e.occurredAt),
    email: e.email!,
    ...(e.contactId === null ? {} : { contactId: e.contactId }),
    ...(e.campaignId === null ? {} : { campaignId: e.campaignId }),
    ...(e.messageId === null ? {} : { messageId: e.messageId }),
    reason: 'reply',
    raw: {
      via: 'reply',
      replySourceId: e.sourceId,
      intent: result.intent,
      confidence: result.confidence,
      rule: result.matchedRule?.ruleId ?? null,
    },
  };
}

function excerpt(text: string): string {
  const t = text.trim();
  return t.length <= EXCERPT_CHARS ? t : `${t.slice(0, EXCERPT_CHARS - 1)}…`;
}

export function repliesStage(deps: RepliesStageDeps): StageDefinition {
  return {
    name: 'replies',
    consumers: [
      consumerOf({ topic: TOPICS.reactions, group: 'replies', batchSize: 20 }, async (m) => {
        await handleReplies(deps, m.payload);
      }),
    ],
  };
}
