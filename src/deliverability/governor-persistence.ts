/**
 * Keeps the governor's state in the store: `load` at start, then `run` saves the scopes used
 * since the last save every `intervalMs` of clock time (one set-wise statement, never per
 * message) and once more when stopped. A failed save is logged and retried on the next round;
 * the governor itself never waits on the store.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';
import type { Governor } from './governor.ts';
import { loadGovernorState, pruneGovernorState, saveGovernorState } from './queries.ts';

export const GOVERNOR_SAVE_INTERVAL_MS = 5_000;
/** Rows not saved for this long are idle scopes the governor has evicted (idleEvictMs, 1 h by
 *  default) or will evict: deleted, so the table does not grow with every campaign ever sent. */
export const GOVERNOR_STATE_KEEP_MS = 2 * 60 * 60_000;

export interface GovernorPersistence {
  /** Loads the stored scopes into the governor; returns how many. */
  load(): Promise<number>;
  /** Saves the scopes used since the last save (all on the first call). */
  save(): Promise<void>;
  /** Saves every intervalMs until the signal aborts, then saves once more. */
  run(signal: AbortSignal): Promise<void>;
}

export function createGovernorPersistence(
  deps: { db: Db; clock: Clock; governor: Governor; log: Logger },
  intervalMs = GOVERNOR_SAVE_INTERVAL_MS,
): GovernorPersistence {
  let savedFrom: number | undefined;

  async function save(): Promise<void> {
    const at = deps.clock.now();
    // entries touched at exactly `at` later in this tick are saved again next round (>=)
    const rows = deps.governor.snapshot(savedFrom);
    await saveGovernorState(deps.db, rows, at);
    await pruneGovernorState(deps.db, new Date(at.getTime() - GOVERNOR_STATE_KEEP_MS));
    savedFrom = at.getTime();
  }

  return {
    async load() {
      return deps.governor.restore(await loadGovernorState(deps.db));
    },
    save,
    async run(signal) {
      const saveLogged = () =>
        save().catch((err: unknown) => deps.log.warn({ err }, 'could not save the governor state'));
      while (!signal.aborted) {
        await deps.clock.sleep(intervalMs, signal).catch(() => undefined);
        if (!signal.aborted) await saveLogged();
      }
      // also when the stop came during a save: what changed since its snapshot is saved now
      await saveLogged();
    },
  };
}
