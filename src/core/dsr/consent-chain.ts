/**
 * The consent ledger's record shape and the canonical text its hash chain covers, pure (law.md
 * §10). The chain walk is the one in hash-chain.ts, shared with the audit log. Personal fields
 * (address, IP, user agent) are not in the canonical text: only `piiDigest`, a keyed hash of them,
 * is, so deleting them on erasure leaves the chain provable.
 */
import { checkHashChain, type ChainCheck } from '../hash-chain.ts';

export const CONSENT_ACTIONS = ['grant', 'confirm', 'withdraw', 'expire'] as const;
export type ConsentAction = (typeof CONSENT_ACTIONS)[number];

export const CONSENT_BASES = [
  'express',
  'soft_opt_in',
  'implied_ebr',
  'implied_inquiry',
  'legitimate_interest',
  'published_address',
] as const;
export type ConsentBasis = (typeof CONSENT_BASES)[number];

/** The chained part of one consent event. */
export interface ConsentEntry {
  id: number;
  /** Server receipt time. */
  at: Date;
  /** When the person acted (the client's time, or receipt time when unknown). */
  occurredAt: Date;
  subjectHash: string;
  contactId: string | null;
  /** Purpose / list / topic the consent is for. */
  topic: string;
  channel: string;
  basis: ConsentBasis;
  action: ConsentAction;
  /** Form URL, API client, import batch id, CRM sync, … */
  source: string;
  /** end_user | tenant_user:<name> | system */
  actor: string;
  wordingId: string | null;
  wordingVersion: string | null;
  /** SHA-256 of the exact text and checkbox label shown. */
  wordingHash: string | null;
  locale: string | null;
  doiTokenId: string | null;
  doiSentAt: Date | null;
  doiConfirmedAt: Date | null;
  /** Sec-GPC header seen at capture. */
  gpc: boolean | null;
  jurisdiction: string | null;
  evidenceRef: string | null;
  /** one_click | preference_page | reply | complaint | dsr */
  withdrawnVia: string | null;
  expiresAt: Date | null;
  piiDigest: string;
}

export interface ChainedConsentEntry extends ConsentEntry {
  prevHash: string;
  hash: string;
}

/** The entry's fields in the one order the ledger both stores (columns) and hashes them. */
export function consentFieldValues(e: ConsentEntry): unknown[] {
  return [
    e.id,
    e.at,
    e.occurredAt,
    e.subjectHash,
    e.contactId,
    e.topic,
    e.channel,
    e.basis,
    e.action,
    e.source,
    e.actor,
    e.wordingId,
    e.wordingVersion,
    e.wordingHash,
    e.locale,
    e.doiTokenId,
    e.doiSentAt,
    e.doiConfirmedAt,
    e.gpc,
    e.jurisdiction,
    e.evidenceRef,
    e.withdrawnVia,
    e.expiresAt,
    e.piiDigest,
  ];
}

/** One fixed field order, JSON-escaped, so no value can pass for a separator. */
export function canonicalConsentText(prevHash: string, e: ConsentEntry): string {
  return JSON.stringify([prevHash, ...consentFieldValues(e).map((v) => (v instanceof Date ? v.toISOString() : v))]);
}

export function checkConsentChain(
  rows: readonly ChainedConsentEntry[],
  hash: (text: string) => string,
  start?: { rows: number; lastHash: string },
): ChainCheck {
  return checkHashChain(rows, canonicalConsentText, hash, start);
}

/** Whether the subject is subscribed to the topic after this action (null: the action changes nothing). */
export function subscribedAfter(action: ConsentAction, requiresConfirmation: boolean): boolean | null {
  switch (action) {
    case 'grant':
      // a grant that awaits double opt-in does not subscribe yet
      return requiresConfirmation ? null : true;
    case 'confirm':
      return true;
    case 'withdraw':
    case 'expire':
      return false;
  }
}
