/**
 * Data-subject request deadlines by jurisdiction and request type, pure (law.md §2–§12; where the
 * law text and the reference disagree the stricter, i.e. earlier, deadline is used). The clock
 * starts at receipt, not at identity verification (law.md §11). `unknown` takes the earliest
 * deadline any listed jurisdiction would set for the type, and says so in `rule`.
 */
import { addBusinessDays, addCalendarDays, addMonths, type BusinessCalendar, NO_HOLIDAYS } from '../business-days.ts';

export const DSR_TYPES = ['erasure', 'access', 'portability', 'rectification', 'opt_out_of_sale'] as const;
export type DsrType = (typeof DSR_TYPES)[number];

export const JURISDICTIONS = ['gdpr', 'uk_gdpr', 'ccpa', 'can_spam', 'casl', 'pipeda', 'lgpd', 'unknown'] as const;
export type Jurisdiction = (typeof JURISDICTIONS)[number];

/** How a period is counted. */
export type Period =
  | { unit: 'months'; n: number }
  | { unit: 'calendar_days'; n: number }
  | { unit: 'business_days'; n: number };

export interface DeadlineRule {
  period: Period;
  /** The one extension the law allows (with notice to the person), if any. */
  extension?: Period;
  /** Where it comes from, shown with the request. */
  source: string;
}

const month1: DeadlineRule = {
  period: { unit: 'months', n: 1 },
  extension: { unit: 'months', n: 2 },
  source: 'GDPR Art. 12(3): one month, extendable by two',
};

/** The rule per jurisdiction and type; absent = the law sets none for that type (then `unknown` applies). */
const RULES: Record<Exclude<Jurisdiction, 'unknown'>, Partial<Record<DsrType, DeadlineRule>>> = {
  gdpr: { erasure: month1, access: month1, portability: month1, rectification: month1, opt_out_of_sale: month1 },
  uk_gdpr: Object.fromEntries(
    DSR_TYPES.map((t) => [t, { ...month1, source: 'UK GDPR Art. 12(3)/12A: one month, extendable by two' }]),
  ),
  ccpa: {
    ...Object.fromEntries(
      (['erasure', 'access', 'portability', 'rectification'] as const).map((t) => [
        t,
        {
          period: { unit: 'calendar_days', n: 45 },
          extension: { unit: 'calendar_days', n: 45 },
          source: 'Cal. Civ. Code §1798.130(a)(2): 45 days, extendable once by 45',
        },
      ]),
    ),
    opt_out_of_sale: { period: { unit: 'business_days', n: 15 }, source: '11 CCR §7026(f): 15 business days' },
  },
  can_spam: {
    opt_out_of_sale: { period: { unit: 'business_days', n: 10 }, source: 'CAN-SPAM §7704(a)(4): 10 business days' },
  },
  casl: {
    opt_out_of_sale: { period: { unit: 'business_days', n: 10 }, source: 'CASL s. 11(3): 10 business days' },
  },
  pipeda: Object.fromEntries(
    DSR_TYPES.map((t) => [t, { period: { unit: 'calendar_days', n: 30 }, source: 'PIPEDA: 30 days (law.md §12)' }]),
  ),
  lgpd: Object.fromEntries(
    DSR_TYPES.map((t) => [t, { period: { unit: 'calendar_days', n: 15 }, source: 'LGPD Art. 19: 15 days' }]),
  ),
};

export function addPeriod(start: Date, p: Period, cal: BusinessCalendar = NO_HOLIDAYS): Date {
  switch (p.unit) {
    case 'months':
      return addMonths(start, p.n);
    case 'calendar_days':
      return addCalendarDays(start, p.n);
    case 'business_days':
      return addBusinessDays(start, p.n, cal);
  }
}

export interface Deadline {
  dueAt: Date;
  /** When the extended deadline would fall, if the law allows one. */
  extendedDueAt: Date | null;
  /** 80 % of the time from receipt to dueAt has passed: the request goes to the exceptions queue. */
  escalateAt: Date;
  /** Half of the time has passed (reported in the status). */
  halfwayAt: Date;
  jurisdiction: Jurisdiction;
  /** The rule applied (for `unknown`, the jurisdiction whose rule was earliest). */
  rule: string;
}

function at(receivedAt: Date, dueAt: Date, fraction: number): Date {
  return new Date(receivedAt.getTime() + Math.floor((dueAt.getTime() - receivedAt.getTime()) * fraction));
}

/** The deadline for one request; `unknown` (and a jurisdiction without a rule for the type) takes the strictest. */
export function dsrDeadline(
  type: DsrType,
  jurisdiction: Jurisdiction,
  receivedAt: Date,
  cal: BusinessCalendar = NO_HOLIDAYS,
): Deadline {
  const rule = jurisdiction === 'unknown' ? undefined : RULES[jurisdiction][type];
  if (rule !== undefined) {
    const dueAt = addPeriod(receivedAt, rule.period, cal);
    return {
      dueAt,
      extendedDueAt: rule.extension ? addPeriod(dueAt, rule.extension, cal) : null,
      escalateAt: at(receivedAt, dueAt, 0.8),
      halfwayAt: at(receivedAt, dueAt, 0.5),
      jurisdiction,
      rule: rule.source,
    };
  }
  let best: { dueAt: Date; j: Exclude<Jurisdiction, 'unknown'>; rule: DeadlineRule } | undefined;
  for (const j of Object.keys(RULES) as Exclude<Jurisdiction, 'unknown'>[]) {
    const r = RULES[j][type];
    if (r === undefined) continue;
    const due = addPeriod(receivedAt, r.period, cal);
    if (best === undefined || due < best.dueAt) best = { dueAt: due, j, rule: r };
  }
  // every type has at least the GDPR rule, so best is always set
  const b = best!;
  const what = jurisdiction === 'unknown' ? 'jurisdiction unknown' : `${jurisdiction} sets none for ${type}`;
  return {
    dueAt: b.dueAt,
    extendedDueAt: null,
    escalateAt: at(receivedAt, b.dueAt, 0.8),
    halfwayAt: at(receivedAt, b.dueAt, 0.5),
    jurisdiction,
    rule: `${what}: strictest applies (${b.j}: ${b.rule.source})`,
  };
}
