/**
 * Who may receive marketing email, decided per contact from suppression, consent and country
 * (law.md §12, strictest wins): opt-in regions (EU/EEA, UK, Canada, Australia, Japan, and any
 * every country §12 does not list, and an unknown one) need recorded consent; the opt-out regions
 * (US, Brazil on legitimate interest, Singapore) may be mailed unless the person said no. Pure:
 * the caller loads the facts.
 */

export type ConsentStatus = 'granted' | 'denied';

export interface EligibilityFacts {
  suppressedReason?: string;
  consent?: ConsentStatus;
  /** ISO 3166-1 alpha-2, upper case. */
  country?: string;
}

export type Eligibility = { eligible: true } | { eligible: false; reason: string };

// only the opt-out rows of law.md §12; a country is added here when that table gains a row for it
const OPT_OUT = new Set(['US', 'BR', 'SG']);

/** Does this country require prior consent for B2C marketing email? Unknown → yes (treated as EU). */
export function requiresConsent(country: string | undefined): boolean {
  if (country === undefined || country === '') return true;
  // EEA, GB, CA, AU, JP, CH and every country not known to be opt-out: consent first
  return !OPT_OUT.has(country);
}

export function checkEligibility(f: EligibilityFacts): Eligibility {
  if (f.suppressedReason !== undefined) return { eligible: false, reason: `suppressed:${f.suppressedReason}` };
  if (f.consent === 'denied') return { eligible: false, reason: 'consent:denied' };
  if (f.consent !== 'granted' && requiresConsent(f.country)) {
    return { eligible: false, reason: `consent:required_in_${(f.country ?? 'unknown').toLowerCase()}` };
  }
  return { eligible: true };
}

/** Reads a warehouse field such as `marketing_opt_in` ("true"/"yes"/"1"/"false"…) as a consent status. */
export function consentFromField(value: unknown): ConsentStatus | undefined {
  if (value === true) return 'granted';
  if (value === false) return 'denied';
  if (typeof value !== 'string') return undefined;
  const v = value.trim().toLowerCase();
  if (['true', 'yes', 'y', '1', 'granted', 'opted_in'].includes(v)) return 'granted';
  if (['false', 'no', 'n', '0', 'denied', 'opted_out'].includes(v)) return 'denied';
  return undefined;
}
