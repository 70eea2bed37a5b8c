/**
 * Attribution reports: conversions of a period (with refunds netted and identities resolved first)
 * joined to the touches of their contacts, credited by one model and grouped by campaign, channel,
 * link, journey or segment. Two queries per report (conversions; touches of their contacts over the
 * widest window) plus, for the path models, the non-converting journeys of the period; the rest is
 * core/attribution/journeys.ts. What the API serves and what executive reports render.
 */
import type { BillingService } from '../billing/service.ts';
import {
  type AttributionReport,
  creditJourneys,
  type GroupBy,
  type KeyedJourney,
  markovOverCounts,
  type ReportModel,
  type ReportOptions,
  shapleyOverSets,
} from '../core/attribution/journeys.ts';
import { emptyMarkovCounts } from '../core/attribution/markov.ts';
import type { SetJourneys } from '../core/attribution/shapley.ts';
import type { Db } from '../store/port.ts';
import {
  firstLastReport,
  JOURNEYS,
  MARKOV_COUNTS,
  NET_REVENUE_BY_CONTACT,
  OTHER_CURRENCIES,
  RULE_REPORT,
  SHAPLEY_SETS,
} from './queries.ts';

export interface ReportRequest {
  from: Date;
  to: Date;
  model: ReportModel;
  groupBy: GroupBy;
  /** Clicks, replies (and sends): default 30 days. */
  lookbackDays?: number;
  /** Human opens: default 3 days. */
  openLookbackDays?: number;
  /** Count sends as touches (off by default: a send is not an engagement). */
  includeSends?: boolean;
  halfLifeDays?: number;
  positions?: { first: number; middle: number; last: number };
  /** ISO 4217 code (any case) of the conversions summed; default the workspace's revenue currency. */
  currency?: string;
}

type CurrencyRequest = ReportRequest & { currency: string };

/** A report over one currency's conversions; those of the period in other currencies are listed apart. */
export type CurrencyReport = AttributionReport & {
  from: string;
  to: string;
  currency: string;
  /** Conversions of the period in other currencies: not in the rows or totals (amounts are never converted). */
  otherCurrencies: { currency: string; conversions: number; netMinor: number }[];
};

export interface AttributionService {
  report(req: ReportRequest): Promise<CurrencyReport>;
  /** Net revenue (minor units of the workspace's currency) per contact since `since`, for contacts that have any. */
  netRevenueByContact(contactIds: readonly string[], since: Date): Promise<Map<string, number>>;
}

const FIRST_SQL = firstLastReport('asc');
const LAST_SQL = firstLastReport('desc');

/** first / last / linear set-wise in SQL (RULE_REPORT): no touch leaves the database. */
async function ruleReportInDatabase(
  db: Db,
  req: CurrencyRequest,
  o: { lookbackDays: number; openLookbackDays: number },
): Promise<AttributionReport> {
  const r = await reportQuery<{
    kind: 'row' | 'totals';
    key: string;
    conversions: number;
    value_minor: number;
    n1: number;
    n2: number;
    n3: number;
    n4: number;
    n5: number;
  }>(db, req.model === 'first' || req.model === 'last' ? (req.model === 'first' ? FIRST_SQL : LAST_SQL) : RULE_REPORT, [
    ...params(req, o),
    req.model,
  ]);
  const t = r.rows.find((x) => x.kind === 'totals');
  const rows = r.rows
    .filter((x) => x.kind === 'row')
    .map((x) => ({ key: x.key, conversions: Number(x.conversions), valueMinor: Number(x.value_minor) }))
    .sort((a, b) => b.valueMinor - a.valueMinor || a.key.localeCompare(b.key));
  return { model: req.model, groupBy: req.groupBy, rows, totals: totalsOf(t) };
}

type Options = ReportOptions;

/**
 * One report statement with JIT off (compiling these CTE-heavy plans cost seconds and saved
 * none) and room to sort a period's touches in memory.
 */
function reportQuery<R>(db: Db, sql: string, values: unknown[]): Promise<{ rows: R[] }> {
  return db.transaction(async (tx) => {
    await tx.query(`set local jit = off`);
    await tx.query(`set local work_mem = '64MB'`);
    return tx.query<R>(sql, values);
  });
}

const params = (req: CurrencyRequest, o: Pick<Options, 'lookbackDays' | 'openLookbackDays'>): unknown[] => [
  req.from,
  req.to,
  `${o.lookbackDays * 86_400} seconds`,
  `${o.openLookbackDays * 86_400} seconds`,
  req.includeSends ?? false,
  req.groupBy,
  req.currency,
];

interface TotalsColumns {
  n1: number | null;
  n2: number | string | null;
  n3: number | string | null;
  n4: number | null;
  n5: number | string | null;
}

function totalsOf(t: TotalsColumns | undefined): AttributionReport['totals'] {
  const conversions = Number(t?.n1 ?? 0);
  const gross = Number(t?.n2 ?? 0);
  const refunded = Number(t?.n3 ?? 0);
  const attributed = Number(t?.n4 ?? 0);
  return {
    conversions,
    grossMinor: gross,
    refundedMinor: refunded,
    netMinor: gross - refunded,
    attributedConversions: attributed,
    attributedMinor: Number(t?.n5 ?? 0),
    unattributedConversions: conversions - attributed,
  };
}

