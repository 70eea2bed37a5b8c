/**
 * Governor alerts → campaign status, through the campaign service (which owns every state change):
 * a `paused` alert for a campaign holds it running → paused with the governor's reason (so
 * campaign status shows why); a `resumed` alert releases it, but only if the governor paused it
 * (an operator's own pause is never lifted here).
 */
import type { Logger } from 'pino';
import type { CampaignService } from '../campaigns/service.ts';
import type { GovernorAlert } from './governor-types.ts';

export type CampaignHolds = Pick<CampaignService, 'holdForDeliverability' | 'releaseDeliverabilityHold'>;

export async function applyAlertToCampaign(campaigns: CampaignHolds, alert: GovernorAlert): Promise<boolean> {
  const id = alert.scope.campaignId;
  if (id === undefined) return false;
  if (alert.kind === 'paused') return campaigns.holdForDeliverability(id, alert.reason, alert.at);
  if (alert.kind === 'resumed') return campaigns.releaseDeliverabilityHold(id, alert.reason, alert.at);
  return false;
}

/** The governor's onAlert for the app: logs every alert and applies campaign pauses in the
 *  background (onAlert must not throw or wait). */
export function createAlertHandler(deps: { campaigns: CampaignHolds; log: Logger }): (alert: GovernorAlert) => void {
  return (alert) => {
    const level = alert.kind === 'paused' ? 'warn' : 'info';
    deps.log[level](
      { alert: alert.kind, scope: alert.scope, reason: alert.reason },
      `deliverability ${alert.kind}: ${alert.reason}`,
    );
    void applyAlertToCampaign(deps.campaigns, alert).catch((err: unknown) =>
      deps.log.error({ err, scope: alert.scope }, 'could not apply a governor alert to the campaign'),
    );
  };
}
