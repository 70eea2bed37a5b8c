/**
 * The default geographic rule set of law.md §12 as data, the country → region map, per-workspace
 * overrides and the strictest-wins fallback. Pure: the caller gives the country (ISO 3166-1 alpha-2)
 * and gets the rule that governs marketing email to it. Where the country is unknown or not listed,
 * the UNKNOWN row applies (treat as EU/UK, the strictest), and `strictest` says so in the result.
 */

export const REGIONS = ['US', 'EU', 'UK', 'CA', 'AU', 'BR', 'SG', 'JP', 'UNKNOWN'] as const;
export type Region = (typeof REGIONS)[number];

/** How prior consent works there: opt_out = mail unless they said no; opt_in = recorded consent first;
 *  legal_basis = consent or another recorded basis (Brazil's legitimate interest). */
export const CONSENT_MODELS = ['opt_out', 'opt_in', 'legal_basis'] as const;
export type ConsentModel = (typeof CONSENT_MODELS)[number];

/** Lawful bases of law.md §10 a consent record may carry. */
export const CONSENT_BASES = [
  'express',
  'soft_opt_in',
  'implied_ebr',
  'implied_inquiry',
  'legitimate_interest',
  'published_address',
] as const;
export type ConsentBasis = (typeof CONSENT_BASES)[number];

export interface GeoRule {
  region: Region;
  consent: ConsentModel;
  /** Bases that count as permission to mail (opt_in / legal_basis); `express` is always among them. */
  acceptedBases: readonly ConsentBasis[];
  /** Legal deadline to honour an unsubscribe, in `unsubscribeDeadlineUnit`; null = none fixed ("without delay"). */
  unsubscribeDeadline: number | null;
  unsubscribeDeadlineUnit: 'business_days' | 'working_days' | null;
  /** How long the unsubscribe mechanism must keep working after a send (days); null = as long as mail is sent. */
  unsubscribeWorksDays: number | null;
  /** What the sender identification must include. */
  senderIdentity: readonly string[];
  /** Data-subject request deadline in calendar days (before extension), and the extension allowed. */
  dsrDeadlineDays: number;
  dsrExtensionDays: number;
  /** Subject must carry an advertisement label (SG `<ADV>` for unsolicited bulk, US ad identification). */
  adLabel: boolean;
}

const SEVERAL = { business_days: 'business_days', working_days: 'working_days' } as const;

/** law.md §12, one row per region. Numbers are the table's; `unverified` ones there are taken as given. */
export const DEFAULT_GEO_RULES: Readonly<Record<Region, GeoRule>> = {
  US: {
    region: 'US',
    consent: 'opt_out',
    acceptedBases: CONSENT_BASES,
    unsubscribeDeadline: 10,
    unsubscribeDeadlineUnit: SEVERAL.business_days,
    unsubscribeWorksDays: 30,
    senderIdentity: ['ad_label', 'physical_postal_address'],
    dsrDeadlineDays: 45,
    dsrExtensionDays: 45,
    adLabel: true,
  },
  EU: {
    region: 'EU',
    consent: 'opt_in',
    acceptedBases: ['express', 'soft_opt_in'],
    unsubscribeDeadline: null,
    unsubscribeDeadlineUnit: null,
    unsubscribeWorksDays: null,
    senderIdentity: ['controller_identity', 'valid_opt_out_address'],
    dsrDeadlineDays: 30,
    dsrExtensionDays: 60,
    adLabel: false,
  },
  UK: {
    region: 'UK',
    consent: 'opt_in',
    acceptedBases: ['express', 'soft_opt_in'],
    unsubscribeDeadline: null,
    unsubscribeDeadlineUnit: null,
    unsubscribeWorksDays: null,
    senderIdentity: ['identity', 'valid_address'],
    dsrDeadlineDays: 30,
    dsrExtensionDays: 60,
    adLabel: false,
  },
  CA: {
    region: 'CA',
    consent: 'opt_in',
    acceptedBases: ['express', 'implied_ebr', 'implied_inquiry'],
    unsubscribeDeadline: 10,
    unsubscribeDeadlineUnit: SEVERAL.business_days,
    unsubscribeWorksDays: 60,
    senderIdentity: ['name', 'mailing_address', 'phone_email_or_web'],
    dsrDeadlineDays: 30,
    dsrExtensionDays: 0,
    adLabel: false,
  },
  AU: {
    region: 'AU',
    consent: 'opt_in',
    acceptedBases: ['express', 'implied_ebr', 'implied_inquiry', 'published_address'],
    unsubscribeDeadline: 5,
    unsubscribeDeadlineUnit: SEVERAL.working_days,
    unsubscribeWorksDays: 30,
    senderIdentity: ['sender_identity', 'contact'],
    dsrDeadlineDays: 30,
    dsrExtensionDays: 0,
    adLabel: false,
  },
  BR: {
    region: 'BR',
    consent: 'legal_basis',
    acceptedBases: ['express', 'legitimate_interest'],
    unsubscribeDeadline: null,
    unsubscribeDeadlineUnit: null,
    unsubscribeWorksDays: null,
    senderIdentity: ['controller_identity'],
    dsrDeadlineDays: 15,
    dsrExtensionDays: 0,
    adLabel: false,
  },
  SG: {
    region: 'SG',
    consent: 'opt_out',
    acceptedBases: CONSENT_BASES,
    unsubscribeDeadline: 10,
    unsubscribeDeadlineUnit: SEVERAL.business_days,
    unsubscribeWorksDays: 30,
    senderIdentity: ['accurate_header', 'contact'],
    dsrDeadlineDays: 30,
    dsrExtensionDays: 0,
    adLabel: true,
  },
  JP: {
    region: 'JP',
    consent: 'opt_in',
    acceptedBases: ['express', 'implied_ebr', 'published_address'],
    unsubscribeDeadline: null,
    unsubscribeDeadlineUnit: null,
    unsubscribeWorksDays: null,
    senderIdentity: ['sender_name', 'address', 'opt_out_address'],
    dsrDeadlineDays: 30,
    dsrExtensionDays: 0,
    adLabel: false,
  },
  // "Unknown / other: treat as EU/UK; soft opt-in only with evidence; ≥ 60 days (max of above);
  // union of all above; 30 days; strictest"
  UNKNOWN: {
    region: 'UNKNOWN',
    consent: 'opt_in',
    acceptedBases: ['express', 'soft_opt_in'],
    unsubscribeDeadline: 5,
    unsubscribeDeadlineUnit: SEVERAL.working_days,
    unsubscribeWorksDays: 60,
    senderIdentity: [
      'ad_label',
      'physical_postal_address',
      'controller_identity',
      'valid_opt_out_address',
      'name',
      'mailing_address',
      'phone_email_or_web',
      'sender_identity',
      'contact',
      'accurate_header',
      'opt_out_address',
      'identity',
      'valid_address',
      'sender_name',
      'address',
    ],
    dsrDeadlineDays: 30,
    dsrExtensionDays: 0,
    adLabel: true,
  },
};

