/**
 * The demo workspace on start (SWITCHYARD_DEMO): the click-triggered nurture journey, the demo
 * lists (src/demo/lists.ts: a 15-deep cascade among them), the journey their top list triggers,
 * and profiles for the first contacts of the demo warehouse with a state and a lead score, fed
 * through the ordinary change path so the lists fill and the journey gets its first runs. Safe on
 * every start: existing lists and journeys are left alone, and the seed changes carry a fixed
 * time, so repeating them changes nothing and publishes nothing.
 */
import { createDemoWarehouse } from '../connectors/warehouse/demo/adapter.ts';
import { isSwitchyardError } from '../core/errors.ts';
import { ensureDemoJourney } from '../demo/journey.ts';
import { DEMO_HOT_JOURNEY_ID, demoHotLeadsJourney, demoLists, demoProfileAttributes } from '../demo/lists.ts';
import type { ListService } from '../lists/service.ts';
import type { ProfileChange, ProfileService } from '../profiles/service.ts';

/** How many demo warehouse contacts get a profile: enough to see the lists fill, quick to start. */
export const DEMO_SEED_PROFILES = 500;
const SEED_AT = '2026-01-01T00:00:00.000Z';

export interface DemoWorkspaceDeps {
  lists: Pick<ListService, 'get' | 'create'>;
  journeys: { list(): Promise<{ id: string }[]>; save(id: string, input: unknown): Promise<unknown> };
  profiles: Pick<ProfileService, 'submit'>;
}

export async function ensureDemoWorkspace(
  deps: DemoWorkspaceDeps,
  options: { seedProfiles?: number; demoSize: number },
): Promise<void> {
  await ensureDemoJourney(deps.journeys);
  for (const list of demoLists()) {
    try {
      await deps.lists.get(list.id);
      continue;
    } catch (err) {
      if (!isSwitchyardError(err) || err.code !== 'LIST_NOT_FOUND') throw err;
    }
    try {
      // built in the background too: profiles from before this list existed join it
      await deps.lists.create(list);
    } catch (err) {
      // a deleted demo list keeps its id forever; the workspace goes on without it
      if (!isSwitchyardError(err) || err.code !== 'VALIDATION_FAILED') throw err;
    }
  }
  if (!(await deps.journeys.list()).some((j) => j.id === DEMO_HOT_JOURNEY_ID))
    await deps.journeys.save(DEMO_HOT_JOURNEY_ID, demoHotLeadsJourney());
  const size = Math.min(options.seedProfiles ?? DEMO_SEED_PROFILES, options.demoSize);
  if (size === 0) return;
  let n = 0;
  for await (const batch of createDemoWarehouse({ size }).stream({}, { batchSize: 250 })) {
    const changes: ProfileChange[] = batch.rows.map((c) => ({
      changeId: `seed:${c.id}`,
      source: 'demo',
      contactId: c.id,
      email: c.email,
      attributes: { ...c.fields, ...(c.country ? { country: c.country } : {}), ...demoProfileAttributes(n++) },
      at: SEED_AT,
    }));
    await deps.profiles.submit(changes);
  }
}
