/**
 * Does an inbound report (bounce, complaint, reply) really concern a message we sent, and the
 * address we sent it to? Anyone can send us a DSN, an ARF report or an "unsubscribe me" reply naming
 * any address, so a report acts only when it references one of our sends, by a VERP token whose
 * HMAC verifies or by one of our Message-IDs that names a send-ledger row, and the address it is
 * about is that row's address. A report that fails either test is recorded for review and never
 * suppresses anyone. Our Message-IDs are not signed (core/message-id.ts), so a Message-ID only
 * counts once the ledger confirms the row; the caller looks the rows up and passes them in.
 * Pure: the secrets and the ledger rows are parameters.
 */
import { decodeVerpToken } from '../bounce/verp.ts';
import { ledgerOfMessageId } from '../message-id.ts';

export interface SendKey {
  campaignId: string;
  contactId: string;
}
/** One send-ledger row that was rendered into a message (it has a Message-ID). */
export interface SentMessage extends SendKey {
  email: string;
  messageId: string | null;
}

export interface ReportReferences {
  /** VERP tokens found in the envelope recipients or the report (unverified). */
  verpTokens: readonly string[];
  /** Message-IDs the report names (returned original, In-Reply-To, References), most telling first. */
  messageIds: readonly string[];
}

/** What to look up in the send ledger for one report. */
export interface SendLookup {
  /** Rows named by a VERP token with a valid signature. */
  signed: SendKey[];
  /** Rows named by one of our (unsigned) Message-IDs: they count only if the row exists. */
  named: SendKey[];
  /** Other Message-IDs: mail sent before Message-IDs named their row, found by the ledger's message_id. */
  legacyMessageIds: string[];
}

/** Bounds the ledger look-up per report: a reply's References may list hundreds of ids. */
export const MAX_MESSAGE_IDS = 20;
const MAX_ID_LENGTH = 255;

function keyOf(k: SendKey): string {
  return `${k.campaignId}\u0000${k.contactId}`;
}

/** Verifies the VERP tokens (any of the secrets, newest first) and sorts the Message-IDs. */
export function sendsToLookUp(refs: ReportReferences, secrets: readonly string[]): SendLookup {
  const signed = new Map<string, SendKey>();
  for (const token of refs.verpTokens) {
    for (const secret of secrets) {
      const d = decodeVerpToken(token, secret);
      if (d.ok) {
        signed.set(keyOf(d), { campaignId: d.campaignId, contactId: d.contactId });
        break;
      }
    }
  }
  const named = new Map<string, SendKey>();
  const legacy = new Set<string>();
  for (const raw of refs.messageIds.slice(0, MAX_MESSAGE_IDS)) {
    const id = raw.trim().replace(/^<(.*)>$/, '$1');
    if (id === '' || id.length > MAX_ID_LENGTH) continue;
    const row = ledgerOfMessageId(id);
    if (row === null) legacy.add(id);
    else named.set(keyOf(row), row);
  }
  return { signed: [...signed.values()], named: [...named.values()], legacyMessageIds: [...legacy] };
}

/**
 * How the report's address must match the send: `required` (a reply: its sender must be the
 * person we wrote to), `if_given` (a DSN or complaint: recipients are often redacted or missing
 * from text bounces, and then the referenced row's address is the one meant), `none` (an
 * auto-reply: it never acts, it is only attributed).
 */
export type AddressMatch = 'required' | 'if_given' | 'none';

export interface ReportClaim {
  /** Addresses the report says it is about (DSN Final- and Original-Recipient, ARF Original-Rcpt-To, reply From). */
  addresses: readonly string[];
  match: AddressMatch;
}

export type UntrustedReason = 'no_reference' | 'unknown_message' | 'address_mismatch' | 'ambiguous';
export type ReportVerdict =
  | { trusted: true; send: SentMessage; via: 'verp' | 'message_id' }
  | { trusted: false; reason: UntrustedReason };

/**
 * Decides one report (one DSN recipient, one complaint, one reply). `found` are the ledger rows
 * the look-up returned for `lookup` (rows that do not exist are simply absent).
 */
export function judgeReport(claim: ReportClaim, lookup: SendLookup, found: readonly SentMessage[]): ReportVerdict {
  if (lookup.signed.length === 0 && lookup.named.length === 0 && lookup.legacyMessageIds.length === 0)
    return { trusted: false, reason: 'no_reference' };
  const signedKeys = new Set(lookup.signed.map(keyOf));
  const asked = new Set([...signedKeys, ...lookup.named.map(keyOf)]);
  const legacy = new Set(lookup.legacyMessageIds);
  // only rows this report referenced count, whatever else the caller's query returned
  const referenced = found.filter((s) => asked.has(keyOf(s)) || (s.messageId !== null && legacy.has(s.messageId)));
  const sends = [...new Map(referenced.map((s) => [keyOf(s), s])).values()];
  if (sends.length === 0) return { trusted: false, reason: 'unknown_message' };
  const wanted = new Set(claim.addresses.map((a) => a.trim().toLowerCase()).filter((a) => a !== ''));
  let candidates = sends;
  if (claim.match === 'required' || (claim.match === 'if_given' && wanted.size > 0)) {
    candidates = sends.filter((s) => wanted.has(s.email.trim().toLowerCase()));
    if (candidates.length === 0) return { trusted: false, reason: 'address_mismatch' };
  }
  const signed = candidates.filter((s) => signedKeys.has(keyOf(s)));
  // Several rows for one address (two campaigns referenced) are the same person: prefer the signed one.
  const emails = new Set(candidates.map((s) => s.email.trim().toLowerCase()));
  const pick = signed[0] ?? candidates[0];
  if (pick === undefined || (emails.size > 1 && claim.match !== 'none' && signed.length !== 1))
    return { trusted: false, reason: 'ambiguous' };
  return { trusted: true, send: pick, via: signedKeys.has(keyOf(pick)) ? 'verp' : 'message_id' };
}
