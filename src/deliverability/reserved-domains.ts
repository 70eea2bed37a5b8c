/**
 * Domains that can never receive mail from the internet: RFC 2606 / RFC 6761 reserved names
 * (example.com/.net/.org and their subdomains, .example, .test, .invalid, .localhost). Demo
 * audiences, the sandbox ESP and local SMTP sinks use them; there is no receiver whose
 * reputation a rate or a breaker could protect, so by default (GovernorOptions
 * exemptReservedDomains) the governor only counts their outcomes in its statistics: no
 * per-receiver rate, no AIMD change, no breaker sample, no alert, so a demo never pauses itself.
 * A pause of the campaign or sending domain for other reasons and the provider budget still apply.
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
