/**
 * The audit log's hash chain, pure: the canonical text each row's hash covers, and the walk that
 * finds the first row whose link or content no longer matches. The hash function is passed in
 * (SHA-256 in src/access/audit.ts); the walk itself is hash-chain.ts, shared with the consent
 * ledger. A row's hash covers its predecessor's hash, so editing, deleting or reordering any row
 * breaks every link after it.
 */
import { checkHashChain, type ChainCheck } from './hash-chain.ts';

export { GENESIS_HASH, type ChainCheck } from './hash-chain.ts';

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

/** Folds rows in id order (see hash-chain.ts); pass the returned state to verify the next page. */
export function checkChain(
  rows: readonly ChainedAuditEntry[],
  hash: (text: string) => string,
  start?: { rows: number; lastHash: string },
): ChainCheck {
  return checkHashChain(rows, canonicalAuditText, hash, start);
}
