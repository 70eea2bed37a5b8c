/**
 * Who may receive marketing email, decided per contact from suppression, consent and country
 * (law.md §12, strictest wins; the rule table is `geo-rules.ts`). Opt-in regions (EU/EEA, UK,
 * Canada, Australia, Japan) need recorded consent on a basis the region accepts; opt-out regions
 * (US, Singapore) may be mailed unless the person said no; Brazil needs a legal basis, legitimate
 * interest included. A country that is unknown or not in the table gets the strictest row, and the
 * exclusion reason says so (`…:strictest_rule`). Pure: the caller loads the facts.
 */
import { CONSENT_BASES, type ConsentBasis, type GeoRuleOverrides, resolveGeoRule } from './geo-rules.ts';

export type ConsentStatus = 'granted' | 'denied';

export interface EligibilityFacts {
  suppressedReason?: string;
  consent?: ConsentStatus;
  /** The recorded basis of a granted consent (law.md §10); none recorded = express (an opt-in field). */
  basis?: string;
  /** ISO 3166-1 alpha-2, upper case. */
  country?: string;
}

export type Eligibility = { eligible: true } | { eligible: false; reason: string };

/** Suffix of an exclusion reason decided by the strictest rule because the country was unknown. */
export const STRICTEST_SUFFIX = ':strictest_rule';

/** Does this country require prior consent for B2C marketing email? Unknown → yes (treated as EU). */
export function requiresConsent(country: string | undefined, overrides: GeoRuleOverrides = {}): boolean {
  return resolveGeoRule(country, overrides).rule.consent === 'opt_in';
}

export function checkEligibility(f: EligibilityFacts, overrides: GeoRuleOverrides = {}): Eligibility {
  if (f.suppressedReason !== undefined) return { eligible: false, reason: `suppressed:${f.suppressedReason}` };
  if (f.consent === 'denied') return { eligible: false, reason: 'consent:denied' };
  const { rule, country, strictest } = resolveGeoRule(f.country, overrides);
  if (rule.consent === 'opt_out') return { eligible: true };
  const where = `${(country ?? 'unknown').toLowerCase()}${strictest ? STRICTEST_SUFFIX : ''}`;
  if (f.consent === 'granted') {
    // the consents table's older 'implied' is the existing-business-relationship kind
    const basis = (f.basis === 'implied' ? 'implied_ebr' : (f.basis ?? 'express')) as ConsentBasis;
    if (rule.acceptedBases.includes(basis)) return { eligible: true };
    const shown = (CONSENT_BASES as readonly string[]).includes(basis) ? basis : 'other';
    return { eligible: false, reason: `consent:basis_${shown}_not_accepted_in_${where}` };
  }
  // legal_basis with legitimate interest accepted: the workspace relies on it unless the person objected
  if (rule.consent === 'legal_basis' && rule.acceptedBases.includes('legitimate_interest')) return { eligible: true };
  return { eligible: false, reason: `consent:required_in_${where}` };
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
