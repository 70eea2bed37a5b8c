/**
 * API keys for tests: creates a real key through the access service (no bypass of the admin
 * server's checks) and returns the headers that carry it.
 */
import { createAuditLog, type AuditLog } from '../../src/access/audit.ts';
import { createKeyService, type KeyService } from '../../src/access/keys.ts';
import type { Clock } from '../../src/clock/port.ts';
import type { Role } from '../../src/core/access-roles.ts';
import type { Db } from '../../src/store/port.ts';

export type AuthHeaders = { authorization: string };

/** Creates a key of `role` (admin by default) and returns its Authorization header. */
export async function authHeaders(
  app: { keys: KeyService },
  role: Role = 'admin',
  name = `test-${role}`,
): Promise<AuthHeaders> {
  const { key } = await app.keys.create({ name, role }, { by: 'test' });
  return { authorization: `Bearer ${key}` };
}

/** The access service on a store, for tests that build an admin server without the whole App. */
export function accessServices(db: Db, clock: Clock): { keys: KeyService; audit: AuditLog } {
  const audit = createAuditLog({ db, clock });
  return { keys: createKeyService({ db, clock, audit }), audit };
}
