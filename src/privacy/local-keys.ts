/**
 * The local master-key adapter: AES-256-GCM key wrapping with master keys held in process memory,
 * from config (newest first) or generated into the data directory for local use. A master key's id
 * is the first 8 bytes of its SHA-256, so the key table names the wrapping key without revealing it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SwitchyardError } from '../core/errors.ts';
import { IV_BYTES, unwrapKey, wrapKey } from './crypto.ts';
import type { MasterKeys, WrappedDataKey } from './key-port.ts';

/** Decodes configured master keys (base64 or base64url of 32 bytes each); throws CONFIG_INVALID naming the position. */
export function decodeMasterKeys(encoded: readonly string[]): Buffer[] {
  return encoded.map((e, i) => {
    const key = Buffer.from(e.trim(), 'base64url');
    if (key.length !== 32) {
      throw new SwitchyardError('CONFIG_INVALID', `PII master key #${i + 1} is not 32 bytes of base64`);
    }
    return key;
  });
}

export function masterKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** `keys` newest first: the first wraps, all unwrap (until `privacy rotate-key` has rewrapped the rest). */
export function createLocalMasterKeys(keys: readonly Buffer[]): MasterKeys {
  if (keys.length === 0) throw new SwitchyardError('CONFIG_INVALID', 'no PII master key configured');
  const byId = new Map(keys.map((k) => [masterKeyId(k), k]));
  const current = keys[0]!;
  const currentKeyId = masterKeyId(current);
  return {
    name: 'local',
    currentKeyId,
    async wrap(items) {
      // one randomBytes call per batch: a chunk of 1000 new subjects is one syscall, not 1000
      const ivs = randomBytes(IV_BYTES * items.length);
      return items.map((it, i) => ({
        subject: it.subject,
        masterKeyId: currentKeyId,
        wrapped: wrapKey(current, it.subject, it.key, ivs.subarray(i * IV_BYTES, (i + 1) * IV_BYTES)),
      }));
    },
    async unwrap(items: readonly WrappedDataKey[]) {
      return items.map((it) => {
        const master = byId.get(it.masterKeyId);
        if (master === undefined) {
          throw new SwitchyardError('PII_KEY_UNAVAILABLE', 'a data key is wrapped by a master key not configured', {
            details: { masterKeyId: it.masterKeyId },
          });
        }
        try {
          return unwrapKey(master, it.subject, it.wrapped);
        } catch (err) {
          throw new SwitchyardError('PII_KEY_UNAVAILABLE', 'a wrapped data key failed authentication', {
            details: { masterKeyId: it.masterKeyId },
            cause: err,
          });
        }
      });
    },
    holds: (id) => byId.has(id),
  };
}
