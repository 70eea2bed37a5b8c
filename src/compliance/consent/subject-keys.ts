/**
 * How the compliance road names a person without storing them: the subject hash is a keyed
 * HMAC-SHA256 of the normalised address (a blind index: look-ups by address work, the table alone
 * reveals nothing), and `digest` a keyed hash of personal fields kept in a hash chain after the
 * fields themselves are erased. The same secret signs the road's links (src/core/dsr/signed-link.ts).
 * When the privacy module's blind index is composed in (app.ts), `hash` is that index instead.
 */
import { createHmac } from 'node:crypto';

export interface SubjectKeys {
  /** Keyed hash of the normalised address (hex). Same address, same hash, in every process. */
  hash(email: string): string;
  /** Keyed hash of a JSON value (hex), for the ledger's pii_digest. */
  digest(value: unknown): string;
  /** Secrets that sign and verify links; the first signs. */
  readonly linkSecrets: readonly string[];
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function createSubjectKeys(secret: string, hash?: (email: string) => string): SubjectKeys {
  const hmac = (text: string) => createHmac('sha256', secret).update(text).digest('hex');
  return {
    hash: hash ?? ((email) => hmac(`subject:${normalizeEmail(email)}`)),
    digest: (value) => hmac(`pii:${JSON.stringify(value)}`),
    linkSecrets: [secret],
  };
}
