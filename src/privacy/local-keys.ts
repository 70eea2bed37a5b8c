/**
 * The local master-key adapter: master keys held in process memory, from config (newest first) or
 * generated into the data directory for local use. New data keys are wrapped with AES-256 key wrap
 * (RFC 3394) of key ‖ subject, a whole batch under one cipher context (key-wrap.ts); keys wrapped
 * by earlier versions with AES-256-GCM (60 bytes, not 56) still unwrap, and `privacy rotate-key`
 * rewraps them. A master key's id is the first 8 bytes of its SHA-256, so the key table names the
 * wrapping key without revealing it.
 */
import { createHash } from 'node:crypto';
import { SwitchyardError } from '../core/errors.ts';
import { unwrapKey } from './crypto.ts';
import type { MasterKeys, WrappedDataKey } from './key-port.ts';
import { unwrapMany, wrapMany } from './key-wrap.ts';

const DATA_KEY_BYTES = 32;
/** Key wrap of a 32-byte key and its 16-byte subject: 8 bytes longer than the plaintext. */
const KW_WRAPPED_BYTES = 56;

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
      const plain = items.map((it) => Buffer.concat([it.key, it.subject], DATA_KEY_BYTES + it.subject.length));
      const wrapped = wrapMany(current, plain);
      return items.map((it, i) => ({ subject: it.subject, masterKeyId: currentKeyId, wrapped: wrapped[i]! }));
    },
    async unwrap(items: readonly WrappedDataKey[]) {
      const out: Buffer[] = new Array(items.length);
      // key-wrapped values in one batch per master key; earlier GCM wraps one by one
      const batches = new Map<string, number[]>();
      items.forEach((it, i) => {
        const master = byId.get(it.masterKeyId);
        if (master === undefined) {
          throw new SwitchyardError('PII_KEY_UNAVAILABLE', 'a data key is wrapped by a master key not configured', {
            details: { masterKeyId: it.masterKeyId },
          });
        }
        if (it.wrapped.length === KW_WRAPPED_BYTES) {
          const batch = batches.get(it.masterKeyId);
          if (batch === undefined) batches.set(it.masterKeyId, [i]);
          else batch.push(i);
          return;
        }
        try {
          out[i] = unwrapKey(master, it.subject, it.wrapped);
        } catch (err) {
          throw failed(it.masterKeyId, err);
        }
      });
      for (const [id, indexes] of batches) {
        const plain = unwrapMany(
          byId.get(id)!,
          indexes.map((i) => items[i]!.wrapped),
        );
        indexes.forEach((i, b) => {
          const p = plain[b];
          // the subject inside the wrap must be the row's own: a key moved to another subject fails
          if (p == null || !p.subarray(DATA_KEY_BYTES).equals(items[i]!.subject)) throw failed(id);
          out[i] = p.subarray(0, DATA_KEY_BYTES);
        });
      }
      return out;
    },
    holds: (id) => byId.has(id),
  };
}

function failed(masterKeyId: string, cause?: unknown): SwitchyardError {
  return new SwitchyardError('PII_KEY_UNAVAILABLE', 'a wrapped data key failed authentication', {
    details: { masterKeyId },
    ...(cause === undefined ? {} : { cause }),
  });
}
