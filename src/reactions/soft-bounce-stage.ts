/**
 * Soft bounces suppress after N in a window (default 7 in 30 days, counter reset by any later
 * delivery: deliverability.md §9, core/bounce/soft-policy.ts). Consumer group `soft-bounces` on
 * reaction.received: for the addresses that soft-bounced in a batch, counts their stored
 * bounces set-wise and suppresses those over the limit through the same suppression list and
 * `contact.suppressed` topic as every other suppression. Idempotent: adding is a no-op twice.
 */
import type { Bus } from '../bus/port.ts';
import type { StageDefinition } from '../bus/stage.ts';
import type { Clock } from '../clock/port.ts';
import { evaluateSoftBounces, type SoftBouncePolicy } from '../core/bounce/soft-policy.ts';
import { addSuppressions } from '../compliance/suppression.ts';
import type { Db } from '../store/port.ts';
import { consumerOf, publishTo, TOPICS, type ReactionBatch } from '../bus/topics.ts';

const HISTORY = `
  select email, type, occurred_at from engagement_events
  where email = any($1::text[]) and type in ('bounced_soft', 'delivered') and occurred_at > $2
  order by occurred_at`;

export async function applySoftBounces(
  deps: { db: Db; bus: Bus; clock: Clock; policy?: Partial<SoftBouncePolicy> },
  batch: ReactionBatch,
): Promise<string[]> {
  const emails = [
    ...new Set(
      batch.events.filter((e) => e.type === 'bounced_soft' && e.email !== null && !e.isMachine).map((e) => e.email!),
    ),
  ];
  if (emails.length === 0) return [];
  const now = deps.clock.now();
  const windowMs = deps.policy?.windowMs ?? 30 * 24 * 3600 * 1000;
  const { rows } = await deps.db.query<{ email: string; type: string; occurred_at: Date }>(HISTORY, [
    emails,
    new Date(now.getTime() - windowMs),
  ]);
  const over = emails.filter((email) => {
    const mine = rows.filter((r) => r.email === email);
    const delivered = mine.filter((r) => r.type === 'delivered').at(-1)?.occurred_at;
    const bounces = mine.filter((r) => r.type === 'bounced_soft').map((r) => r.occurred_at);
    return evaluateSoftBounces(bounces, now, { ...deps.policy, ...(delivered ? { lastDeliveredAt: delivered } : {}) })
      .shouldSuppress;
  });
  if (over.length === 0) return [];
  const added = await addSuppressions(
    deps.db,
    over.map((email) => ({ email, reason: 'bounced_soft', source: 'soft-bounce-limit' })),
    now,
  );
  if (added.length > 0) {
    await publishTo(
      deps.bus,
      TOPICS.suppressed,
      added.map((email) => ({
        id: `suppressed:${email}:${now.getTime()}`,
        key: email,
        payload: {
          email,
          reason: 'bounced_soft',
          source: 'soft-bounce-limit',
          contactId: null,
          campaignId: null,
          at: now.toISOString(),
        },
      })),
    );
  }
  return added;
}

export function softBounceStage(deps: {
  db: Db;
  bus: Bus;
  clock: Clock;
  policy?: Partial<SoftBouncePolicy>;
}): StageDefinition {
  return {
    name: 'soft-bounces',
    consumers: [
      consumerOf({ topic: TOPICS.reactions, group: 'soft-bounces', batchSize: 20 }, async (m) => {
        await applySoftBounces(deps, m.payload);
      }),
    ],
  };
}
