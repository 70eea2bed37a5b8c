/**
 * The PII key material: configured, or generated once into the data directory for local use (as the
 * tracking secret is), so `npm start` encrypts from the first run with no setup. Production sets
 * SWITCHYARD_PII_MASTER_KEYS (or swaps the local adapter for a KMS one here) and SWITCHYARD_PII_INDEX_KEY.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';
import { createLocalMasterKeys, decodeMasterKeys } from '../privacy/local-keys.ts';
import { createPrivacy, type Privacy } from '../privacy/service.ts';

function generated(dataDir: string, name: string): string {
  const file = join(dataDir, name);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // another process of this data directory wrote it first: read theirs
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return readFileSync(file, 'utf8').trim();
}

export function piiKeyMaterial(config: Pick<Config, 'pii' | 'dataDir'>): { masterKeys: Buffer[]; indexKey: Buffer } {
  const masterKeys = decodeMasterKeys(config.pii.masterKeys ?? [generated(config.dataDir, 'pii-master-key')]);
  const indexKey = Buffer.from(config.pii.indexKey ?? generated(config.dataDir, 'pii-index-key'), 'base64url');
  return { masterKeys, indexKey };
}

/** The privacy service over the configured (or generated) keys and the local master-key adapter. */
export function createConfiguredPrivacy(
  config: Pick<Config, 'pii' | 'dataDir'>,
  deps: { db: Db; clock: Clock },
): Privacy {
  const { masterKeys, indexKey } = piiKeyMaterial(config);
  return createPrivacy(
    { ...deps, keys: createLocalMasterKeys(masterKeys), indexKey },
    { cacheSize: config.pii.cacheSize },
  );
}
