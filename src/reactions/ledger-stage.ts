/**
 * Reactions → send ledger: delivered and bounced events move the (campaign, contact) row from
 * `sent` to its outcome. Set-wise per batch; a repeated batch finds the rows already moved.
 */
import type { StageDefinition } from '../bus/stage.ts';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';
import { consumerOf, TOPICS, type ReactionBatch } from '../bus/topics.ts';

const OUTCOME: Record<string, string> = { delivered: 'delivered', bounced_hard: 'bounced', bounced_soft: 'deferred', dropped: 'failed', complained: 'complained' };

const APPLY = `
  update send_ledger l set state = x.state, reason = coalesce(x.reason, l.reason), updated_at = $2
  from jsonb_to_recordset($1::jsonb) as x(campaign_id text, contact_id text, state text, reason text)
  where l.campaign_id = x.campaign_id and l.contact_id = x.contact_id
    and (l.state in ('sent', 'sending', 'rendered', 'unknown', 'deferred') or (l.state = 'delivered' and x.state in ('bounced', 'complained')))`;

export async function applyLedgerOutcomes(db: Db, batch: ReactionBatch, at: Date): Promise<void> {
  const updates = batch.events
    .filter((e) => OUTCOME[e.type] !== undefined && e.campaignId !== null && e.contactId !== null)
    .map((e) => ({ campaign_id: e.campaignId, contact_id: e.contactId, state: OUTCOME[e.type], reason: e.reason }));
  if (updates.length > 0) await db.query(APPLY, [JSON.stringify(updates), at]);
}

export function ledgerOutcomeStage(deps: { db: Db; clock: Clock }): StageDefinition {
  return {
    name: 'outcomes',
    consumers: [consumerOf({ topic: TOPICS.reactions, group: 'ledger-outcomes', batchSize: 20 }, (m) => applyLedgerOutcomes(deps.db, m.payload, deps.clock.now()))],
  };
}
