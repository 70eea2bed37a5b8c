/**
 * The one hash-chain walk, pure: each record carries its predecessor's hash and its own hash over
 * (predecessor hash, canonical text). The audit log (audit-chain.ts) and the consent ledger
 * (consent-chain.ts) each supply only their canonical text; the hash function is passed in, so
 * this file stays free of I/O. Editing, deleting or reordering any record breaks every link after it.
 */

export interface ChainLink {
  id: number;
  prevHash: string;
  hash: string;
}

/** The prev_hash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

export type ChainCheck =
  | { ok: true; rows: number; lastHash: string }
  | { ok: false; rows: number; brokenId: number; reason: 'prev_hash' | 'hash' };

/**
 * Folds records in id order onto the running state; call with `start` for the first page and the
 * returned state for the next one, so a long chain is verified a page at a time.
 */
export function checkHashChain<T extends ChainLink>(
  rows: readonly T[],
  canonical: (prevHash: string, row: T) => string,
  hash: (text: string) => string,
  start: { rows: number; lastHash: string } = { rows: 0, lastHash: GENESIS_HASH },
): ChainCheck {
  let { rows: n, lastHash } = start;
  for (const r of rows) {
    if (r.prevHash !== lastHash) return { ok: false, rows: n, brokenId: r.id, reason: 'prev_hash' };
    if (hash(canonical(r.prevHash, r)) !== r.hash) return { ok: false, rows: n, brokenId: r.id, reason: 'hash' };
    lastHash = r.hash;
    n += 1;
  }
  return { ok: true, rows: n, lastHash };
}
