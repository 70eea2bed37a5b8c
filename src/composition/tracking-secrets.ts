import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';

/** The tracking secret(s): configured, or generated once into the data directory (local use). */
export function trackingSecrets(config: Pick<Config, 'tracking' | 'dataDir'>): string[] {
  if (config.tracking.secrets !== undefined) return [...config.tracking.secrets];
  const file = join(config.dataDir, 'tracking-secret');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  }
  return [readFileSync(file, 'utf8').trim()];
}
