/**
 * The catalogue of bus topics: every topic name and the payload type its messages carry. Publishers
 * and consumers take names from `TOPICS` only (test/architecture.test.ts rejects a topic written as
 * a string anywhere else in src/), so this file is the one place to see what flows between stages.
 * Wire names never change: messages already stored under a name must still be consumed.
 * Payload types use only core and port types, so the bus layer imports no service.
 */
import type { CrmContactChange } from '../connectors/crm/port.ts';
import type { MappedContact } from '../connectors/warehouse/port.ts';
import type { EngagementEvent } from '../core/events.ts';
import { PRIORITIES, type Priority } from '../core/priority.ts';
import type { ConsumerOptions, Handler } from './consumer.ts';
import type { Bus, OutgoingMessage } from './port.ts';
import type { StageConsumer } from './stage.ts';

export const TOPICS = {
  /** A campaign's select step: read the next chunks of the audience from the warehouse. */
  select: 'blast.select',
  /** A chunk read from the warehouse, before comply, enrich and schedule. */
  selected: 'blast.selected',
  /** A chunk due now, per priority, for the send stage. */
  ready: (p: Priority) => `blast.ready.${p}` as const,
  /** Campaign lifecycle events (`campaign.completed`). */
  campaignEvents: 'campaign.events',
  /** New engagement events of one ingest call (webhooks, tracking, inbound mail). */
  reactions: 'reaction.received',
  /** Addresses newly suppressed, for propagation to connected systems. */
  suppressed: 'contact.suppressed',
  /** One human click on a tracked link, tagged for journeys. */
  linkClicked: 'link.clicked',
  /** One contact change reported by the CRM (webhook or change feed); message id = source:eventId. */
  contactChanged: 'contact.changed',
  /**
   * Contacts became members of lists: the real transitions of one evaluation, each exactly once, up
   * to 1000 per message (message id = list:<first transition's history id>).
   */
  listEntered: 'list.entered',
  /** Contacts stopped being members of lists: like listEntered. */
  listExited: 'list.exited',
  /** A judged anomaly in an engagement or revenue series (once per series and bucket; message id = anomaly id). */
  anomalyDetected: 'anomaly.detected',
  /** A journey's updateCrm step passed by a run: one CRM field update to make (message id = crm:<run>:<step>). */
  journeyCrmUpdate: 'journey.crm-update',
} as const;

/** All blast-road topics start with this, so status views can pick them out of the bus depth. */
export const BLAST_TOPIC_PREFIX = 'blast.';

/** One select step: where the select stage resumes reading the audience. */
export interface SelectStep {
  campaignId: string;
  seq: number;
}

/** ≤ CHUNK_SIZE recipients moving from stage to stage; per-recipient state lives in the ledger. */
export interface ChunkPayload {
  campaignId: string;
  seq: number;
  /** Set once the schedule stage split a chunk by due time. */
  part?: number;
  /** The A/B test variant every recipient of this part is sent (absent: the campaign's own). */
  variant?: number;
  recipients: ChunkRecipient[];
}

/**
 * A recipient on the blast road. With PII at rest on, prepare computes the address's blind index once
 * (`subject`, base64url, docs/privacy.md) and the send stage uses it for its fingerprint check and to
 * seal the ledger's address, instead of hashing the address again.
 */
export type ChunkRecipient = MappedContact & { subject?: string };

export interface CampaignEvent {
  type: 'campaign.completed';
  campaignId: string;
  at: string;
}

/**
 * How long the consumers of `reaction.received` wait after a publish wakes them, so the batches of
 * that interval are fetched, handled and settled together. Each of the seven groups paid its
 * per-batch work (fetch, settle, its statements and commit) for every ingest group of ~900 events;
 * their effects (ledger outcomes, scores, click tags) are not urgent next to that. Suppression is
 * not among them: it happens at ingest, and its propagation reads `contact.suppressed` (decision 0044).
 * consumerOf applies it to every consumer of the topic.
 */
export const REACTION_LINGER_MS = 150;

/** The bus payload: new events of one ingest call (stored rows are the source of truth). */
export interface ReactionBatch {
  events: StoredEvent[];
}
export interface StoredEvent {
  sourceId: string;
  type: EngagementEvent['type'];
  provider: string;
  occurredAt: string;
  email: string | null;
  messageId: string | null;
  campaignId: string | null;
  contactId: string | null;
  isMachine: boolean;
  reason: string | null;
  url: string | null;
}

/** One newly suppressed address; one message per suppression episode. */
export interface SuppressedPayload {
  email: string;
  reason: string;
  source: string;
  contactId: string | null;
  campaignId: string | null;
  at: string;
}

/**
 * One reaction batch's human clicks (`link.clicked`): a chunk per batch, not a message per click, so
 * the bus writes and the consumers' look-ups are per batch (bench/README.md, reactions).
 */
export interface LinkClicksPayload {
  clicks: LinkClickedPayload[];
}

export interface LinkClickedPayload {
  contactId: string;
  campaignId: string | null;
  url: string;
  /** `utm_campaign:<v>`, `utm_content:<v>`, `host:<h>`, `path:<segment>` — lower-case, deduplicated. */
  tags: string[];
  sourceId: string;
  occurredAt: string;
}

