/**
 * Which envelope recipients the inbound SMTP listener accepts. Mail for anyone else is refused at
 * RCPT time, so the listener never relays, never stores strangers' mail and cannot be used to
 * plant reports for addresses that are not ours. Accepted: any mailbox at a configured inbound
 * domain (the return-path and reply domains), and anywhere a VERP return path whose token carries
 * our signature (the return-path domain defaults to each campaign's sender domain, so with nothing
 * configured these are the only addresses accepted). Pure: the HMAC secrets are parameters.
 */
import { decodeVerpToken, extractVerpToken } from '../bounce/verp.ts';

export interface RecipientPolicy {
  /** Lower-cased domains whose every mailbox is accepted. Empty: only signed VERP addresses. */
  domains: readonly string[];
  /** VERP signing secrets, newest first (the tracking secrets). */
  verpSecrets: readonly string[];
  /** VERP local-part prefix before `+` (default `b`). */
  verpPrefix?: string;
  /** Lower-cased single addresses accepted on any domain (the privacy address). */
  addresses?: readonly string[];
}

export type RecipientDecision =
  | { accept: true; via: 'domain' | 'verp' | 'address' }
  | { accept: false; reason: 'not_our_domain' | 'malformed' };

/** RFC 5321: 64-octet local part, 255-octet domain; no whitespace, brackets or control characters. */
const ADDRESS = /^([^\s@<>\u0000-\u001f\u007f]{1,64})@([^\s@<>\u0000-\u001f\u007f]{1,255})$/;

/** Splits a comma-separated domain list into lower-cased, de-duplicated domains. */
export function parseDomainList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return [
    ...new Set(
      value
        .split(',')
        .map((d) => d.trim().replace(/^@/, '').replace(/\.$/, '').toLowerCase())
        .filter((d) => d !== ''),
    ),
  ];
}

/** Does a signed VERP token of ours sit in this address's local part (any domain)? */
export function hasSignedVerpToken(address: string, secrets: readonly string[], prefix = 'b'): boolean {
  const token = extractVerpToken(address, { prefix });
  return token !== null && secrets.some((s) => decodeVerpToken(token, s).ok);
}

export function decideRecipient(address: string, policy: RecipientPolicy): RecipientDecision {
  const m = ADDRESS.exec(address.trim());
  if (m === null) return { accept: false, reason: 'malformed' };
  const domain = (m[2] ?? '').toLowerCase().replace(/\.$/, '');
  if (policy.addresses?.includes(address.trim().toLowerCase()) === true) return { accept: true, via: 'address' };
  if (policy.domains.includes(domain)) return { accept: true, via: 'domain' };
  if (hasSignedVerpToken(address, policy.verpSecrets, policy.verpPrefix ?? 'b')) return { accept: true, via: 'verp' };
  return { accept: false, reason: 'not_our_domain' };
}
