/**
 * Erasure of one subject in Switchyard's own store: the step the data-subject request fan-out calls
 * for "Switchyard's own store and logs". It shreds the subject's data key (everything sealed under
 * it, ledger rows included, becomes unreadable everywhere, backups and logs too), keeps the
 * suppression as a fingerprint (with the reason the address had, else `erased`), then removes the
 * plain-text traces kept outside the sealed columns. Idempotent: a repeat finds nothing left and
 * reports zero changes, which is the evidence that the subject is gone.
 */
import type { Db } from '../store/port.ts';
import { normalizeAddress, SEALED_PREFIX } from './crypto.ts';
import { scrubPlainText, suppressionReasonOf } from './erasure-queries.ts';
import type { Privacy } from './service.ts';

export interface ErasureResult {
  /** The subject's id (blind index, base64url): safe to log and to return as evidence. */
  subject: string;
  /** false when the key was already destroyed by an earlier erasure. */
  shredded: boolean;
  /** The reason the fingerprint carries (the address's suppression reason, else `erased`). */
  suppressedAs: string;
  /** Rows changed per table by the plain-text scrub. */
  scrubbed: Record<string, number>;
}

export type EraseSubject = (email: string, options?: { names?: readonly string[] }) => Promise<ErasureResult>;

/** Escapes a literal for a PostgreSQL regular expression (ARE). */
function literal(value: string): string {
  return value.replace(/[.^$*+?()[\]{}|\\]/g, '\\$&');
}

export function createErasure(deps: { db: Db; privacy: Pick<Privacy, 'shred' | 'blindIndex'> }): EraseSubject {
  return async function erase(email, options = {}) {
    const address = normalizeAddress(email);
    const reason = (await suppressionReasonOf(deps.db, address)) ?? 'erased';
    const { shredded, subject } = await deps.privacy.shred(address, reason);
    // names shorter than 3 characters would match inside unrelated words
    const names = (options.names ?? []).map((n) => n.trim()).filter((n) => n.length >= 3);
    const marker = SEALED_PREFIX + subject;
    const scrubbed = await scrubPlainText(deps.db, {
      email: address,
      marker,
      // the subject's 16 bytes fill 21 whole base64url characters; the 22nd mixes in the IV
      sealedPrefix: marker.slice(0, SEALED_PREFIX.length + 21),
      pattern: [address, ...names].map(literal).join('|'),
    });
    return { subject, shredded, suppressedAs: reason, scrubbed };
  };
}
