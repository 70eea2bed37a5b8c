/**
 * Reachability of real services for adapter suites. A suite whose peer is missing skips with
 * the reason (never silently); with SWITCHYARD_REQUIRE_SERVICES=1 (CI) it fails instead.
 */
import { TEST_DATABASE_URL, postgresUnreachable, servicesRequired } from './databases.ts';

/** Anything with node:test's `skip(message)` (a TestContext). */
export interface Skippable {
  skip(message?: string): void;
}

/**
 * Resolves to the PostgreSQL test URL (TEST_DATABASE_URL, else 127.0.0.1:5432/test) when the
 * server answers; otherwise calls `t.skip(reason)` and resolves to null, or throws when
 * SWITCHYARD_REQUIRE_SERVICES=1. Callers `return` on null.
 */
export async function requirePostgres(t: Skippable): Promise<string | null> {
  const reason = await postgresUnreachable(TEST_DATABASE_URL);
  if (reason === null) return TEST_DATABASE_URL;
  if (servicesRequired) throw new Error(`${reason} (SWITCHYARD_REQUIRE_SERVICES=1)`);
  t.skip(reason);
  return null;
}