/** Why a list membership changed: what moved it, and that thing's id for the history. */
export interface ListTransitionCause {
  /**
   * change: a profile change (intake, warehouse, CRM, own events; id = change id), also for the
   * lists it reached by cascade; timer: a time-relative condition came due; rebuild: a full evaluation;
   * manual: a static list was edited (API, CLI, journey step; id = who asked).
   */
  kind: 'change' | 'timer' | 'rebuild' | 'manual';
  id: string;
}

/** One real membership transition, an element of a `list.entered` / `list.exited` message. */
export interface ListTransition {
  /** Its history row's id: `list:<id>` names this transition alone (a consumer's idempotency key). */
  id: number;
  listId: string;
  contactId: string;
  /** When it happened, ISO 8601 (the injected clock). */
  at: string;
  cause: ListTransitionCause;
}

/**
 * `list.entered` / `list.exited`: the transitions of one evaluation statement in history order
 * (cascade order), written through the outbox as one message per 1000, because a bus row and an
 * outbox row per transition were most of a change's cost (decision 0028). When every transition
 * of a message shares its list, time and cause (a rebuild's), the message carries them once and
 * its elements only `id` and `contactId` (decision 0038); read the elements with listTransitions.
 */
export interface ListTransitionsPayload {
  /** Reserved for multi-workspace deployments; absent in a single-workspace install. */
  workspace?: string;
  /** Shared by every element that does not carry its own (with at and cause). */
  listId?: string;
  at?: string;
  cause?: ListTransitionCause;
  transitions: ListTransitionElement[];
}

/** An element of a message: a whole transition, or its id and contact when the message carries the rest. */
export type ListTransitionElement = Pick<ListTransition, 'id' | 'contactId'> & Partial<ListTransition>;

/** The transitions of a message, whole: an element's own list, time and cause, else the message's. */
export function listTransitions(p: ListTransitionsPayload): ListTransition[] {
  return p.transitions.map((t) => {
    const listId = t.listId ?? p.listId;
    const at = t.at ?? p.at;
    const cause = t.cause ?? p.cause;
    if (listId === undefined || at === undefined || cause === undefined)
      throw new Error(`list transition ${t.id} has no list, time or cause`);
    return { id: t.id, listId, contactId: t.contactId, at, cause };
  });
}

/** One stored anomaly (src/anomalies/), written through the outbox in the transaction that stores it. */
export interface AnomalyDetectedPayload {
  id: string;
  granularity: 'day' | 'hour';
  scope: 'campaign' | 'segment' | 'overall';
  key: string;
  metric: string;
  /** Bucket start, ISO 8601. */
  bucket: string;
  value: number;
  baseline: number;
  score: number;
  direction: 'high' | 'low';
  performance: 'under' | 'over';
}

/** One CRM field update a journey step asked for, written through the outbox with the run's move. */
export interface JourneyCrmUpdatePayload {
  journeyId: string;
  runId: string;
  stepId: string;
  contactId: string;
  fields: Record<string, string | number | boolean | null>;
}

/** Topic name → payload type. */
export interface TopicPayloads {
  'blast.select': SelectStep;
  'blast.selected': ChunkPayload;
  'blast.ready.transactional': ChunkPayload;
  'blast.ready.triggered': ChunkPayload;
  'blast.ready.bulk': ChunkPayload;
  'campaign.events': CampaignEvent;
  'reaction.received': ReactionBatch;
  'contact.suppressed': SuppressedPayload;
  'link.clicked': LinkClicksPayload;
  'contact.changed': CrmContactChange;
  'list.entered': ListTransitionsPayload;
  'list.exited': ListTransitionsPayload;
  'anomaly.detected': AnomalyDetectedPayload;
  'journey.crm-update': JourneyCrmUpdatePayload;
}
export type TopicName = keyof TopicPayloads;
export type TopicPayload<T extends TopicName> = TopicPayloads[T];

/** Every topic in the catalogue, e.g. for a check that none is written out elsewhere. */
export const TOPIC_NAMES: readonly TopicName[] = [
  TOPICS.select,
  TOPICS.selected,
  ...PRIORITIES.map(TOPICS.ready),
  TOPICS.campaignEvents,
  TOPICS.reactions,
  TOPICS.suppressed,
  TOPICS.linkClicked,
  TOPICS.contactChanged,
  TOPICS.listEntered,
  TOPICS.listExited,
  TOPICS.anomalyDetected,
  TOPICS.journeyCrmUpdate,
];

/** Publishes on a catalogued topic; the payload must be that topic's type. */
export function publishTo<T extends TopicName>(
  bus: Pick<Bus, 'publish'>,
  topic: T,
  messages: readonly OutgoingMessage<TopicPayload<T>>[],
): Promise<{ published: number; duplicates: number }> {
  return bus.publish(topic, messages);
}

/** A stage consumer of a catalogued topic; the handler receives that topic's payload type. */
export function consumerOf<T extends TopicName>(
  options: ConsumerOptions & { topic: T },
  handler: Handler<TopicPayload<T>>,
): StageConsumer {
  // the linger belongs to the topic (how urgent its effects are), not to each group that reads it
  if (options.topic === TOPICS.reactions && options.lingerMs === undefined)
    return { options: { ...options, lingerMs: REACTION_LINGER_MS }, handler };
  return { options, handler };
}
