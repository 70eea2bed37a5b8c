/**
 * The audit log's hash chain, pure: the canonical text each row's hash covers, and the walk that
 * finds the first row whose link or content no longer matches. The hash function is passed in
 * (SHA-256 in src/access/audit.ts) so this file stays free of I/O. A row's hash covers its
 * predecessor's hash, so editing, deleting or reordering any row breaks every link after it.
 */

export interface AuditEntry {
  id: number;
  at: Date;
  actorKeyId: string | null;
  actorName: string;
  role: string | null;
  action: string;
  target: Record<string, string>;
  sourceIp: string | null;
  outcome: number;
}

export interface ChainedAuditEntry extends AuditEntry {
  prevHash: string;
  hash: string;
}

/** The prev_hash of the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * One fixed field order, target keys sorted, JSON-escaped: two rows serialise alike only when
 * every field is equal, and a value can never pass for a field separator.
 */
export function canonicalAuditText(prevHash: string, e: AuditEntry): string {
  const target = Object.keys(e.target)
    .sort()
    .map((k) => [k, e.target[k]]);
  return JSON.stringify([
    prevHash,
    e.id,
    e.at.toISOString(),
    e.actorKeyId,
    e.actorName,
    e.role,
    e.action,
    target,
    e.sourceIp,
    e.outcome,
  ]);
}

export type ChainCheck =
  | { ok: true; rows: number; lastHash: string }
  | { ok: false; rows: number; brokenId: number; reason: 'prev_hash' | 'hash' };

/**
 * Folds rows in id order onto the running state; call with `start` for the first page and the
 * returned state for the next one, so a long log is verified a page at a time.
 */
export function checkChain(
  rows: readonly ChainedAuditEntry[],
  hash: (text: string) => string,
  start: { rows: number; lastHash: string } = { rows: 0, lastHash: GENESIS_HASH },
): ChainCheck {
  let { rows: n, lastHash } = start;
  for (const r of rows) {
    if (r.prevHash !== lastHash) return { ok: false, rows: n, brokenId: r.id, reason: 'prev_hash' };
    if (hash(canonicalAuditText(r.prevHash, r)) !== r.hash)
      return { ok: false, rows: n, brokenId: r.id, reason: 'hash' };
    lastHash = r.hash;
    n += 1;
  }
  return { ok: true, rows: n, lastHash };
}
