/**
 * Domains that can never receive mail from the internet: RFC 2606 / RFC 6761 reserved names
 * (example.com/.net/.org and their subdomains, .example, .test, .invalid, .localhost). Demo
 * audiences, the sandbox ESP and local SMTP sinks use them; there is no receiver whose
 * reputation a per-receiver rate could protect, so the governor does not rate-limit them per
 * receiving group (pauses, the provider budget and statistics still apply).
 */
const RESERVED_TLDS = new Set(['example', 'test', 'invalid', 'localhost']);
const RESERVED_SLDS = new Set(['example.com', 'example.net', 'example.org']);

export function isReservedDomain(addressOrDomain: string): boolean {
  const domain = addressOrDomain
    .slice(addressOrDomain.lastIndexOf('@') + 1)
    .trim()
    .toLowerCase()
    .replace(/\.$/, '');
  const labels = domain.split('.');
  if (RESERVED_TLDS.has(labels[labels.length - 1]!)) return true;
  return RESERVED_SLDS.has(labels.slice(-2).join('.'));
}
