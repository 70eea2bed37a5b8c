/**
 * The cryptography of PII at rest, as functions over buffers: AES-256-GCM sealing with the subject
 * bound as associated data, the sealed text format stored in text columns, and the blind index
 * (keyed HMAC of the normalised address). Randomness (IVs, data keys) comes in as arguments from the
 * service, so these stay deterministic and testable.
 */
import { createCipheriv, createDecipheriv, createHmac, hash } from 'node:crypto';
import { SwitchyardError } from '../core/errors.ts';
import { createHmacSha256 } from '../core/tracking-token.ts';

/** Prefix of every sealed value: lets a scan (and the erasure test) tell sealed text from plain text. */
export const SEALED_PREFIX = 'pii1:';
export const SUBJECT_BYTES = 16;
export const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The AES-256 data key at the start of a subject's key material; its identity block follows. */
export const DATA_KEY_BYTES = 32;
/** Longest identity block: key material ‖ subject stays within key wrap's 336-byte batch limit. */
export const MAX_IDENTITY_BYTES = 256;

/**
 * The identity block's width for `addresses`: the longest one's UTF-8 length rounded up to 8 bytes
 * (key wrap works in 8-byte semiblocks), the same for a whole batch so its wrapped keys have one
 * length; 0 when one is too long or contains a NUL byte (the padding), then keys carry no identity.
 */
export function identityWidth(addresses: Iterable<string>): number {
  let max = 0;
  for (const a of addresses) {
    const len = Buffer.byteLength(a, 'utf8');
    if (len > MAX_IDENTITY_BYTES || a.includes('\0')) return 0;
    if (len > max) max = len;
  }
  return Math.ceil(max / 8) * 8;
}

/** Writes `address` (UTF-8, zero-padded to the block's end) into `block`. */
export function writeIdentity(block: Buffer, address: string): void {
  block.fill(0, block.write(address, 'utf8'));
}

/** The address a key material carries after its data key; undefined for material without one. */
export function identityOf(material: Buffer): string | undefined {
  if (material.length <= DATA_KEY_BYTES) return undefined;
  let end = material.length;
  while (end > DATA_KEY_BYTES && material[end - 1] === 0) end--;
  return end === DATA_KEY_BYTES ? undefined : material.toString('utf8', DATA_KEY_BYTES, end);
}

/** Lower-cases and trims the address: the one normalisation blind indexes and suppression agree on. */
export function normalizeAddress(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * The blind index of an address: HMAC-SHA256 under the index key, truncated to 16 bytes. It is the
 * subject's id (the key table's primary key) and the suppression fingerprint that survives erasure.
 * 128 bits keep collisions out of reach for any audience while halving index size.
 */
export function blindIndexOf(indexKey: Buffer, email: string): Buffer {
  return createHmac('sha256', indexKey).update(normalizeAddress(email)).digest().subarray(0, SUBJECT_BYTES);
}

/**
 * `blindIndexOf` with the key prepared once: the same bytes, over one-shot hashes (the blast computes
 * one per recipient in prepare and again in send, where a createHmac object per call costs more).
 */
export function createBlindIndexer(indexKey: Buffer): (email: string) => Buffer {
  const mac = createHmacSha256(indexKey);
  return (email) => mac(Buffer.from(normalizeAddress(email), 'utf8')).subarray(0, SUBJECT_BYTES);
}

/**
 * Blind indexes of many addresses already normalised, packed 16 bytes each in order: the same bytes
 * as `blindIndexOf`, written into one buffer (a chunk's fingerprint parameter and carried subjects
 * are cut from it) instead of a buffer per address.
 */
