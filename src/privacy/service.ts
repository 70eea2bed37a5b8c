/**
 * The privacy service: the ONE module personal data goes through. It seals values per subject
 * (AES-256-GCM under the subject's data key), opens them, computes blind indexes for look-ups by
 * address, and shreds a subject by destroying its data key (crypto-shredding: every copy of what
 * was sealed under it, in any table, bus message, dead letter, log or backup, becomes unreadable).
 * A subject is a normalised email address; its id is the address's blind index. The address itself
 * is kept once, wrapped with the subject's data key in its key row (decision 0033): a value that is
 * the subject's own address is stored as the subject's id alone, and erasing the key erases it too.
 * Invariants: no plaintext and no data key is ever written by this module; keys are created and
 * read set-wise (one query per batch); unwrapped keys read from the store live only in a bounded cache
 * in memory (keys this process just created are used and dropped).
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import {
  createBlindIndexer,
  createPackedBlindIndexer,
  DATA_KEY_BYTES,
  identityOf,
  identityWidth,
  IV_BYTES,
  normalizeAddress,
  openParts,
  parseSealed,
  SEALED_PREFIX,
  seal,
  SUBJECT_BYTES,
  writeIdentity,
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
  /** Blind indexes of addresses already normalised, packed 16 bytes each in order (one buffer per chunk). */
  blindIndexes(normalised: readonly string[]): Buffer;
  /** Seals `plaintext` under the subject of `email` (its key is created on first use). */
  sealFor(email: string, plaintext: string): Promise<string>;
  /**
   * Seals each value under its own subject's key, creating missing keys (each carrying its subject's
   * address) in one insert. A value that is the subject's normalised address becomes the subject's
   * id alone (`pii1:<subject>`, opened from the key row); a subject already shredded gets that same
   * marker (nothing to recover). `subject`, when the caller already computed `blindIndex(email)`,
   * saves hashing the address again.
   */
  sealMany(items: readonly SealItem[]): Promise<string[]>;
  /**
   * `sealMany` of addresses as their own values (each becomes its subject's marker), their blind
   * indexes packed 16 bytes each in order in `subjects`: the blast's ledger rows, without an item or
   * a buffer per address.
   */
  sealAddresses(addresses: readonly string[], subjects: Buffer): Promise<string[]>;
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
/** A subject's data key and, for keys created since decision 0033, its normalised address. */
interface SubjectKey {
  key: Buffer;
  identity: string | undefined;
}
type KeyOrErased = SubjectKey | typeof ERASED;

function subjectKeyOf(material: Buffer): SubjectKey {
  return { key: material.subarray(0, DATA_KEY_BYTES), identity: identityOf(material) };
}

