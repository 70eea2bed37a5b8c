/**
 * What an executive report shows, gathered through the same service calls the admin API serves
 * (`GET /v1/attribution/report`, `GET /v1/anomalies`), so a number in the email is the number an
 * analyst gets from the API for the same period. No SQL of its own.
 */
import type { AnomalyService, StoredAnomaly } from '../anomalies/service.ts';
import type { AttributionService, CurrencyReport } from '../attribution/service.ts';
import type { AttributionReport, GroupBy, ReportModel } from '../core/attribution/journeys.ts';
import type { ReportDefinition } from './definitions.ts';

export interface ReportData {
  name: string;
  scheduledAt: string;
  from: string;
  to: string;
  /** One report per configured model, grouped by the definition's groupBy. */
  models: AttributionReport[];
  /** The first model by channel. */
  channels: AttributionReport | null;
  /** Net revenue and conversions per UTC day of the period. */
  trend: { day: string; netMinor: number; conversions: number }[];
  anomalies: StoredAnomaly[];
  /** The definition's currency: amounts are its minor units. */
  currency: string;
  /** Conversions of the period in other currencies, left out of every figure (never converted). */
  otherCurrencies: CurrencyReport['otherCurrencies'];
}

const DAY = 86_400_000;

export async function buildReportData(
  deps: { attribution: Pick<AttributionService, 'report'>; anomalies: Pick<AnomalyService, 'list'> },
  d: ReportDefinition,
  period: { from: Date; to: Date },
  scheduledAt: Date,
): Promise<ReportData> {
  const want = new Set(d.sections);
  // every figure of the report sums the definition's currency
  const report = (from: Date, to: Date, model: ReportModel, groupBy: GroupBy) =>
    deps.attribution.report({ from, to, model, groupBy, currency: d.currency });
  const models: CurrencyReport[] = [];
  for (const model of d.models) models.push(await report(period.from, period.to, model, d.groupBy));
  const channels = want.has('channels') ? await report(period.from, period.to, d.models[0] ?? 'last', 'channel') : null;
  const trend: ReportData['trend'] = [];
  if (want.has('trend')) {
    // totals do not depend on the model: last touch is the set-wise fast path
    for (let t = period.from.getTime(); t < period.to.getTime(); t += DAY) {
      const to = new Date(Math.min(t + DAY, period.to.getTime()));
      const r = await report(new Date(t), to, 'last', 'campaign');
      trend.push({
        day: new Date(t).toISOString().slice(0, 10),
        netMinor: r.totals.netMinor,
        conversions: r.totals.conversions,
      });
    }
  }
  const anomalies = want.has('anomalies')
    ? await deps.anomalies.list({ from: period.from, to: period.to, limit: 20 })
    : [];
  return {
    name: d.name,
    scheduledAt: scheduledAt.toISOString(),
    from: period.from.toISOString(),
    to: period.to.toISOString(),
    models,
    channels,
    trend,
    anomalies,
    currency: d.currency,
    otherCurrencies: models[0]?.otherCurrencies ?? [],
  };
}
