/**
 * Reactions → governor: hard bounces, complaints and deliveries (consumer group 'governor' on
 * `reaction.received`) are reported as SendOutcomes so the breakers see complaint and bounce
 * rates. The sending domain is the campaign's From domain; events without a campaign are skipped
 * (the breakers are per campaign and sending domain). Events seen by our own listeners (inbound
 * DSNs, tracking) carry no ESP, so they are attributed to the configured one.
 * The governor is in memory: a redelivered batch is reported again (rates move slightly; the
 * consumer redelivers only after a crash or lease loss).
 */
import type { StageDefinition } from '../bus/stage.ts';
import type { CampaignService } from '../campaigns/service.ts';
import type { Governor, OutcomeKind } from './governor.ts';
import { domainOf } from './send-admission.ts';
import { consumerOf, TOPICS, type ReactionBatch, type StoredEvent } from '../bus/topics.ts';

const KIND: Partial<Record<StoredEvent['type'], OutcomeKind>> = {
  bounced_hard: 'bounced_hard',
  bounced_soft: 'bounced_soft',
  complained: 'complained',
  delivered: 'delivered',
};

const NOT_AN_ESP = new Set(['inbound', 'tracking']);

export interface GovernorReactionDeps {
  campaigns: Pick<CampaignService, 'find'>;
  governor: Governor;
  /** Name of the ESP events from our own listeners are attributed to. */
  defaultProvider: string;
}

export async function reportReactions(deps: GovernorReactionDeps, batch: ReactionBatch): Promise<number> {
  const senders = new Map<string, string | null>();
  let reported = 0;
  for (const e of batch.events) {
    const kind = KIND[e.type];
    if (kind === undefined || e.campaignId === null || e.email === null) continue;
    if (!senders.has(e.campaignId)) {
      const c = await deps.campaigns.find(e.campaignId);
      senders.set(e.campaignId, c === null ? null : domainOf(c.definition.from.address));
    }
    const sendingDomain = senders.get(e.campaignId);
    if (sendingDomain === null || sendingDomain === undefined) continue;
    deps.governor.report({
      kind,
      provider: NOT_AN_ESP.has(e.provider) ? deps.defaultProvider : e.provider,
      sendingDomain,
      recipientDomain: domainOf(e.email),
      campaignId: e.campaignId,
      ...(e.reason !== null ? { diagnostic: e.reason } : {}),
    });
    reported++;
  }
  return reported;
}

export function governorReactionsStage(deps: GovernorReactionDeps): StageDefinition {
  return {
    name: 'governor',
    consumers: [
      consumerOf({ topic: TOPICS.reactions, group: 'governor', batchSize: 20 }, async (m) => {
        await reportReactions(deps, m.payload);
      }),
    ],
  };
}
