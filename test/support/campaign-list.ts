/**
 * The blasts in `campaign list --json` output: the campaigns list also holds the message streams
 * of journeys (ids `jrn_…`), which the demo workspace's journey creates as soon as it runs.
 */
export function blasts(listJson: string): { id: string }[] {
  const { campaigns } = JSON.parse(listJson) as { campaigns: { id: string }[] };
  return campaigns.filter((c) => !c.id.startsWith('jrn_'));
}
