/**
 * AES-256 key wrap (RFC 3394, NIST SP 800-38F "KW") of many data keys at once. KW is built from
 * raw AES block operations; its chain runs within one wrapped key, never across keys, so step t of
 * every key in a batch is one AES-ECB call over all of them under one cipher context. A chunk of
 * 1000 new subjects costs 36 cipher calls instead of 1000 cipher objects (bench/README.md ## blast).
 * The plaintext is the data key followed by its subject, so unwrapping proves both the master key
 * (KW's integrity check value) and that the row was not moved to another subject.
 * The output is byte-for-byte RFC 3394: node's own `id-aes256-wrap` unwraps it (tested).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

const SEMIBLOCK = 8;
const ICV = 0xa6;
const ICV_WORD = 0xa6a6a6a6;

function ecb(masterKey: Buffer, decrypt: boolean) {
  const c = decrypt ? createDecipheriv('aes-256-ecb', masterKey, null) : createCipheriv('aes-256-ecb', masterKey, null);
  c.setAutoPadding(false);
  return c;
}

/**
 * The batch's state, step-major: one buffer per semiblock index i holding every key's block A ‖ R[i]
 * side by side, so step i ciphers its buffer in place and only A (two words per key) moves to the
 * next step's buffer; R[i] never moves (a third of the JS work of gathering whole blocks).
 */
function steps(n: number, m: number): { bytes: Buffer[]; words: Uint32Array[] } {
  const words = Array.from({ length: n }, () => new Uint32Array(4 * m));
  return { words, bytes: words.map((w) => Buffer.from(w.buffer)) };
}

/** Copies every key's A from one step's buffer to another's, xoring t into its last byte. */
function moveA(from: Uint32Array, to: Uint32Array, toBytes: Buffer, m: number, t: number): void {
  for (let k = 0; k < m; k++) {
    to[4 * k] = from[4 * k]!;
    to[4 * k + 1] = from[4 * k + 1]!;
  }
  // t < 256 (n ≤ 42, checked by the callers): it touches A's last byte only
  if (t !== 0) for (let k = 0; k < m; k++) toBytes[16 * k + 7]! ^= t;
}

/**
 * Wraps each plaintext (all the same length, a multiple of 8 bytes, at least 16) under `masterKey`;
 * each result is 8 bytes longer than its plaintext.
 */
export function wrapMany(masterKey: Buffer, plaintexts: readonly Buffer[]): Buffer[] {
  const m = plaintexts.length;
  if (m === 0) return [];
  const len = plaintexts[0]!.length;
  if (plaintexts.some((p) => p.length !== len))
    throw new RangeError('key wrap needs equal plaintexts of a multiple of 8 bytes, 16 to 336');
  // the plaintexts side by side (one copy each)
  const staged = Buffer.alloc(len * m);
  for (const [k, p] of plaintexts.entries()) p.copy(staged, k * len);
  const out = wrapStaged(masterKey, staged, len);
  return plaintexts.map((_, k) => out.subarray(k * (len + SEMIBLOCK), (k + 1) * (len + SEMIBLOCK)));
}

/**
 * `wrapMany` of plaintexts already side by side in `staged`, `len` bytes each (a caller that builds
 * them in place saves a buffer per key); the results side by side, each 8 bytes longer.
 */
