/**
 * Who is in an A/B test and in which cell (pure). Membership of the test share comes from a hash
 * of (campaign, contact), so the same contact is in or out on every read of the audience, before
 * and after a restart, without anything stored. Cells are dealt per chunk and per receiving
 * domain: within a domain, test contacts are ordered by a second hash and dealt round-robin from
 * an offset that is itself a hash of (campaign, chunk, domain), so every cell gets a like mix of
 * receiving domains (each domain's count differs by at most one between cells per chunk) while
 * nothing about the deal depends on the order the warehouse returned the rows in. The cell a
 * contact was first dealt is stored (src/campaigns/ab-test.ts); the stored one is what is sent.
 */
import { createHash } from 'node:crypto';

/** Uniform in [0, 1) from the first 52 bits of SHA-256 over the parts. */
export function unitHash(...parts: readonly string[]): number {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  // 52 bits: 4 bytes high (as 2^20 steps of 32) + 20 bits low, exact in a double
  const high = digest.readUInt32BE(0) >>> 12;
  const low = digest.readUInt32BE(4);
  return (high * 2 ** 32 + low) / 2 ** 52;
}

/** True when the contact belongs to the campaign's test share (0 < share ≤ 1). */
export function inTestShare(campaignId: string, contactId: string, share: number): boolean {
  return unitHash('ab-share', campaignId, contactId) < share;
}

export interface DealInput {
  contactId: string;
  /** Lower-cased receiving domain (the part after the last @). */
  domain: string;
}

/**
 * Deals the chunk's test contacts over `cells` cells, stratified by receiving domain. Returns the
 * cell index per contact id (0 = control).
 */
export function dealCells(
  campaignId: string,
  chunkSeq: number,
  contacts: readonly DealInput[],
  cells: number,
): Map<string, number> {
  if (!Number.isInteger(cells) || cells < 1) throw new RangeError(`cells must be a positive integer, got ${cells}`);
  const byDomain = new Map<string, { contactId: string; order: number }[]>();
  for (const c of contacts) {
    const list = byDomain.get(c.domain) ?? [];
    list.push({ contactId: c.contactId, order: unitHash('ab-order', campaignId, c.contactId) });
    byDomain.set(c.domain, list);
  }
  const out = new Map<string, number>();
  for (const [domain, list] of byDomain) {
    list.sort((a, b) => a.order - b.order || (a.contactId < b.contactId ? -1 : 1));
    const offset = Math.floor(unitHash('ab-offset', campaignId, String(chunkSeq), domain) * cells);
    for (const [i, c] of list.entries()) out.set(c.contactId, (offset + i) % cells);
  }
  return out;
}

export function domainOfAddress(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** A cell without a test share or strata: for sends that arrive one by one (journey steps). */
export function hashCell(streamId: string, contactId: string, cells: number): number {
  return Math.min(cells - 1, Math.floor(unitHash('ab-cell', streamId, contactId) * cells));
}
