/**
 * Finishing a campaign: the completion check (queries.completeIfDone) plus the
 * `campaign.completed` event on the bus, published once (deterministic id) for whoever waits on
 * it: journeys, notifications, the CLI, tests.
 */
import type { Bus } from '../bus/port.ts';
import { publishTo, TOPICS } from '../bus/topics.ts';
import type { Queryable } from '../store/port.ts';
import { completeIfDone } from './queries.ts';

export async function finishIfDone(deps: { db: Queryable; bus: Bus }, campaignId: string, at: Date): Promise<boolean> {
  if (!(await completeIfDone(deps.db, campaignId, at))) return false;
  await publishTo(deps.bus, TOPICS.campaignEvents, [
    {
      id: `${campaignId}:completed`,
      key: campaignId,
      payload: { type: 'campaign.completed', campaignId, at: at.toISOString() },
    },
  ]);
  return true;
}
