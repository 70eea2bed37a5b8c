/**
 * Campaign definitions and the bus payloads of the blast road. A chunk carries ≤ CHUNK_SIZE
 * recipients from stage to stage; its message id is deterministic (`<campaign>:chunk:<seq>`), so
 * a republished chunk is dropped by the bus and a redelivered one finds the ledger already moved.
 */
import type { Address } from '../connectors/esp/port.ts';
import type { MappedContact, SchemaMapping } from '../connectors/warehouse/port.ts';
import type { HourRange } from '../core/send-window.ts';

export const CHUNK_SIZE = 1000;
/** Chunks the select stage reads per bus message before handing on a continuation. */
export const CHUNKS_PER_SELECT_STEP = 10;

export const PRIORITIES = ['transactional', 'triggered', 'bulk'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const TOPICS = {
  select: 'blast.select',
  selected: 'blast.selected',
  ready: (p: Priority) => `blast.ready.${p}`,
  events: 'campaign.events',
} as const;

export type Audience =
  | { source: 'demo'; size?: number; seed?: number }
  | { source: 'postgres'; sql?: string; table?: string; orderBy: string; mapping: SchemaMapping }
  | { source: 'csv'; path: string; mapping: SchemaMapping; delimiter?: string };

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
}

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
}

export type Recipient = MappedContact;

export interface SelectStep { campaignId: string; seq: number }

export interface ChunkPayload {
  campaignId: string;
  seq: number;
  /** Set once the schedule stage split a chunk by due time. */
  part?: number;
  recipients: Recipient[];
}
