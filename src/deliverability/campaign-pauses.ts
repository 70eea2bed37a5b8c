/**
 * Governor alerts → campaign status. A `paused` alert for a campaign moves it running → paused
 * with the governor's reason (so campaign status shows why); a `resumed` alert moves it back to
 * running, but only if the governor paused it (an operator's own pause is never lifted here).
 */
import type { Logger } from 'pino';
import { transition } from '../campaigns/queries.ts';
import type { Db } from '../store/port.ts';
import type { GovernorAlert } from './governor.ts';

export const GOVERNOR_REASON_PREFIX = 'deliverability governor: ';

export async function applyAlertToCampaign(db: Db, alert: GovernorAlert): Promise<boolean> {
  const id = alert.scope.campaignId;
  if (id === undefined) return false;
  if (alert.kind === 'paused') return transition(db, id, ['running'], 'paused', alert.at, `${GOVERNOR_REASON_PREFIX}${alert.reason}`);
  if (alert.kind === 'resumed') {
    const { rowCount } = await db.query(
      `update campaigns set status = 'running', status_reason = $3, updated_at = $2
        where id = $1 and status = 'paused' and starts_with(coalesce(status_reason, ''), $4)`,
      [id, alert.at, `${GOVERNOR_REASON_PREFIX}${alert.reason}`, GOVERNOR_REASON_PREFIX]);
    return rowCount === 1;
  }
  return false;
}

/** The governor's onAlert for the app: logs every alert and applies campaign pauses in the
 *  background (onAlert must not throw or wait). */
export function createAlertHandler(deps: { db: Db; log: Logger }): (alert: GovernorAlert) => void {
  return (alert) => {
    const level = alert.kind === 'paused' ? 'warn' : 'info';
    deps.log[level]({ alert: alert.kind, scope: alert.scope, reason: alert.reason }, `deliverability ${alert.kind}: ${alert.reason}`);
    void applyAlertToCampaign(deps.db, alert).catch((err: unknown) =>
      deps.log.error({ err, scope: alert.scope }, 'could not apply a governor alert to the campaign'));
  };
}
