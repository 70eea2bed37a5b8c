/**
 * How the blast road keeps addresses at rest: every ledger row's address is sealed under its
 * subject's key by the privacy module before it is written (one sealMany per chunk), so erasing a
 * person leaves only ciphertext nobody can open. Without a sealer (a benchmark's baseline) rows
 * are written as given.
 */
import type { Privacy } from '../privacy/service.ts';

/** What the campaigns service needs of the privacy module. */
export type PiiSealer = Pick<Privacy, 'sealMany' | 'openMany' | 'blindIndex'>;

/** The rows with their `email` sealed (one set-wise call); the rows themselves when there is no sealer. */
export async function sealed<T extends { email: string }>(pii: PiiSealer | undefined, rows: T[]): Promise<T[]> {
  if (pii === undefined || rows.length === 0) return rows;
  const out = await pii.sealMany(rows.map((r) => ({ email: r.email, value: r.email })));
  return rows.map((r, i) => ({ ...r, email: out[i]! }));
}

/** Opens sealed ledger addresses; an erased subject's address is null. */
export async function opened(pii: PiiSealer | undefined, emails: readonly string[]): Promise<(string | null)[]> {
  if (pii === undefined || emails.length === 0) return [...emails];
  return pii.openMany(emails);
}
