/**
 * Maps a recipient address or domain to the receiving group the governor throttles by (pure).
 * deliverability.md §4 keys budgets by receiving MX group because providers share limits across
 * their consumer domains. Here the mapping is by well-known domain name only: resolving MX records
 * (so that a Workspace-hosted `acme.com` joins `google`) needs DNS I/O and is out of scope for now;
 * any domain not listed is its own group.
 */

const GROUP_BY_DOMAIN: Readonly<Record<string, string>> = {
  'gmail.com': 'google',
  'googlemail.com': 'google',
  'msn.com': 'microsoft',
  'passport.com': 'microsoft',
  'ymail.com': 'yahoo',
  'rocketmail.com': 'yahoo',
  'aim.com': 'yahoo',
  'icloud.com': 'apple',
  'me.com': 'apple',
  'mac.com': 'apple',
};

/** Brands whose country variants (hotmail.co.uk, yahoo.fr, live.de, aol.co.uk) share one group. */
const GROUP_BY_BRAND: Readonly<Record<string, string>> = {
  outlook: 'microsoft',
  hotmail: 'microsoft',
  live: 'microsoft',
  yahoo: 'yahoo',
  aol: 'yahoo',
};

/** `google`, `microsoft`, `yahoo`, `apple`, or the lower-cased domain itself. */
export function receivingGroup(addressOrDomain: string): string {
  const at = addressOrDomain.lastIndexOf('@');
  const domain = (at >= 0 ? addressOrDomain.slice(at + 1) : addressOrDomain).trim().toLowerCase().replace(/\.$/, '');
  const exact = GROUP_BY_DOMAIN[domain];
  if (exact !== undefined) return exact;
  const labels = domain.split('.');
  // brand.tld, or brand.co.cc / brand.com.cc for country variants (live.co.uk, yahoo.com.br).
  const countryVariant = labels.length === 3 && /^(co|com|ne)$/.test(labels[1]!) && /^[a-z]{2}$/.test(labels[2]!);
  if (labels.length === 2 || countryVariant) {
    const brand = GROUP_BY_BRAND[labels[0]!];
    if (brand !== undefined) return brand;
  }
  return domain;
}
