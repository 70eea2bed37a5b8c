/**
 * The privacy service: the ONE module personal data goes through. It seals values per subject
 * (AES-256-GCM under the subject's data key), opens them, computes blind indexes for look-ups by
 * address, and shreds a subject by destroying its data key (crypto-shredding: every copy of what
 * was sealed under it, in any table, bus message, dead letter, log or backup, becomes unreadable).
 * A subject is a normalised email address; its id is the address's blind index.
 * Invariants: no plaintext and no data key is ever written by this module; keys are created and
 * read set-wise (one query per batch); unwrapped keys read from the store live only in a bounded cache
 * in memory (keys this process just created are used and dropped).
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import {
  createBlindIndexer,
  IV_BYTES,
  normalizeAddress,
  openParts,
  parseSealed,
  SEALED_PREFIX,
  seal,
  SUBJECT_BYTES,
} from './crypto.ts';
import type { MasterKeys } from './key-port.ts';
import { createLru } from './lru.ts';
import * as q from './queries.ts';

export interface PrivacyOptions {
  /** How many unwrapped data keys to keep in memory (32 bytes each plus map overhead). */
  cacheSize: number;
}

export interface ShredResult {
  /** false when the subject was already shredded (a repeat call changes nothing). */
  shredded: boolean;
  subject: string;
}

export interface Privacy {
  /** The blind index of an address (16 bytes): the key of look-ups by address and of fingerprints. */
  blindIndex(email: string): Buffer;
  /** Seals `plaintext` under the subject of `email` (its key is created on first use). */
  sealFor(email: string, plaintext: string): Promise<string>;
  /**
   * Seals each value under its own subject's key, creating missing keys in one insert. A subject
   * already shredded gets an erased marker instead (no ciphertext: nothing to recover). `subject`,
   * when the caller already computed `blindIndex(email)`, saves hashing the address again.
   */
  sealMany(items: readonly SealItem[]): Promise<string[]>;
  /** Opens a sealed value; null when its subject was shredded. Plain (unsealed) text is returned as is. */
  open(sealed: string): Promise<string | null>;
  openMany(sealed: readonly string[]): Promise<(string | null)[]>;
  /**
   * Destroys the subject's data key (idempotent) and records its suppression fingerprint, so the
   * person is never mailed again though nothing stored names them.
   */
  shred(email: string, reason?: string): Promise<ShredResult>;
  isShredded(email: string): Promise<boolean>;
  /** email (as given) → reason, for the addresses whose fingerprint is suppressed. One query. */
  findFingerprinted(emails: readonly string[]): Promise<Map<string, string>>;
  /**
   * Rewraps every data key not wrapped by the current master key, in keyset batches (an interrupted
   * run resumes by running again). `unheld` counts keys under a master key not configured (left as
   * they are: configure that key and run again). A concurrent shred wins over a rewrap.
   */
  rewrapAll(batchSize?: number): Promise<{ rewrapped: number; unheld: number; byMasterKey: Record<string, number> }>;
}

export interface SealItem {
  email: string;
  value: string;
  /** `blindIndex(email)`, when the caller has it. */
  subject?: Buffer;
}

const ERASED = Symbol('erased');
type KeyOrErased = Buffer | typeof ERASED;

