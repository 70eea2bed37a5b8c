/**
 * The bus side of profiles and lists: CRM changes (contact.changed) and our own reactions
 * (reaction.received, link.clicked) into the profiles, and the loop that fires due list timers.
 * Each handler is idempotent: changes merge by stamp, reactions are claimed by source id, and a
 * membership transition is recorded only when it is real, so a redelivery publishes nothing.
 */
import type { Logger } from 'pino';
import type { Delivery } from '../bus/port.ts';
import { pollUntilAborted } from '../bus/relay.ts';
import type { StageDefinition } from '../bus/stage.ts';
import {
  consumerOf,
  type LinkClickedPayload,
  type LinkClicksPayload,
  type ReactionBatch,
  type StoredEvent,
  TOPICS,
} from '../bus/topics.ts';
import type { CrmContactChange } from '../connectors/crm/port.ts';
import type { ListService } from '../lists/service.ts';
import { createGroupCommit } from '../reactions/group-commit.ts';
import { applyReactionEvents, applyTaggedClicks, type Claimed, type EngagementDeps } from './engagement.ts';
import type { ProfileChange, ProfileService } from './service.ts';

/** A CRM change as a profile change: its properties are attributes; a deletion clears them. */
export function profileChangeOfCrm(c: CrmContactChange): ProfileChange {
  return {
    changeId: c.eventId,
    source: `crm:${c.source}`,
    ...(c.contactId === undefined ? {} : { contactId: c.contactId }),
    crmId: c.crmId,
    attributes: c.properties,
    at: c.occurredAt,
    ...(c.kind === 'deleted' ? { deleted: true } : {}),
  };
}

export function profileStages(
  deps: EngagementDeps & { profiles: ProfileService; lists: ListService; log: Logger; timerIntervalMs: number },
): StageDefinition {
  // The handlers of one fetched batch run at once and share one transaction (group commit): one
  // transaction per reaction batch, and one per click, made these groups the slowest consumers of
  // the reactions pipeline (bench/README.md, reactions). A failing group is retried message by
  // message, so one bad message fails only itself. One group in flight, as one handler was before.
  const applyReactions = createGroupCommit(
    async (batches: readonly Claimed<StoredEvent>[]) => {
      await applyReactionEvents(deps, batches);
      return batches.map(() => undefined);
    },
    { maxWeight: 5_000, weight: (b) => b.items.length },
  );
  const applyClicks = createGroupCommit(
    async (chunks: readonly Claimed<LinkClickedPayload>[]) => {
      await applyTaggedClicks(deps, chunks);
      return chunks.map(() => undefined);
    },
    { maxWeight: 5_000, weight: (c) => c.items.length },
  );
  return {
    name: 'profiles',
    consumers: [
      consumerOf(
        { topic: TOPICS.contactChanged, group: 'profiles', batchSize: 200, concurrency: 2 },
        async (m: Delivery<CrmContactChange>) => {
          await deps.profiles.submit([profileChangeOfCrm(m.payload)]);
        },
      ),
      consumerOf(
        {
          topic: TOPICS.reactions,
          group: 'profile-engagement',
          batchSize: 50,
          concurrency: 50,
        },
        async (m: Delivery<ReactionBatch>) => {
          await applyReactions({ id: m.id, items: m.payload.events });
        },
      ),
      consumerOf(
        { topic: TOPICS.linkClicked, group: 'profile-clicks', batchSize: 50, concurrency: 50 },
        async (m: Delivery<LinkClicksPayload>) => {
          await applyClicks({ id: m.id, items: m.payload.clicks });
        },
      ),
    ],
    loops: [
      (signal) => pollUntilAborted(deps, signal, deps.timerIntervalMs, 'list timers', () => deps.lists.runDueTimers()),
    ],
  };
}
