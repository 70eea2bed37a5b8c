/**
 * The local master-key adapter: master keys held in process memory, from config (newest first) or
 * generated into the data directory for local use. New data keys are wrapped with AES-256 key wrap
 * (RFC 3394) of key material ‖ subject, each batch of one length under one cipher context
 * (key-wrap.ts); keys wrapped by earlier versions with AES-256-GCM (60 bytes: not a multiple of 8,
 * as every key wrap is) still unwrap, and `privacy rotate-key` rewraps them. A master key's id is
 * the first 8 bytes of its SHA-256, so the key table names the wrapping key without revealing it.
 */
import { createHash } from 'node:crypto';
import { SwitchyardError } from '../core/errors.ts';
import { unwrapKey } from './crypto.ts';
import type { MasterKeys, WrappedDataKey } from './key-port.ts';
import { unwrapMany, wrapMany, wrapStaged } from './key-wrap.ts';

/** Every key wrap is a whole number of 8-byte semiblocks; a GCM wrap (12 + 16 + 32 bytes) is not. */
const SEMIBLOCK = 8;
const SUBJECT_BYTES = 16;

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
      if (items.length === 0) return [];
      // the usual batch (one key length, 16-byte subjects): each key ‖ subject written straight into
      // the wrap's input, no buffer per key
      const keyLen = items[0]!.key.length;
      const len = keyLen + SUBJECT_BYTES;
      if (
        len % SEMIBLOCK === 0
        && items.every((it) => it.key.length === keyLen && it.subject.length === SUBJECT_BYTES)
      ) {
        const staged = Buffer.alloc(len * items.length);
        items.forEach((it, k) => {
          it.key.copy(staged, k * len);
          it.subject.copy(staged, k * len + keyLen);
        });
        const out = wrapStaged(current, staged, len);
        return items.map((it, k) => ({
          subject: it.subject,
          masterKeyId: currentKeyId,
          wrapped: out.subarray(k * (len + SEMIBLOCK), (k + 1) * (len + SEMIBLOCK)),
        }));
      }
      const plain = items.map((it) => Buffer.concat([it.key, it.subject], it.key.length + it.subject.length));
      const wrapped: Buffer[] = new Array(items.length);
      // key wrap runs a batch of one length at once: a caller's batch is normally one length
      for (const indexes of byLength(plain.map((p) => p.length))) {
        const out = wrapMany(
          current,
          indexes.map((i) => plain[i]!),
        );
        indexes.forEach((i, b) => {
          wrapped[i] = out[b]!;
        });
      }
      return items.map((it, i) => ({ subject: it.subject, masterKeyId: currentKeyId, wrapped: wrapped[i]! }));
    },
    async wrapPacked(staged, materialBytes) {
      const len = materialBytes + SUBJECT_BYTES;
      // wrapStaged checks the rest (whole semiblocks, 16 to 336 bytes, whole entries)
      return { wrapped: wrapStaged(current, staged, len), width: len + SEMIBLOCK };
    },
    async unwrap(items: readonly WrappedDataKey[]) {
      const out: Buffer[] = new Array(items.length);
      // key-wrapped values in one batch per master key and length; earlier GCM wraps one by one
      const batches = new Map<string, number[]>();
      items.forEach((it, i) => {
        const master = byId.get(it.masterKeyId);
        if (master === undefined) {
          throw new SwitchyardError('PII_KEY_UNAVAILABLE', 'a data key is wrapped by a master key not configured', {
            details: { masterKeyId: it.masterKeyId },
          });
        }
        if (it.wrapped.length % SEMIBLOCK === 0) {
          const batchKey = `${it.masterKeyId}:${it.wrapped.length}`;
          const batch = batches.get(batchKey);
          if (batch === undefined) batches.set(batchKey, [i]);
          else batch.push(i);
          return;
        }
        try {
          out[i] = unwrapKey(master, it.subject, it.wrapped);
        } catch (err) {
          throw failed(it.masterKeyId, err);
        }
      });
      for (const indexes of batches.values()) {
        const id = items[indexes[0]!]!.masterKeyId;
        const plain = unwrapMany(
          byId.get(id)!,
          indexes.map((i) => items[i]!.wrapped),
        );
        indexes.forEach((i, b) => {
          const p = plain[b];
          // the subject closing the wrap must be the row's own: a key moved to another subject fails
          if (p == null || !p.subarray(p.length - SUBJECT_BYTES).equals(items[i]!.subject)) throw failed(id);
          out[i] = p.subarray(0, p.length - SUBJECT_BYTES);
        });
      }
      return out;
    },
    holds: (id) => byId.has(id),
  };
}

/** Indexes grouped by equal length, in order of first appearance. */
function byLength(lengths: readonly number[]): number[][] {
  const groups = new Map<number, number[]>();
  lengths.forEach((len, i) => {
    const g = groups.get(len);
    if (g === undefined) groups.set(len, [i]);
    else g.push(i);
  });
  return [...groups.values()];
}

function failed(masterKeyId: string, cause?: unknown): SwitchyardError {
  return new SwitchyardError('PII_KEY_UNAVAILABLE', 'a wrapped data key failed authentication', {
    details: { masterKeyId },
    ...(cause === undefined ? {} : { cause }),
  });
}