export function createPrivacy(
  deps: { db: Db; clock: Clock; keys: MasterKeys; indexKey: Buffer },
  options: PrivacyOptions,
): Privacy {
  const { db, clock, keys, indexKey } = deps;
  const cache = createLru<string, Buffer>(options.cacheSize);
  const blindIndex = createBlindIndexer(indexKey);

  /**
   * Data keys (or the erased marker) for distinct subjects. With `create`, fresh keys are offered for
   * every subject not cached and inserted where none exists, in the same statement that reads the
   * existing ones (one round trip per chunk; a wrap for a subject that had a key is wasted CPU,
   * cheaper than a second round trip).
   */
  async function keysFor(subjects: Map<string, Buffer>, create: boolean): Promise<Map<string, KeyOrErased>> {
    const out = new Map<string, KeyOrErased>();
    const missing: Buffer[] = [];
    const missingIds: string[] = [];
    for (const [id, subject] of subjects) {
      const k = cache.get(id);
      if (k === undefined) {
        missing.push(subject);
        missingIds.push(id);
      } else out.set(id, k);
    }
    if (missing.length === 0) return out;
    if (!create) {
      await loadKeys(missing, out);
      return out;
    }
    const fresh = randomBytes(32 * missing.length);
    const offered = missing.map((subject, i) => ({ subject, key: Buffer.from(fresh.subarray(i * 32, (i + 1) * 32)) }));
    const wrapped = await keys.wrap(offered);
    const { existing, inserted } = await q.findOrInsertKeys(
      db,
      keys.currentKeyId,
      wrapped.map((w) => ({ subject: w.subject, wrapped: w.wrapped })),
      clock.now(),
    );
    await useRows(existing, out);
    if (existing.length + inserted === missing.length) {
      // every subject the store did not have was inserted by this statement, with the key offered.
      // Not cached: a first blast creates one per recipient and seals once with it, so caching them
      // only churned the cache (measured in bench/README.md ## blast); a later use reads it from the store.
      missingIds.forEach((id, i) => {
        if (!out.has(id)) out.set(id, offered[i]!.key);
      });
      return out;
    }
    // a concurrent writer inserted some after our snapshot: read every subject still unknown (ours
    // come back with the key offered, theirs with their own)
    await loadKeys(
      missing.filter((_, i) => !out.has(missingIds[i]!)),
      out,
    );
    return out;
  }

  async function loadKeys(subjects: Buffer[], out: Map<string, KeyOrErased>): Promise<void> {
    await useRows(await q.findKeys(db, subjects), out);
  }

  /** Unwraps live rows into the cache and `out` (one unwrap call); shredded rows become the marker. */
  async function useRows(rows: q.SubjectKeyRow[], out: Map<string, KeyOrErased>): Promise<void> {
    const live = rows.filter((r) => r.wrapped !== null);
    for (const r of rows) if (r.wrapped === null) out.set(r.subject.toString('base64url'), ERASED);
    if (live.length === 0) return;
    const unwrapped = await keys.unwrap(
      live.map((r) => ({ subject: r.subject, masterKeyId: r.masterKeyId!, wrapped: r.wrapped! })),
    );
    live.forEach((r, i) => {
      const id = r.subject.toString('base64url');
      cache.set(id, unwrapped[i]!);
      out.set(id, unwrapped[i]!);
    });
  }

  async function sealMany(items: readonly SealItem[]): Promise<string[]> {
    const subjectOf = items.map((it) => it.subject ?? blindIndex(it.email));
    const ids = subjectOf.map((s) => s.toString('base64url'));
    const distinct = new Map(subjectOf.map((s, i) => [ids[i]!, s]));
    const found = await keysFor(distinct, true);
    const ivs = randomBytes(IV_BYTES * items.length);
    return items.map((it, i) => {
      const subject = subjectOf[i]!;
      const key = found.get(ids[i]!);
      if (key === undefined) throw new SwitchyardError('PII_KEY_UNAVAILABLE', 'no data key for a subject');
      if (key === ERASED) return SEALED_PREFIX + ids[i]!;
      return seal(subject, key, ivs.subarray(i * IV_BYTES, (i + 1) * IV_BYTES), it.value);
    });
  }

  async function openMany(values: readonly string[]): Promise<(string | null)[]> {
    const parts = values.map((v) => (v.startsWith(SEALED_PREFIX) ? parseSealed(v) : undefined));
    const subjects = new Map<string, Buffer>();
    for (const [i, p] of parts.entries()) {
      if (p) subjects.set(p.subject.toString('base64url'), p.subject);
      else if (p === null) {
        // an erased marker is the subject alone; anything else after the prefix is not ours
        const raw = Buffer.from(values[i]!.slice(SEALED_PREFIX.length), 'base64url');
        if (raw.length !== SUBJECT_BYTES) throw new SwitchyardError('PII_TAMPERED', 'a sealed value is malformed');
      }
    }
    const found = await keysFor(subjects, false);
    return values.map((v, i) => {
      const p = parts[i];
      if (p === undefined) return v;
      if (p === null) return null;
      const key = found.get(p.subject.toString('base64url'));
      if (key === undefined || key === ERASED) return null;
      return openParts(p, key);
    });
  }

  return {
    blindIndex,
    sealFor: async (email, plaintext) => (await sealMany([{ email, value: plaintext }]))[0]!,
    sealMany,
    open: async (sealed) => (await openMany([sealed]))[0]!,
    openMany,
    async shred(email, reason = 'erased') {
      const subject = blindIndex(email);
      const id = subject.toString('base64url');
      const before = await q.shreddedAt(db, subject);
      const now = clock.now();
      await db.transaction(async (tx) => {
        await q.addFingerprint(tx, subject, reason, 'erasure', now);
        await q.shredKey(tx, subject, now);
      });
      cache.delete(id);
      return { shredded: before === null, subject: id };
    },
    async isShredded(email) {
      return (await q.shreddedAt(db, blindIndex(email))) !== null;
    },
    async findFingerprinted(emails) {
      const fps = emails.map((e) => blindIndex(e));
      const found = await q.findFingerprints(db, fps);
      const out = new Map<string, string>();
      if (found.size === 0) return out;
      emails.forEach((e, i) => {
        const reason = found.get(fps[i]!.toString('base64url'));
        if (reason !== undefined) out.set(e, reason);
      });
      return out;
    },
    async rewrapAll(batchSize = 1000) {
      let after: Buffer = Buffer.alloc(0);
      let rewrapped = 0;
      let unheld = 0;
      for (;;) {
        const rows = await q.findStaleKeys(db, keys.currentKeyId, after, batchSize);
        if (rows.length === 0) break;
        after = rows[rows.length - 1]!.subject;
        // keys under a master key not configured cannot be rewrapped: counted, left as they are
        const held = rows.filter((r) => keys.holds(r.masterKeyId!));
        unheld += rows.length - held.length;
        if (held.length === 0) continue;
        const plain = await keys.unwrap(
          held.map((r) => ({ subject: r.subject, masterKeyId: r.masterKeyId!, wrapped: r.wrapped! })),
        );
        const wrapped = await keys.wrap(held.map((r, i) => ({ subject: r.subject, key: plain[i]! })));
        rewrapped += await q.rewrapKeys(
          db,
          keys.currentKeyId,
          wrapped.map((w, i) => ({ subject: w.subject, wrapped: w.wrapped, oldKeyId: held[i]!.masterKeyId! })),
        );
      }
      return { rewrapped, unheld, byMasterKey: await q.countByMasterKey(db) };
    },
  };
}

export { normalizeAddress };
