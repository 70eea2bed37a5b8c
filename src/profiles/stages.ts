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
import { consumerOf, type LinkClickedPayload, type ReactionBatch, type StoredEvent, TOPICS } from '../bus/topics.ts';
import type { CrmContactChange } from '../connectors/crm/port.ts';
import type { ListService } from '../lists/service.ts';
import { createGroupCommit } from '../reactions/group-commit.ts';
import { applyReactionEvents, applyTaggedClicks, type EngagementDeps } from './engagement.ts';
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
    async (batches: readonly (readonly StoredEvent[])[]) => {
      await applyReactionEvents(
        deps,
        uniqueBy(batches.flat(), (e) => e.sourceId),
      );
      return batches.map(() => undefined);
    },
    { maxWeight: 5_000, weight: (events) => events.length },
  );
  const applyClicks = createGroupCommit(
    async (clicks: readonly LinkClickedPayload[]) => {
      await applyTaggedClicks(
        deps,
        uniqueBy(clicks, (c) => c.sourceId),
      );
      return clicks.map(() => undefined);
    },
    { maxWeight: 500, weight: () => 1 },
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
        { topic: TOPICS.reactions, group: 'profile-engagement', batchSize: 50, concurrency: 50 },
        async (m: Delivery<ReactionBatch>) => {
          await applyReactions(m.payload.events);
        },
      ),
      consumerOf(
        { topic: TOPICS.linkClicked, group: 'profile-clicks', batchSize: 200, concurrency: 200 },
        async (m: Delivery<LinkClickedPayload>) => {
          await applyClicks(m.payload);
        },
      ),
    ],
    loops: [
      (signal) => pollUntilAborted(deps, signal, deps.timerIntervalMs, 'list timers', () => deps.lists.runDueTimers()),
    ],
  };
}

/** The first of each key: a group could carry one event twice (a redelivery beside its original). */
function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
