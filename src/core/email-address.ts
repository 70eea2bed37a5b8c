/**
 * A strict syntax check for a recipient address that arrives from outside (ESP webhooks), before
 * it can suppress anyone. Pure. Accepts the dot-atom form of RFC 5321/5322 (plus non-ASCII
 * letters for SMTPUTF8 mailboxes) and a host name domain; refuses quoted local parts, address
 * literals, whitespace, control characters and angle brackets, which no ESP reports for a real
 * recipient. Problems name the rule that failed, never the value, so they are safe to store and log.
 */

export type EmailAddressCheck = { ok: true; address: string } | { ok: false; problem: string };

export const MAX_ADDRESS_LENGTH = 254;
export const MAX_LOCAL_LENGTH = 64;
const MAX_LABEL_LENGTH = 63;

// atext (RFC 5322 §3.2.3) plus any letter, mark or number outside ASCII (RFC 6531).
const LOCAL_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\p{L}\p{M}\p{N}-]+$/u;
// A host-name label: letters, digits, inner hyphens; non-ASCII letters for IDNs.
const DOMAIN_LABEL = /^[a-z0-9\p{L}\p{M}\p{N}](?:[a-z0-9\p{L}\p{M}\p{N}-]*[a-z0-9\p{L}\p{M}\p{N}])?$/u;

/** Checks `raw` and returns it with the domain lowercased, or the rule it breaks. */
export function checkEmailAddress(raw: string): EmailAddressCheck {
  if (raw.length === 0) return { ok: false, problem: 'is empty' };
  if (raw.length > MAX_ADDRESS_LENGTH) return { ok: false, problem: `is longer than ${MAX_ADDRESS_LENGTH} characters` };
  const at = raw.lastIndexOf('@');
  if (at < 0) return { ok: false, problem: 'has no @' };
  const local = raw.slice(0, at);
  const domain = raw.slice(at + 1).toLowerCase();
  if (local.length === 0 || local.length > MAX_LOCAL_LENGTH)
    return { ok: false, problem: `local part is empty or longer than ${MAX_LOCAL_LENGTH} characters` };
  if (!local.split('.').every((atom) => LOCAL_ATOM.test(atom)))
    return {
      ok: false,
      problem: 'local part is not a dot-atom (no quotes, spaces, control characters or <>()[]\\,;:"@)',
    };
  const labels = domain.split('.');
  if (labels.length < 2) return { ok: false, problem: 'domain has no dot' };
  if (!labels.every((l) => l.length <= MAX_LABEL_LENGTH && DOMAIN_LABEL.test(l)))
    return { ok: false, problem: 'domain is not a host name' };
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return { ok: false, problem: 'domain ends in a numeric label' };
  return { ok: true, address: `${local}@${domain}` };
}

// checkEmail's domain: dot-separated labels of letters, digits, inner hyphens or any non-ASCII character.
const LENIENT_LABEL = String.raw`[A-Za-z0-9\u00a0-\uffff]([A-Za-z0-9\u00a0-\uffff-]*[A-Za-z0-9\u00a0-\uffff])?`;
const LENIENT_DOMAIN = new RegExp(String.raw`^${LENIENT_LABEL}(\.${LENIENT_LABEL})+$`);

/**
 * Returns what is wrong with an address we are asked to send to or from, or null. Deliberately
 * lenient, unlike checkEmailAddress for addresses from outside: the ESP is the judge.
 * The answer never quotes the address: it becomes a rejection reason, which must carry no data.
 */
export function checkEmail(email: string): string | null {
  if (email === '') return 'is empty';
  if (email.length > 254) return 'is longer than 254 characters';
  if (/\s/.test(email)) return 'contains whitespace';
  const at = email.lastIndexOf('@');
  if (at < 0) return 'has no @';
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local === '' || local.length > 64) return 'has an empty or over-long local part';
  if (!/^[^\s@]+$/.test(local) && !/^".*"$/.test(local)) return 'has an invalid local part';
  if (!LENIENT_DOMAIN.test(domain)) return 'has an invalid domain';
  return null;
}