/** EU member states and the EEA (IS, LI, NO): the EU row. */
const EEA = new Set(
  'AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO'.split(' '),
);
const SINGLE: Readonly<Record<string, Region>> = {
  US: 'US',
  GB: 'UK',
  UK: 'UK',
  CA: 'CA',
  AU: 'AU',
  BR: 'BR',
  SG: 'SG',
  JP: 'JP',
};

/** The §12 region of a country code; UNKNOWN for none, empty, malformed or unlisted ones. */
export function regionOf(country: string | undefined): Region {
  if (country === undefined) return 'UNKNOWN';
  const cc = country.trim().toUpperCase();
  if (EEA.has(cc)) return 'EU';
  return SINGLE[cc] ?? 'UNKNOWN';
}

/** Per-workspace overrides: keyed by region or by country code (a country's entry wins over its region's). */
export type GeoRuleOverride = Partial<Pick<GeoRule, 'consent' | 'acceptedBases'>>;
export type GeoRuleOverrides = Readonly<Record<string, GeoRuleOverride>>;

export interface ResolvedGeoRule {
  rule: GeoRule;
  /** The country as given, upper-cased; undefined when unknown. */
  country: string | undefined;
  /** True when the country was unknown or unlisted, so the strictest (UNKNOWN) row applied. */
  strictest: boolean;
  /** Which override applied, if any ('DE', 'EU', …). */
  overriddenBy: string | undefined;
}

/** The rule for one contact's country, with overrides applied (country entry over region entry). */
export function resolveGeoRule(country: string | undefined, overrides: GeoRuleOverrides = {}): ResolvedGeoRule {
  const cc = country?.trim().toUpperCase() || undefined;
  const region = regionOf(cc);
  const base = DEFAULT_GEO_RULES[region];
  const key =
    cc !== undefined && overrides[cc] !== undefined ? cc : overrides[region] !== undefined ? region : undefined;
  const o = key === undefined ? undefined : overrides[key]!;
  const rule: GeoRule =
    o === undefined ? base : { ...base, ...o, acceptedBases: withExpress(o.acceptedBases ?? base.acceptedBases) };
  return { rule, country: cc, strictest: region === 'UNKNOWN', overriddenBy: key };
}

function withExpress(bases: readonly ConsentBasis[]): readonly ConsentBasis[] {
  return bases.includes('express') ? bases : ['express', ...bases];
}

/** Parses the SWITCHYARD_GEO_RULES JSON; a string is the problem found (for config errors). */
export function parseGeoOverrides(json: string): GeoRuleOverrides | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return 'is not valid JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'must be a JSON object';
  const out: Record<string, GeoRuleOverride> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    const key = k.toUpperCase();
    if (!/^[A-Z]{2}$/.test(key) && !(REGIONS as readonly string[]).includes(key)) {
      return `${k} is neither a region (${REGIONS.join(', ')}) nor a two-letter country code`;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${k} must map to an object`;
    const entry = v as Record<string, unknown>;
    const o: { consent?: ConsentModel; acceptedBases?: ConsentBasis[] } = {};
    for (const field of Object.keys(entry)) {
      if (field !== 'consent' && field !== 'acceptedBases') return `${k}.${field} is not an overridable field`;
    }
    if (entry.consent !== undefined) {
      if (!(CONSENT_MODELS as readonly unknown[]).includes(entry.consent)) {
        return `${k}.consent must be one of ${CONSENT_MODELS.join(', ')}`;
      }
      o.consent = entry.consent as ConsentModel;
    }
    if (entry.acceptedBases !== undefined) {
      const bases = entry.acceptedBases;
      if (!Array.isArray(bases) || !bases.every((b) => (CONSENT_BASES as readonly unknown[]).includes(b))) {
        return `${k}.acceptedBases must be a list of ${CONSENT_BASES.join(', ')}`;
      }
      o.acceptedBases = bases as ConsentBasis[];
    }
    out[key] = o;
  }
  return out;
}