export function createPackedBlindIndexer(indexKey: Buffer): (normalised: readonly string[]) => Buffer {
  const BLOCK = 64;
  const key = indexKey.length > BLOCK ? hash('sha256', indexKey, 'buffer') : indexKey;
  let inner = Buffer.alloc(BLOCK + 256);
  const outer = Buffer.alloc(BLOCK + 32);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = (key[i] ?? 0) ^ 0x36;
    outer[i] = (key[i] ?? 0) ^ 0x5c;
  }
  return (addresses) => {
    const out = Buffer.allocUnsafe(SUBJECT_BYTES * addresses.length);
    addresses.forEach((address, i) => {
      const need = BLOCK + Buffer.byteLength(address, 'utf8');
      if (inner.length < need) {
        const grown = Buffer.alloc(2 * need);
        inner.copy(grown, 0, 0, BLOCK);
        inner = grown;
      }
      const len = inner.write(address, BLOCK, 'utf8');
      // 'binary' (latin1) strings: node's one-shot hash returns them with less copying than a Buffer
      outer.write(hash('sha256', inner.subarray(0, BLOCK + len), 'binary'), BLOCK, 32, 'latin1');
      out.write(hash('sha256', outer, 'binary'), SUBJECT_BYTES * i, SUBJECT_BYTES, 'latin1');
    });
    return out;
  };
}

/** Encrypts `plaintext` under the subject's data key; the result names the subject so `open` finds its key. */
export function seal(subject: Buffer, dataKey: Buffer, iv: Buffer, plaintext: string): string {
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
  cipher.setAAD(subject);
  // GCM is a stream mode: update returns the whole ciphertext and final nothing, so one allocation
  const ct = cipher.update(plaintext, 'utf8');
  cipher.final();
  const out = Buffer.allocUnsafe(SUBJECT_BYTES + IV_BYTES + TAG_BYTES + ct.length);
  subject.copy(out, 0);
  iv.copy(out, SUBJECT_BYTES);
  cipher.getAuthTag().copy(out, SUBJECT_BYTES + IV_BYTES);
  ct.copy(out, SUBJECT_BYTES + IV_BYTES + TAG_BYTES);
  return SEALED_PREFIX + out.toString('base64url');
}

export interface SealedParts {
  subject: Buffer;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** Splits a sealed value; null when it is not one (plain text stored before encryption, or garbage). */
export function parseSealed(value: string): SealedParts | null {
  if (!value.startsWith(SEALED_PREFIX)) return null;
  const raw = Buffer.from(value.slice(SEALED_PREFIX.length), 'base64url');
  if (raw.length < SUBJECT_BYTES + IV_BYTES + TAG_BYTES) return null;
  return {
    subject: raw.subarray(0, SUBJECT_BYTES),
    iv: raw.subarray(SUBJECT_BYTES, SUBJECT_BYTES + IV_BYTES),
    tag: raw.subarray(SUBJECT_BYTES + IV_BYTES, SUBJECT_BYTES + IV_BYTES + TAG_BYTES),
    ciphertext: raw.subarray(SUBJECT_BYTES + IV_BYTES + TAG_BYTES),
  };
}

export function isSealed(value: string): boolean {
  return value.startsWith(SEALED_PREFIX);
}

/** Decrypts sealed parts with the subject's key; throws PII_TAMPERED when authentication fails. */
export function openParts(p: SealedParts, dataKey: Buffer): string {
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, p.iv);
    decipher.setAAD(p.subject);
    decipher.setAuthTag(p.tag);
    return Buffer.concat([decipher.update(p.ciphertext), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new SwitchyardError('PII_TAMPERED', 'a sealed value failed authentication', { cause: err });
  }
}

/** The wrap before key wrap (key-wrap.ts): AES-256-GCM, the subject as associated data, iv ‖ tag ‖ ct. */
export function wrapKey(masterKey: Buffer, subject: Buffer, dataKey: Buffer, iv: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(subject);
  const ct = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

/** Unwraps a GCM wrap (keys created before key wrap); throws when the wrap or the subject does not match. */
export function unwrapKey(masterKey: Buffer, subject: Buffer, wrapped: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', masterKey, wrapped.subarray(0, IV_BYTES));
  decipher.setAAD(subject);
  decipher.setAuthTag(wrapped.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(wrapped.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
}
