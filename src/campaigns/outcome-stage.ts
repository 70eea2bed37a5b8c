/**
 * Reactions → send ledger: delivered, bounced, dropped and complained events move the
 * (campaign, contact) row to its outcome. The campaign service owns the ledger, so it consumes the
 * reactions topic rather than the reactions service writing the ledger.
 */
import type { StageDefinition } from '../bus/stage.ts';
import { consumerOf, TOPICS, type ReactionBatch } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';
import { recordOutcomes, type LedgerOutcome } from './send-ledger.ts';

const OUTCOME: Partial<Record<string, LedgerOutcome['state']>> = {
  delivered: 'delivered',
  bounced_hard: 'bounced',
  bounced_soft: 'deferred',
  dropped: 'failed',
  complained: 'complained',
};

export async function applyLedgerOutcomes(db: Db, batch: ReactionBatch, at: Date): Promise<void> {
  const outcomes: LedgerOutcome[] = [];
  for (const e of batch.events) {
    const state = OUTCOME[e.type];
    if (state !== undefined && e.campaignId !== null && e.contactId !== null) {
      outcomes.push({ campaignId: e.campaignId, contactId: e.contactId, state, reason: e.reason });
    }
  }
  // in key order: concurrent batches (the group's handlers run 8 at once) then lock the ledger rows
  // they share in one order; unsorted, their updates deadlocked (bench/README.md, reactions)
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  outcomes.sort((x, y) => cmp(x.campaignId, y.campaignId) || cmp(x.contactId, y.contactId));
  await recordOutcomes(db, outcomes, at);
}

export function ledgerOutcomeStage(deps: { db: Db; clock: Clock }): StageDefinition {
  return {
    name: 'outcomes',
    consumers: [
      consumerOf({ topic: TOPICS.reactions, group: 'ledger-outcomes', batchSize: 20 }, (m) =>
        applyLedgerOutcomes(deps.db, m.payload, deps.clock.now()),
      ),
    ],
  };
}