export function wrapStaged(masterKey: Buffer, staged: Buffer, len: number): Buffer {
  const n = len / SEMIBLOCK;
  const m = staged.length / len;
  if (!Number.isInteger(n) || n < 2 || n > 42 || !Number.isInteger(m))
    throw new RangeError('key wrap needs equal plaintexts of a multiple of 8 bytes, 16 to 336');
  if (m === 0) return Buffer.alloc(0);
  const { bytes, words } = steps(n, m);
  // spread into the steps' buffers word by word (a copy when `staged` is not 4-byte aligned)
  let aligned = staged;
  if (staged.byteOffset % 4 !== 0) {
    aligned = Buffer.alloc(staged.length);
    staged.copy(aligned);
  }
  const sw = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
  const a0 = words[0]!;
  for (let k = 0; k < m; k++) {
    a0[4 * k] = ICV_WORD;
    a0[4 * k + 1] = ICV_WORD;
    for (let i = 0; i < n; i++) {
      const wi = words[i]!;
      wi[4 * k + 2] = sw[2 * (k * n + i)]!;
      wi[4 * k + 3] = sw[2 * (k * n + i) + 1]!;
    }
  }
  const cipher = ecb(masterKey, false);
  for (let j = 0; j < 6; j++) {
    for (let i = 0; i < n; i++) {
      cipher.update(bytes[i]!).copy(bytes[i]!);
      // A = MSB(B) ^ t goes on to the next step (after the last one: to step 0's buffer, the result)
      const next = (i + 1) % n;
      moveA(words[i]!, words[next]!, bytes[next]!, m, n * j + i + 1);
    }
  }
  cipher.final();
  // each result A ‖ R[0..n-1], gathered word by word into one buffer
  const out = Buffer.alloc((len + SEMIBLOCK) * m);
  const ow = new Uint32Array(out.buffer, out.byteOffset, out.length / 4);
  for (let k = 0; k < m; k++) {
    const base = 2 * k * (n + 1);
    ow[base] = a0[4 * k]!;
    ow[base + 1] = a0[4 * k + 1]!;
    for (let i = 0; i < n; i++) {
      const wi = words[i]!;
      ow[base + 2 * (i + 1)] = wi[4 * k + 2]!;
      ow[base + 2 * (i + 1) + 1] = wi[4 * k + 3]!;
    }
  }
  return out;
}

/**
 * Unwraps each value (all the same length); null for a value whose integrity check fails (another
 * master key, or tampered).
 */
export function unwrapMany(masterKey: Buffer, wrapped: readonly Buffer[]): (Buffer | null)[] {
  const m = wrapped.length;
  if (m === 0) return [];
  const len = wrapped[0]!.length - SEMIBLOCK;
  const n = len / SEMIBLOCK;
  if (!Number.isInteger(n) || n < 2 || n > 42 || wrapped.some((w) => w.length !== len + SEMIBLOCK))
    throw new RangeError('key unwrap needs equal values of a multiple of 8 bytes, 24 to 344');
  const { bytes, words } = steps(n, m);
  const last = n - 1;
  const staged = Buffer.alloc((len + SEMIBLOCK) * m);
  for (const [k, w] of wrapped.entries()) w.copy(staged, k * (len + SEMIBLOCK));
  const sw = new Uint32Array(staged.buffer, staged.byteOffset, staged.length / 4);
  const aLast = words[last]!;
  for (let k = 0; k < m; k++) {
    const base = 2 * k * (n + 1);
    aLast[4 * k] = sw[base]!;
    aLast[4 * k + 1] = sw[base + 1]!;
    for (let i = 0; i < n; i++) {
      const wi = words[i]!;
      wi[4 * k + 2] = sw[base + 2 * (i + 1)]!;
      wi[4 * k + 3] = sw[base + 2 * (i + 1) + 1]!;
    }
  }
  // the first step back is t = 6n
  for (let k = 0; k < m; k++) bytes[last]![16 * k + 7]! ^= 6 * n;
  const decipher = ecb(masterKey, true);
  for (let j = 5; j >= 0; j--) {
    for (let i = last; i >= 0; i--) {
      decipher.update(bytes[i]!).copy(bytes[i]!);
      // A goes back to the previous step's buffer, xored with that step's t (none after step 1)
      const t = n * j + i;
      const prev = i === 0 ? last : i - 1;
      if (t > 0) moveA(words[i]!, words[prev]!, bytes[prev]!, m, t);
    }
  }
  decipher.final();
  const out = Buffer.alloc(len * m);
  const ow = new Uint32Array(out.buffer, out.byteOffset, out.length / 4);
  for (let k = 0; k < m; k++)
    for (let i = 0; i < n; i++) {
      const wi = words[i]!;
      ow[2 * (k * n + i)] = wi[4 * k + 2]!;
      ow[2 * (k * n + i) + 1] = wi[4 * k + 3]!;
    }
  const a0 = bytes[0]!;
  return wrapped.map((_, k) => {
    for (let b = 0; b < SEMIBLOCK; b++) if (a0[16 * k + b] !== ICV) return null;
    return out.subarray(k * len, (k + 1) * len);
  });
}