export function createPrivacy(
  deps: { db: Db; clock: Clock; keys: MasterKeys; indexKey: Buffer },
  options: PrivacyOptions,
): Privacy {
  const { db, clock, keys, indexKey } = deps;
  const cache = createLru<string, SubjectKey>(options.cacheSize);
  const blindIndex = createBlindIndexer(indexKey);
  // whether the last chunk's subjects were all new: then the next key statement only inserts
  let allNew = false;

  /**
   * Data keys (or the erased marker) for distinct subjects. With `identities` (subject id → its
   * normalised address), fresh keys are offered for every subject not cached, each carrying its
   * address, and inserted where none exists, in the same statement that reads the existing ones
   * (one round trip per chunk; a wrap for a subject that had a key is wasted CPU, cheaper than a
   * second round trip). While chunks come all new (a first blast) the statement is a plain insert;
   * a chunk with a known subject fails it and takes the reading form in a second round trip.
   */
  async function keysFor(
    subjects: Map<string, Buffer>,
    identities?: ReadonlyMap<string, string>,
  ): Promise<Map<string, KeyOrErased>> {
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
    if (identities === undefined) {
      await loadKeys(missing, out);
      return out;
    }
    // one buffer for the chunk's key material: 32 random bytes per key, then its address block
    const width = identityWidth(missingIds.map((id) => identities.get(id) ?? ''));
    const size = DATA_KEY_BYTES + width;
    const material = Buffer.allocUnsafe(size * missing.length);
    randomFillSync(material);
    const offered = missing.map((subject, i) => {
      const key = material.subarray(i * size, (i + 1) * size);
      if (width > 0) writeIdentity(key.subarray(DATA_KEY_BYTES), identities.get(missingIds[i]!) ?? '');
      return { subject, key };
    });
    const wrapped = await keys.wrap(offered);
    const { existing, inserted } = await q.findOrInsertKeys(
      db,
      keys.currentKeyId,
      wrapped.map((w) => ({ subject: w.subject, wrapped: w.wrapped })),
      clock.now(),
      !allNew,
    );
    // the next chunk is read as this one turned out: all new (a first blast) inserts only
    allNew = existing.length === 0 && inserted === missing.length;
    await useRows(existing, out);
    if (existing.length + inserted === missing.length) {
      // every subject the store did not have was inserted by this statement, with the key offered.
      // Not cached: a first blast creates one per recipient and seals once with it, so caching them
      // only churned the cache (measured in bench/README.md ## blast); a later use reads it from the store.
      missingIds.forEach((id, i) => {
        if (!out.has(id))
          out.set(id, {
            key: offered[i]!.key.subarray(0, DATA_KEY_BYTES),
            identity: width > 0 ? identities.get(id) || undefined : undefined,
          });
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
      const k = subjectKeyOf(unwrapped[i]!);
      cache.set(id, k);
      out.set(id, k);
    });
  }

  /**
   * A first blast's chunk: each value is its own normalised address (`addresses`), the subjects are
   * packed 16 bytes each in order, and the last chunk's subjects were all new. Then each value becomes
   * its subject's marker and the keys go in with the plain insert, the chunk's key material, subjects
   * and wrapped keys each in one buffer: no map, cache look-up or object per subject (node CPU per
   * new subject in bench/README.md ## blast). undefined, with nothing written, when the chunk does
   * not fit or a subject turns out known or repeated: the general path decides.
   */
  async function sealAllNew(addresses: readonly string[], subjects: Buffer): Promise<string[] | undefined> {
    const width = identityWidth(addresses);
    if (width === 0) return undefined;
    const material = DATA_KEY_BYTES + width;
    const len = material + SUBJECT_BYTES;
    // the wrap's input as is: each key's 32 random bytes, its address (zero-padded), its subject
    const staged = Buffer.allocUnsafe(len * addresses.length);
    randomFillSync(staged);
    for (let k = 0; k < addresses.length; k++) {
      const at = k * len + DATA_KEY_BYTES;
      staged.fill(0, at + staged.write(addresses[k]!, at, 'utf8'), at + width);
      subjects.copy(staged, at + width, k * SUBJECT_BYTES, (k + 1) * SUBJECT_BYTES);
    }
    const wrapped = await keys.wrapPacked(staged, material);
    if (!(await q.insertPackedKeys(db, keys.currentKeyId, subjects, wrapped.wrapped, wrapped.width, clock.now()))) {
      allNew = false;
      return undefined;
    }
    // every subject got the key offered here; not cached, as in keysFor (a first blast uses each once)
    const out: string[] = new Array(addresses.length);
    for (let k = 0; k < addresses.length; k++)
      out[k] = SEALED_PREFIX + subjects.toString('base64url', k * SUBJECT_BYTES, (k + 1) * SUBJECT_BYTES);
    return out;
  }

  async function sealMany(items: readonly SealItem[]): Promise<string[]> {
    if (allNew && items.length > 0) {
      // the short path when every item carries its subject and its value is its own address
      const addresses: string[] = new Array(items.length);
      const subjects = Buffer.allocUnsafe(SUBJECT_BYTES * items.length);
      let fits = true;
      for (let i = 0; fits && i < items.length; i++) {
        const it = items[i]!;
        addresses[i] = normalizeAddress(it.email);
        fits = it.subject?.length === SUBJECT_BYTES && it.value === addresses[i];
        if (fits) it.subject!.copy(subjects, i * SUBJECT_BYTES);
      }
      const sealedNew = fits ? await sealAllNew(addresses, subjects) : undefined;
      if (sealedNew !== undefined) return sealedNew;
    }
    const subjectOf = items.map((it) => it.subject ?? blindIndex(it.email));
    const ids = subjectOf.map((s) => s.toString('base64url'));
    const addresses = items.map((it) => normalizeAddress(it.email));
    const distinct = new Map<string, Buffer>();
    const identities = new Map<string, string>();
    subjectOf.forEach((s, i) => {
      distinct.set(ids[i]!, s);
      identities.set(ids[i]!, addresses[i]!);
    });
    const found = await keysFor(distinct, identities);
    let ivs: Buffer | undefined;
    return items.map((it, i) => {
      const key = found.get(ids[i]!);
      if (key === undefined) throw new SwitchyardError('PII_KEY_UNAVAILABLE', 'no data key for a subject');
      // the subject's own address is kept once, in its key row: the value names the subject only
      // (erased: the same marker, and nothing to recover)
      if (key === ERASED || (key.identity !== undefined && it.value === key.identity)) return SEALED_PREFIX + ids[i]!;
      ivs ??= randomBytes(IV_BYTES * items.length);
      return seal(subjectOf[i]!, key.key, ivs.subarray(i * IV_BYTES, (i + 1) * IV_BYTES), it.value);
    });
  }

  async function openMany(values: readonly string[]): Promise<(string | null)[]> {
    const parts = values.map((v) => (v.startsWith(SEALED_PREFIX) ? parseSealed(v) : undefined));
    const subjects = new Map<string, Buffer>();
    // a value that is the subject alone: its address (kept in its key row), or erased
    const named: (string | undefined)[] = new Array(values.length);
    for (const [i, p] of parts.entries()) {
      if (p) subjects.set(p.subject.toString('base64url'), p.subject);
      else if (p === null) {
        // anything else after the prefix than a subject is not ours
        const raw = Buffer.from(values[i]!.slice(SEALED_PREFIX.length), 'base64url');
        if (raw.length !== SUBJECT_BYTES) throw new SwitchyardError('PII_TAMPERED', 'a sealed value is malformed');
        named[i] = raw.toString('base64url');
        subjects.set(named[i]!, raw);
      }
    }
    const found = await keysFor(subjects);
    return values.map((v, i) => {
      const p = parts[i];
      if (p === undefined) return v;
      const key = found.get(p === null ? named[i]! : p.subject.toString('base64url'));
      if (key === undefined || key === ERASED) return null;
      if (p === null) return key.identity ?? null;
      return openParts(p, key.key);
    });
  }

  return {
    blindIndex,
    blindIndexes: createPackedBlindIndexer(indexKey),
    sealFor: async (email, plaintext) => (await sealMany([{ email, value: plaintext }]))[0]!,
    sealMany,
    async sealAddresses(addresses, subjects) {
      if (subjects.length !== SUBJECT_BYTES * addresses.length)
        throw new RangeError('sealAddresses needs one 16-byte subject per address');
      if (allNew && addresses.length > 0 && addresses.every((a) => a === normalizeAddress(a))) {
        const sealedNew = await sealAllNew(addresses, subjects);
        if (sealedNew !== undefined) return sealedNew;
      }
      return sealMany(
        addresses.map((email, i) => ({
          email,
          value: email,
          subject: subjects.subarray(i * SUBJECT_BYTES, (i + 1) * SUBJECT_BYTES),
        })),
      );
    },
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
