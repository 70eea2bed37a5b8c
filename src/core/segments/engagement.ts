/** Engagement facts both compilers read the same way (see semantics.ts for the ordering rule). */
import { lastCampaigns } from './semantics.ts';
import type { ProfileSnapshot } from './types.ts';

/** How many of the contact's last `n` campaigns were opened. */
export function lastCampaignsOpened(p: ProfileSnapshot, n: number): number {
  return lastCampaigns(p.campaigns, n).filter((c) => c.opened).length;
}
