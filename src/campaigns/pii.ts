/**
 * How the blast road keeps addresses at rest: every ledger row's address is sealed under its
 * subject's key by the privacy module before it is written (one sealMany per chunk), so erasing a
 * person leaves only ciphertext nobody can open. Prepare hashes each address once (its blind index,
 * the subject) and carries it in the chunk (`subject`); the send stage checks fingerprints and seals
 * with it, so no address is hashed twice. Sealing and key creation stay in the send stage: it runs
 * in one process per core, prepare in one (measured in bench/README.md ## blast). Without a sealer
 * (a benchmark's baseline) rows are written as given.
 */
import type { Privacy } from '../privacy/service.ts';

/** What the campaigns service needs of the privacy module. */
export type PiiSealer = Pick<Privacy, 'sealMany' | 'openMany' | 'blindIndex'>;

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
  const out = await pii.sealMany(
    rows.map((r) => {
      const subject = subjects?.get(r.contactId);
      return subject === undefined ? { email: r.email, value: r.email } : { email: r.email, value: r.email, subject };
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
 * The fingerprint function of a suppression check over `recipients`: a carried subject where there
 * is one (normalised address → blind index), else the blind index computed now.
 */
export function fingerprintsOf(
  pii: PiiSealer,
  recipients: readonly { id: string; email: string }[],
  subjects: ReadonlyMap<string, Buffer>,
): (email: string) => Buffer {
  const byEmail = new Map<string, Buffer>();
  for (const r of recipients) {
    const subject = subjects.get(r.id);
    if (subject !== undefined) byEmail.set(r.email.trim().toLowerCase(), subject);
  }
  return (email) => byEmail.get(email) ?? pii.blindIndex(email);
}

/** Opens sealed ledger addresses; an erased subject's address is null. */
export async function opened(pii: PiiSealer | undefined, emails: readonly string[]): Promise<(string | null)[]> {
  if (pii === undefined || emails.length === 0) return [...emails];
  return pii.openMany(emails);
}
