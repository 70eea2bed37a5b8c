/**
 * Topics that cross service lines and their payload types, so a consumer in one service does not
 * import the module of the service that publishes.
 */
import type { EngagementEvent } from '../core/events.ts';

export const REACTIONS_TOPIC = 'reaction.received';
export const SUPPRESSED_TOPIC = 'contact.suppressed';

/** The bus payload: new events of one ingest call (stored rows are the source of truth). */
export interface ReactionBatch { events: StoredEvent[] }
export interface StoredEvent {
  sourceId: string; type: EngagementEvent['type']; provider: string; occurredAt: string; email: string | null;
  messageId: string | null; campaignId: string | null; contactId: string | null; isMachine: boolean; reason: string | null; url: string | null;
}
export interface SuppressedPayload { email: string; reason: string; source: string; contactId: string | null; campaignId: string | null; at: string }
