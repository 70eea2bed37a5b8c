/**
 * The CRM field updates of journey `updateCrm` steps. The dispatcher writes one outbox message per
 * (run, step) in the transaction that moves the run past the step (message id crm:<run>:<step>,
 * so a replayed pass adds nothing new); this consumer makes the call through the CRM port. A CRM
 * outage (a retryable error) is retried by the bus with exponential backoff, up to
 * CRM_UPDATE_ATTEMPTS; each failure, and the final one, is written on the step's line of the run
 * history, and a refused or exhausted update is dead-lettered. The write is idempotent (the same
 * fields twice hold the same values) and a step whose history already says it was set is not
 * called again, so a redelivery after success does nothing.
 */
import type { Delivery } from '../bus/port.ts';
import type { JourneyCrmUpdatePayload } from '../bus/topics.ts';
import { isSwitchyardError } from '../core/errors.ts';
import type { Db } from '../store/port.ts';
import type { EffectDeps } from './effects.ts';
import * as q from './queries.ts';

/** Attempts per update before it is dead-lettered (with backoff from 2 s doubling to 10 min: about 40 minutes). */
export const CRM_UPDATE_ATTEMPTS = 10;
export const CRM_UPDATE_BACKOFF = { backoffBaseMs: 2_000, backoffMaxMs: 600_000 };
const SET = 'CRM fields set: ';

export async function handleCrmUpdate(
  deps: { db: Db; effects: EffectDeps },
  m: Delivery<JourneyCrmUpdatePayload>,
): Promise<void> {
  const { runId, stepId, contactId, fields } = m.payload;
  const names = Object.keys(fields).join(', ');
  if ((await q.stepOutcome(deps.db, runId, stepId))?.startsWith(SET)) return; // done before: a redelivery
  const crm = deps.effects.crm;
  if (crm === undefined) {
    await q.setStepOutcome(deps.db, runId, stepId, 'skipped: no CRM is configured');
    return;
  }
  try {
    const { updated } = await crm.updateFields({ contactId, fields });
    await q.setStepOutcome(
      deps.db,
      runId,
      stepId,
      updated ? `${SET}${names}` : `CRM update skipped: the CRM has no record of ${contactId}`,
    );
  } catch (err) {
    const code = isSwitchyardError(err) ? err.code : 'CRM_UNAVAILABLE';
    const message = (err instanceof Error ? err.message : String(err)).slice(0, 200);
    const final = !isSwitchyardError(err) || !err.retryable || m.attempt >= CRM_UPDATE_ATTEMPTS;
    await q.setStepOutcome(
      deps.db,
      runId,
      stepId,
      final
        ? `CRM update failed after ${m.attempt} attempt(s), not retried: ${code} ${message}`
        : `CRM update failed (attempt ${m.attempt} of ${CRM_UPDATE_ATTEMPTS}), retrying: ${code} ${message}`,
    );
    throw err;
  }
}
