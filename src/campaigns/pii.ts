/**
 * How the blast road keeps addresses at rest: every ledger row's address is sealed under its
 * subject's key by the privacy module before it is written (one sealMany per chunk), so erasing a
 * person leaves only ciphertext nobody can open. Prepare hashes each address once (its blind index,
 * the subject) and carries it in the chunk (`subject`); the send stage checks fingerprints and seals
 * with it, so no address is hashed twice. Sealing and key creation stay in the send stage: it runs
 * in one process per core, prepare in one (measured in bench/README.md ## blast). Without a sealer
 * (a benchmark's baseline) rows are written as given.
 */
import { SUBJECT_BYTES } from '../privacy/crypto.ts';
import type { Privacy } from '../privacy/service.ts';

export { SUBJECT_BYTES };

/** What the campaigns service needs of the privacy module. */
export type PiiSealer = Pick<Privacy, 'sealMany' | 'sealAddresses' | 'openMany' | 'blindIndex' | 'blindIndexes'>;

/**
 * The rows with their `email` sealed in one set-wise call; `subjects` (contact id → blind index)
 * saves hashing the addresses it holds. Without a sealer the rows themselves.
 */
export async function sealed<T extends { contactId: string; email: string }>(
  pii: PiiSealer | undefined,
  rows: T[],
  subjects?: ReadonlyMap<string, Buffer>,
): Promise<T[]> {
  if (pii === undefined || rows.length === 0) return rows;
  // every row's subject carried (the blast's case): packed into one buffer, no item per row
  let packed = subjects === undefined ? undefined : Buffer.allocUnsafe(SUBJECT_BYTES * rows.length);
  for (let i = 0; packed !== undefined && i < rows.length; i++) {
    const subject = subjects!.get(rows[i]!.contactId);
    if (subject?.length === SUBJECT_BYTES) subject.copy(packed, i * SUBJECT_BYTES);
    else packed = undefined;
  }
  const out =
    packed !== undefined
      ? await pii.sealAddresses(
          rows.map((r) => r.email),
          packed,
        )
      : await pii.sealMany(
          rows.map((r) => {
            const subject = subjects?.get(r.contactId);
            return subject === undefined
              ? { email: r.email, value: r.email }
              : { email: r.email, value: r.email, subject };
          }),
        );
  return rows.map((r, i) => ({ ...r, email: out[i]! }));
}

/** contact id → the blind index prepare carried in the chunk (empty without PII at rest). */
export function carriedSubjects(recipients: readonly { id: string; subject?: string }[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const r of recipients) if (r.subject !== undefined) out.set(r.id, Buffer.from(r.subject, 'base64url'));
  return out;
}

/**
 * The fingerprints of a suppression check over `recipients`, packed 16 bytes each in their order,
 * and contact id → blind index cut from them: the subject prepare carried where there is one, else
 * the blind index computed now (a chunk prepared before subjects were carried).
 */
export function fingerprintsOf(
  pii: PiiSealer,
  recipients: readonly { id: string; email: string; subject?: string }[],
): { packed: Buffer; subjects: Map<string, Buffer> } {
  const packed = Buffer.allocUnsafe(SUBJECT_BYTES * recipients.length);
  const subjects = new Map<string, Buffer>();
  recipients.forEach((r, i) => {
    const at = i * SUBJECT_BYTES;
    if (r.subject === undefined || packed.write(r.subject, at, SUBJECT_BYTES, 'base64url') !== SUBJECT_BYTES)
      pii.blindIndex(r.email).copy(packed, at);
    subjects.set(r.id, packed.subarray(at, at + SUBJECT_BYTES));
  });
  return { packed, subjects };
}

/** Opens sealed ledger addresses; an erased subject's address is null. */
export async function opened(pii: PiiSealer | undefined, emails: readonly string[]): Promise<(string | null)[]> {
  if (pii === undefined || emails.length === 0) return [...emails];
  return pii.openMany(emails);
}
