/**
 * Campaign definitions and the blast road's chunking. A chunk carries ≤ CHUNK_SIZE recipients from
 * stage to stage (its payload type is in src/bus/topics.ts); its message id is deterministic
 * (`<campaign>:chunk:<seq>`), so a republished chunk is dropped by the bus and a redelivered one
 * finds the ledger already moved.
 */
import type { ChunkRecipient } from '../bus/topics.ts';
import type { Address, Attachment } from '../connectors/esp/port.ts';
import type { SchemaMapping } from '../connectors/warehouse/port.ts';
import type { Priority } from '../core/priority.ts';
import type { HourRange } from '../core/send-window.ts';

export { PRIORITIES, type Priority } from '../core/priority.ts';

export const CHUNK_SIZE = 1000;
/** Chunks the select stage reads per bus message before handing on a continuation. */
export const CHUNKS_PER_SELECT_STEP = 10;

export type Audience =
  | { source: 'demo'; size?: number; seed?: number }
  | { source: 'postgres'; sql?: string; table?: string; orderBy: string; mapping: SchemaMapping }
  | { source: 'csv'; path: string; mapping: SchemaMapping; delimiter?: string }
  /** A list's members, frozen when the campaign first reads them (src/lists/audience.ts). */
  | { source: 'list'; list: string };

export interface CampaignDefinition {
  name: string;
  from: Address;
  replyTo?: Address;
  subject: string;
  template: { html?: string; text?: string };
  audience: Audience;
  /** Physical postal address for the legal footer (CAN-SPAM, CASL). */
  postalAddress: string;
  priority: Priority;
  schedule?: {
    /** Local hours (contact's time zone) when sending is allowed. */
    window?: HourRange;
    /** Local hours when nothing is sent. */
    quiet?: HourRange;
    /** Pick each contact's best hour within 24 h (falls back to now). */
    bestTime?: boolean;
  };
  /** At most `max` marketing emails per contact per rolling `windowHours`. */
  frequencyCap?: { max: number; windowHours: number };
  tags?: string[];
  /** The preference-centre topic this mail belongs to: contacts who withdrew from it are excluded
   *  (reason `topic_unsubscribed:<topic>`) at comply and again just before the send. */
  topic?: string;
  /** Variants tried on a test share before the winner goes to the rest (docs/ab-tests.md). */
  abTest?: AbTestDefinition;
  /** Suppression reasons this campaign's messages may pass (a message stream of a category that may
   *  reach an unsubscribed address, e.g. receipts: docs/journeys.md). Absent for blasts: none. */
  passSuppression?: readonly string[];
  /** Files every message carries (a transactional message's, e.g. a report's PDF); streams only. */
  attachments?: readonly Attachment[];
}

/** What a variant changes; anything left out is the campaign's own (variant 0 is the control). */
export interface CampaignVariant {
  name?: string;
  subject?: string;
  /** Display name of the sender; the address stays the campaign's. */
  fromName?: string;
  /** Inbox preview text, put hidden at the top of the HTML body. */
  preheader?: string;
  template?: { html?: string; text?: string };
  /** Sent this many minutes after the campaign starts (send-time variants). */
  sendDelayMinutes?: number;
}

export const AB_METRICS = ['human_clicks', 'human_opens', 'replies', 'unsubscribes', 'revenue'] as const;
export type AbMetric = (typeof AB_METRICS)[number];

export interface AbTestDefinition {
  /** 2–8; index 0 is the control. */
  variants: CampaignVariant[];
  /** Share of the audience in the test, (0, 1]; the rest waits for the winner. 1: no holdout. */
  testShare: number;
  /** Default human_clicks. */
  metric?: AbMetric;
  /** Chance of declaring a winner among equal variants (default 0.05). */
  alpha?: number;
  /** Nothing is declared before every variant reached this many recipients (default 1000). */
  minSamplePerCell?: number;
  /** The metric's usual rate (revenue: the usual net revenue per recipient, in minor units) and the
   *  smallest relative lift worth finding: they tune the test. */
  expectedRate?: number;
  minimumLift?: number;
  /** Hours after the test share was sent by which a winner must be chosen. */
  decideWithinHours: number;
  /** Variant sent when no winner is found in time (default 0, the control). */
  fallback?: number;
}

export type AbPhase = 'testing' | 'remainder' | 'done';

export const CAMPAIGN_STATUSES = ['draft', 'running', 'paused', 'cancelled', 'completed', 'failed'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

export interface Campaign {
  id: string;
  status: CampaignStatus;
  statusReason: string | null;
  definition: CampaignDefinition;
  selectDone: boolean;
  selected: number;
  rejected: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** Null for a campaign without an A/B test. */
  abPhase: AbPhase | null;
}

export type Recipient = ChunkRecipient;