interface JourneyRow extends TotalsColumns {
  kind: 'j' | 's' | 'totals';
  keys: string[] | null;
  ts: number[] | null;
  conv_ts: number | null;
  value: number | string | null;
  count: number | string | null;
}

/** Time-decay, U, W, full path, positions: the journeys come kept and keyed from SQL, credited here. */
async function journeyReport(db: Db, req: CurrencyRequest, o: Options): Promise<AttributionReport> {
  const r = await reportQuery<JourneyRow>(db, JOURNEYS, params(req, o));
  const journeys: KeyedJourney[] = [];
  for (const x of r.rows) {
    if (x.kind !== 'j') continue;
    journeys.push({
      keys: x.keys ?? [],
      ts: (x.ts ?? []).map(Number),
      convTs: Number(x.conv_ts),
      net: Number(x.value),
    });
  }
  return creditJourneys(journeys, o, totalsOf(r.rows.find((x) => x.kind === 'totals')));
}

/** Shapley over the distinct key sets of the attributed journeys, aggregated in SQL. */
async function shapleyReport(db: Db, req: CurrencyRequest, o: Options): Promise<AttributionReport> {
  const r = await reportQuery<JourneyRow>(db, SHAPLEY_SETS, params(req, o));
  const sets: SetJourneys[] = r.rows
    .filter((x) => x.kind === 's')
    .map((x) => ({ channels: x.keys ?? [], conversions: Number(x.count), value: Number(x.value), nulls: 0 }));
  return shapleyOverSets(sets, o, totalsOf(r.rows.find((x) => x.kind === 'totals')));
}

/** Markov over transition counts aggregated in SQL (converting journeys and non-converting contacts). */
async function markovReport(db: Db, req: CurrencyRequest, o: Options): Promise<AttributionReport> {
  const r = await reportQuery<
    TotalsColumns & {
      kind: 'edge' | 'conv' | 'null' | 'totals';
      a: string | null;
      b: string | null;
      n: number;
      value: number | string | null;
    }
  >(db, MARKOV_COUNTS, params(req, o));
  const rows = r.rows.filter((x) => x.kind !== 'totals');
  const totals = totalsOf(r.rows.find((x) => x.kind === 'totals'));
  const names = [...new Set(rows.flatMap((x) => [x.a, x.b]).filter((k): k is string => k !== null))].sort();
  const id = new Map(names.map((k, i) => [k, i + 1] as const));
  const m = emptyMarkovCounts(names);
  const n = names.length + 1;
  for (const x of rows) {
    const a = x.a === null ? 0 : (id.get(x.a) as number);
    const count = Number(x.n);
    if (x.kind === 'edge') {
      const at = a * n + (id.get(x.b as string) as number);
      m.counts[at] = (m.counts[at] as number) + count;
    } else if (x.kind === 'conv') {
      m.toConv[a] = (m.toConv[a] as number) + count;
      m.valueSum[a] = (m.valueSum[a] as number) + Number(x.value);
    } else m.toNull[a] = (m.toNull[a] as number) + count;
  }
  return markovOverCounts(m, o, totals);
}

export function createAttributionService(deps: {
  db: Db;
  billing: Pick<BillingService, 'resolveIdentities'>;
  /** The workspace's revenue currency (SWITCHYARD_REVENUE_CURRENCY): what a request without one sums. */
  currency?: string;
}): AttributionService {
  const { db } = deps;
  const defaultCurrency = (deps.currency ?? 'usd').toLowerCase();
  return {
    async netRevenueByContact(contactIds, since) {
      if (contactIds.length === 0) return new Map();
      await deps.billing.resolveIdentities();
      const { rows } = await db.query<{ contact_id: string; net: number }>(NET_REVENUE_BY_CONTACT, [
        contactIds,
        since,
        defaultCurrency,
      ]);
      return new Map(rows.map((r) => [r.contact_id, Number(r.net)]));
    },
    async report(request) {
      const req = { ...request, currency: (request.currency ?? defaultCurrency).toLowerCase() };
      const options = {
        model: req.model,
        groupBy: req.groupBy,
        lookbackDays: req.lookbackDays ?? 30,
        openLookbackDays: req.openLookbackDays ?? 3,
        halfLifeDays: req.halfLifeDays ?? 7,
        ...(req.positions ? { positions: req.positions } : {}),
      };
      // identities that appeared since the revenue arrived
      await deps.billing.resolveIdentities();
      const report =
        req.model === 'first' || req.model === 'last' || req.model === 'linear'
          ? await ruleReportInDatabase(db, req, options)
          : req.model === 'markov'
            ? await markovReport(db, req, options)
            : req.model === 'shapley'
              ? await shapleyReport(db, req, options)
              : await journeyReport(db, req, options);
      const others = await db.query<{ currency: string; conversions: number; net: number | string }>(OTHER_CURRENCIES, [
        req.from,
        req.to,
        req.currency,
      ]);
      return {
        ...report,
        from: req.from.toISOString(),
        to: req.to.toISOString(),
        currency: req.currency,
        otherCurrencies: others.rows.map((r) => ({
          currency: r.currency,
          conversions: Number(r.conversions),
          netMinor: Number(r.net),
        })),
      };
    },
  };
}
