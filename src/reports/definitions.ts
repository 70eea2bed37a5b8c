/**
 * Executive report definitions (`SWITCHYARD_REPORTS`, docs/attribution.md, Executive reports):
 * parsed and checked once, when the configuration loads, so a bad cron expression or model name
 * stops start instead of failing at 07:00 on Monday. Also when a report is due: the scheduled
 * times a cron expression gives between two instants (cron-parser, the time always passed in,
 * never read from the system).
 */
import { CronExpressionParser } from 'cron-parser';
import { GROUP_BY, type GroupBy, REPORT_MODELS, type ReportModel } from '../core/attribution/journeys.ts';
import { checkEmail } from '../core/email-address.ts';

export const REPORT_PERIODS = ['day', 'week', 'month'] as const;
export type ReportPeriod = (typeof REPORT_PERIODS)[number];

export const REPORT_SECTIONS = ['summary', 'models', 'top', 'channels', 'trend', 'anomalies'] as const;
export type ReportSection = (typeof REPORT_SECTIONS)[number];

export interface ReportDefinition {
  /** `[a-z0-9-]`, used in `switchyard report run NAME` and in idempotency keys. */
  name: string;
  /** Five-field cron expression, evaluated in `timezone`. */
  cron: string;
  /** IANA zone for the cron expression (default UTC). */
  timezone: string;
  recipients: readonly string[];
  /** The period the report covers, ending at its scheduled time. */
  period: ReportPeriod;
  /** Attribution models compared (the first one drives the top-campaign and channel sections). */
  models: readonly ReportModel[];
  groupBy: GroupBy;
  sections: readonly ReportSection[];
  /** Rows in the top section. */
  top: number;
  /** ISO 4217 code (lower case): only conversions in it are summed, and amounts print in its minor units. */
  currency: string;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Parses the JSON array of definitions; a string describing the first problems when it is wrong.
 * A definition without a currency reports in `defaultCurrency` (the workspace's revenue currency).
 */
export function parseReportDefinitions(json: string, defaultCurrency = 'usd'): ReportDefinition[] | string {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return 'must be a JSON array of report definitions';
  }
  if (!Array.isArray(value)) return 'must be a JSON array of report definitions';
  const out: ReportDefinition[] = [];
  const problems: string[] = [];
  value.forEach((raw: unknown, i) => {
    const d = checkDefinition(raw, defaultCurrency);
    if (typeof d === 'string') problems.push(`#${i + 1}: ${d}`);
    else if (out.some((o) => o.name === d.name)) problems.push(`#${i + 1}: name ${d.name} is used twice`);
    else out.push(d);
  });
  return problems.length > 0 ? problems.join('; ') : out;
}

function checkDefinition(raw: unknown, defaultCurrency: string): ReportDefinition | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'must be an object';
  const r = raw as Record<string, unknown>;
  const known = [
    'name',
    'cron',
    'timezone',
    'recipients',
    'period',
    'models',
    'groupBy',
    'sections',
    'top',
    'currency',
  ];
  const extra = Object.keys(r).filter((k) => !known.includes(k));
  if (extra.length > 0) return `unknown field ${extra.join(', ')}`;
  if (typeof r.name !== 'string' || !NAME.test(r.name)) return 'name must match [a-z0-9][a-z0-9-]{0,62}';
  const timezone = r.timezone ?? 'UTC';
  if (typeof timezone !== 'string' || !isTimeZone(timezone)) return `${r.name}: timezone is not an IANA zone`;
  if (typeof r.cron !== 'string' || r.cron.trim().split(/\s+/).length !== 5)
    return `${r.name}: cron must be a five-field expression`;
  try {
    CronExpressionParser.parse(r.cron, { currentDate: new Date(0), tz: timezone });
  } catch (err) {
    return `${r.name}: cron ${(err as Error).message}`;
  }
  const recipients = r.recipients;
  if (!Array.isArray(recipients) || recipients.length === 0) return `${r.name}: recipients must be a non-empty array`;
  for (const to of recipients) {
    if (typeof to !== 'string' || checkEmail(to) !== null)
      return `${r.name}: recipient ${String(to)} is not an address`;
  }
  const period = r.period ?? 'week';
  if (!(REPORT_PERIODS as readonly unknown[]).includes(period))
    return `${r.name}: period must be one of ${REPORT_PERIODS.join(', ')}`;
  const models = r.models ?? ['last', 'linear', 'markov'];
  if (!Array.isArray(models) || models.length === 0) return `${r.name}: models must be a non-empty array`;
  for (const m of models) {
    if (!(REPORT_MODELS as readonly unknown[]).includes(m))
      return `${r.name}: unknown model ${String(m)}; valid: ${REPORT_MODELS.join(', ')}`;
  }
  const groupBy = r.groupBy ?? 'campaign';
  if (!(GROUP_BY as readonly unknown[]).includes(groupBy))
    return `${r.name}: groupBy must be one of ${GROUP_BY.join(', ')}`;
  const sections = r.sections ?? REPORT_SECTIONS;
  if (!Array.isArray(sections) || sections.length === 0) return `${r.name}: sections must be a non-empty array`;
  for (const s of sections) {
    if (!(REPORT_SECTIONS as readonly unknown[]).includes(s))
      return `${r.name}: unknown section ${String(s)}; valid: ${REPORT_SECTIONS.join(', ')}`;
  }
  const top = r.top ?? 10;
  if (typeof top !== 'number' || !Number.isInteger(top) || top < 1 || top > 100)
    return `${r.name}: top must be an integer from 1 to 100`;
  const currency = r.currency ?? defaultCurrency;
  if (typeof currency !== 'string' || !/^[a-z]{3}$/i.test(currency))
    return `${r.name}: currency must be a three-letter ISO 4217 code`;
  return {
    name: r.name,
    cron: r.cron,
    timezone,
    recipients: recipients as string[],
    period: period as ReportPeriod,
    models: models as ReportModel[],
    groupBy: groupBy as GroupBy,
    sections: sections as ReportSection[],
    top,
    currency: currency.toLowerCase(),
  };
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Scheduled times of `d` in (after, until], oldest first, at most `limit`. */
export function scheduledTimes(
  d: Pick<ReportDefinition, 'cron' | 'timezone'>,
  after: Date,
  until: Date,
  limit = 10,
): Date[] {
  const it = CronExpressionParser.parse(d.cron, { currentDate: after, endDate: until, tz: d.timezone });
  const out: Date[] = [];
  while (out.length < limit && it.hasNext()) {
    const t = it.next().toDate();
    if (t.getTime() > until.getTime()) break;
    out.push(t);
  }
  return out;
}

/** The newest scheduled time at or before `at`. */
export function latestScheduled(d: Pick<ReportDefinition, 'cron' | 'timezone'>, at: Date): Date {
  const it = CronExpressionParser.parse(d.cron, { currentDate: new Date(at.getTime() + 1), tz: d.timezone });
  return it.prev().toDate();
}

/** The period a report scheduled at `at` covers: [from, to = at). A month is a calendar month back (UTC). */
export function periodOf(period: ReportPeriod, at: Date): { from: Date; to: Date } {
  if (period === 'day') return { from: new Date(at.getTime() - 86_400_000), to: at };
  if (period === 'week') return { from: new Date(at.getTime() - 7 * 86_400_000), to: at };
  const from = new Date(at);
  from.setUTCMonth(from.getUTCMonth() - 1);
  return { from, to: at };
}
