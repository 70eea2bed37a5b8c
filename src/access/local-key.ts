/**
 * The local admin key file, so `npm start` then `switchyard campaign demo` works with no manual
 * step: on start, when no active admin key exists, one is created and written to
 * DATA_DIR/admin-key (file 0600, a directory it creates 0700); the CLI on the same machine reads
 * it when SWITCHYARD_API_KEY is unset. The key text is never logged, only the file's path.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyService } from './keys.ts';

export const ADMIN_KEY_FILE = 'admin-key';

export function adminKeyPath(dataDir: string): string {
  return join(dataDir, ADMIN_KEY_FILE);
}

export type LocalKeyOutcome =
  | { kind: 'created'; path: string; keyId: string }
  | { kind: 'exists'; path: string | null };

/** Creates the first admin key when there is none; `exists` names the key file when it is there. */
export async function ensureLocalAdminKey(keys: KeyService, dataDir: string): Promise<LocalKeyOutcome> {
  const path = adminKeyPath(dataDir);
  if (await keys.hasActiveAdmin()) return { kind: 'exists', path: existsSync(path) ? path : null };
  const actor = { actorKeyId: null, actorName: 'switchyard start', role: null, sourceIp: null };
  const created = await keys.create({ name: 'local-admin', role: 'admin' }, { by: actor.actorName, audit: actor });
  try {
    writeKeyFile(dataDir, created.key);
  } catch (err) {
    // an admin key nobody can read would stop every later start from creating one
    await keys.revoke(created.info.id, { by: actor.actorName, audit: actor });
    throw err;
  }
  return { kind: 'created', path, keyId: created.info.id };
}

/** Writes through a temporary file and a rename, so a reader never sees half a key. */
function writeKeyFile(dataDir: string, key: string): void {
  // the data directory holds the database and every local secret: owner only, even if it existed
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const path = adminKeyPath(dataDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${key}\n`, { mode: 0o600, flag: 'w' });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The key in DATA_DIR/admin-key, or undefined when there is no such file. */
export function readLocalAdminKey(dataDir: string): string | undefined {
  const path = adminKeyPath(dataDir);
  if (!existsSync(path)) return undefined;
  const key = readFileSync(path, 'utf8').trim();
  return key === '' ? undefined : key;
}
