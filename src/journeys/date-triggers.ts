/**
 * Date triggers (birthday, renewal minus 30 days): a scan per date journey, every
 * DATE_SCAN_INTERVAL_MS of clock time, reads from the profile-date index (migration 0044, kept by
 * the database when a profile changes) only the contacts whose date falls on one of the local days
 * since the last scan — by month and day for yearly triggers, by date otherwise — checks each in
 * its own time zone (src/core/journeys/date-trigger.ts), and enters those due. Never a scan of
 * every profile. Each (journey, contact, occurrence) fires once (journey_date_fired); entering
 * still follows the journey's re-entry rule, so a yearly journey needs `after-exit` (or `after`)
 * to take a contact again the next year. Decision record: docs/decisions/0021-journey-date-triggers.md.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock/port.ts';
import { dateKeys, firingOf, scanDays, scanStart } from '../core/journeys/date-trigger.ts';
import { isTimeZone } from '../core/journeys/local-time.ts';
import type { Db } from '../store/port.ts';
import type { JourneyDispatcher } from './dispatcher.ts';
import * as q from './queries.ts';

/** How often (clock time) date journeys are scanned: a contact enters within this of its local midnight. */
export const DATE_SCAN_INTERVAL_MS = 10 * 60_000;
/** Entries written per statement. */
const ENTER_CHUNK = 5000;

export interface DateScanDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  dispatcher: JourneyDispatcher;
}

/** Scans every active date journey once; returns how many contacts entered. */
export async function scanDateTriggers(deps: DateScanDeps): Promise<number> {
  const { db, clock } = deps;
  const now = clock.now();
  let entered = 0;
  for (const j of await q.journeysTriggeredBy(db, 'date')) {
    const compiled = await deps.dispatcher.version(j.id, j.version);
    const def = compiled?.definition;
    if (def === undefined || def.trigger.type !== 'date') continue;
    const trigger = def.trigger;
    const since = scanStart(await q.lastDateScan(db, j.id), now);
    const candidates = await q.dateCandidates(db, trigger.attribute, dateKeys(scanDays(since, now), trigger));
    const firings: { contactId: string; occurrence: string; day: string }[] = [];
    for (const c of candidates) {
      const tz = c.timezone !== null && isTimeZone(c.timezone) ? c.timezone : (def.timezone ?? 'UTC');
      const f = firingOf(c.value, tz, since, now, trigger);
      if (f !== null) firings.push({ contactId: c.contactId, ...f });
    }
    const dayOf = new Map(firings.map((f) => [`${f.contactId}\u0000${f.occurrence}`, f.day]));
    for (let i = 0; i < firings.length || i === 0; i += ENTER_CHUNK) {
      const part = firings.slice(i, i + ENTER_CHUNK);
      entered += await db.transaction(async (tx) => {
        const fresh = await q.recordDateFirings(tx, j.id, part, now);
        const ids = await q.enterRuns(
          tx,
          { id: j.id, version: j.version, start: def.start, reentry: def.reentry },
          fresh.map((f) => ({
            contactId: f.contactId,
            contact: { email: null, attributes: {} },
            trigger: {
              key: `date:${trigger.attribute}:${f.occurrence}`,
              type: 'date',
              attribute: trigger.attribute,
              occurrence: f.occurrence,
              day: dayOf.get(`${f.contactId}\u0000${f.occurrence}`),
            },
          })),
          now,
        );
        // the scan is done once its last chunk is in
        if (i + ENTER_CHUNK >= firings.length) await q.recordDateScan(tx, j.id, now);
        return ids.length;
      });
    }
  }
  return entered;
}

/** The date-trigger loop of the `journeys` stage. */
export async function runDateTriggers(deps: DateScanDeps, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const n = await scanDateTriggers(deps);
      if (n > 0) deps.log.info({ entered: n }, 'journey date triggers entered contacts');
    } catch (err) {
      deps.log.error({ err }, 'journey date-trigger scan failed');
    }
    await deps.clock.sleep(DATE_SCAN_INTERVAL_MS, signal).catch(() => undefined);
  }
}
