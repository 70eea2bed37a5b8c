/**
 * Debian's chromium for the dashboard's browser tests, driven by playwright-core (never a
 * downloaded browser). Absent: the suite skips with the reason, or fails when
 * SWITCHYARD_REQUIRE_SERVICES=1 (.ci/run installs the package).
 */
import { accessSync, constants } from 'node:fs';
import { servicesRequired } from '../support/databases.ts';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

/** The chromium executable, or the reason there is none (throws when services are required). */
export function findChromium(env: Record<string, string | undefined>): { path: string } | { reason: string } {
  const paths = env.CHROMIUM_PATH ? [env.CHROMIUM_PATH, ...CANDIDATES] : CANDIDATES;
  for (const p of paths) {
    try {
      accessSync(p, constants.X_OK);
      return { path: p };
    } catch {
      // next candidate
    }
  }
  const reason = `chromium not found (${paths.join(', ')}); apt-get install chromium`;
  if (servicesRequired) throw new Error(`${reason} (SWITCHYARD_REQUIRE_SERVICES=1)`);
  return { reason };
}
