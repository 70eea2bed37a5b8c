/**
 * How the blast road keeps addresses at rest: every ledger row's address is sealed under its
 * subject's key by the privacy module before it is written, so erasing a person leaves only
 * ciphertext nobody can open. Prepare seals a chunk's addresses once (one sealMany, keys created
 * there) and carries them in the chunk (`sealedEmail`); the send stage writes those and reads each
 * subject's fingerprint from them, so it hashes and seals only what arrives without one (chunks of
 * other roads). Without a sealer (a benchmark's baseline) rows are written as given.
 */
import { normalizeAddress, subjectOfSealed } from '../privacy/crypto.ts';
import type { Privacy } from '../privacy/service.ts';

/** What the campaigns service needs of the privacy module. */
export type PiiSealer = Pick<Privacy, 'sealMany' | 'openMany' | 'blindIndex'>;

/**
 * The rows with their `email` sealed: a value carried in the chunk (`carried`, contact id → sealed
 * address) is used as is, the others are sealed in one set-wise call. Without a sealer the rows
 * themselves.
 */
export async function sealed<T extends { contactId: string; email: string }>(
  pii: PiiSealer | undefined,
  rows: T[],
  carried?: ReadonlyMap<string, string>,
): Promise<T[]> {
  if (pii === undefined || rows.length === 0) return rows;
  const have = rows.map((r) => carried?.get(r.contactId));
  const missing = rows.filter((_, i) => have[i] === undefined);
  const out = missing.length === 0 ? [] : await pii.sealMany(missing.map((r) => ({ email: r.email, value: r.email })));
  let next = 0;
  return rows.map((r, i) => ({ ...r, email: have[i] ?? out[next++]! }));
}

/** contact id → the sealed address prepare carried in the chunk (empty without PII at rest). */
export function carriedSeals(recipients: readonly { id: string; sealedEmail?: string }[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of recipients) if (r.sealedEmail !== undefined) out.set(r.id, r.sealedEmail);
  return out;
}

/**
 * The fingerprint function of the send stage's suppression check: a recipient's subject read from
 * its carried sealed address (no HMAC), else its blind index.
 */
export function fingerprintsOf(
  pii: PiiSealer,
  recipients: readonly { email: string; sealedEmail?: string }[],
): (email: string) => Buffer {
  const byEmail = new Map<string, Buffer>();
  for (const r of recipients) {
    const subject = r.sealedEmail === undefined ? null : subjectOfSealed(r.sealedEmail);
    if (subject !== null) byEmail.set(normalizeAddress(r.email), subject);
  }
  return (email) => byEmail.get(email) ?? pii.blindIndex(email);
}

/** Opens sealed ledger addresses; an erased subject's address is null. */
export async function opened(pii: PiiSealer | undefined, emails: readonly string[]): Promise<(string | null)[]> {
  if (pii === undefined || emails.length === 0) return [...emails];
  return pii.openMany(emails);
}
