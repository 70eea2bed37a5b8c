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
  attributeConversions,
  type ConversionInput,
  type GroupBy,
  type ReportModel,
  type TouchInput,
  type TouchKind,
} from '../core/attribution/journeys.ts';
import type { Db } from '../store/port.ts';
import {
  CONVERSIONS,
  firstLastReport,
  NET_REVENUE_BY_CONTACT,
  NON_CONVERTING_TOUCHES,
  RULE_REPORT,
  TOUCHES,
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
}

export interface AttributionService {
  report(req: ReportRequest): Promise<AttributionReport & { from: string; to: string }>;
  /** Net revenue (minor units) per contact of conversions since `since`, for contacts that have any. */
  netRevenueByContact(contactIds: readonly string[], since: Date): Promise<Map<string, number>>;
}

const DAY = 86_400_000;

interface TouchRow {
  contact_id: string;
  ts: Date;
  kind: TouchKind;
  campaign_id: string | null;
  url: string | null;
  journey: string | null;
  segment: string | null;
  touch_id: string;
}

const toTouch = (r: TouchRow): TouchInput => ({
  contactId: r.contact_id,
  ts: r.ts.getTime(),
  kind: r.kind,
  campaignId: r.campaign_id,
  url: r.url,
  journey: r.journey,
  segment: r.segment,
  touchId: r.touch_id,
});

const FIRST_SQL = firstLastReport('asc');
const LAST_SQL = firstLastReport('desc');

/** first / last / linear set-wise in SQL (RULE_REPORT): no touch leaves the database. */
async function ruleReportInDatabase(
  db: Db,
  req: ReportRequest,
  o: { lookbackDays: number; openLookbackDays: number },
): Promise<AttributionReport> {
  const r = await db.query<{
    kind: 'row' | 'totals';
    key: string;
    conversions: number;
    value_minor: number;
    n1: number;
    n2: number;
    n3: number;
    n4: number;
    n5: number;
  }>(
    (req.model === 'first' || req.model === 'last') && req.groupBy !== 'link'
      ? req.model === 'first'
        ? FIRST_SQL
        : LAST_SQL
      : RULE_REPORT,
    [
      req.from,
      req.to,
      `${o.lookbackDays * 86_400} seconds`,
      `${o.openLookbackDays * 86_400} seconds`,
      req.includeSends ?? false,
      req.groupBy,
      req.model,
    ],
  );
  const t = r.rows.find((x) => x.kind === 'totals');
  const rows = r.rows
    .filter((x) => x.kind === 'row')
    .map((x) => ({ key: x.key, conversions: Number(x.conversions), valueMinor: Number(x.value_minor) }))
    .sort((a, b) => b.valueMinor - a.valueMinor || a.key.localeCompare(b.key));
  const gross = Number(t?.n2 ?? 0);
  const refunded = Number(t?.n3 ?? 0);
  const conversions = Number(t?.n1 ?? 0);
  const attributed = Number(t?.n4 ?? 0);
  return {
    model: req.model,
    groupBy: req.groupBy,
    rows,
    totals: {
      conversions,
      grossMinor: gross,
      refundedMinor: refunded,
      netMinor: gross - refunded,
      attributedConversions: attributed,
      attributedMinor: Number(t?.n5 ?? 0),
      unattributedConversions: conversions - attributed,
    },
  };
}

export function createAttributionService(deps: {
  db: Db;
  billing: Pick<BillingService, 'resolveIdentities'>;
}): AttributionService {
  const { db } = deps;
  return {
    async netRevenueByContact(contactIds, since) {
      if (contactIds.length === 0) return new Map();
      await deps.billing.resolveIdentities();
      const { rows } = await db.query<{ contact_id: string; net: number }>(NET_REVENUE_BY_CONTACT, [contactIds, since]);
      return new Map(rows.map((r) => [r.contact_id, Number(r.net)]));
    },
    async report(req) {
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
      if (req.model === 'first' || req.model === 'last' || req.model === 'linear') {
        return {
          ...(await ruleReportInDatabase(db, req, options)),
          from: req.from.toISOString(),
          to: req.to.toISOString(),
        };
      }
      const conv = await db.query<{
        id: string;
        occurred_at: Date;
        amount_minor: number;
        refunded_minor: number;
        contact_id: string | null;
      }>(CONVERSIONS, [req.from, req.to]);
      const conversions: ConversionInput[] = conv.rows.map((r) => ({
        id: r.id,
        contactId: r.contact_id,
        ts: r.occurred_at.getTime(),
        grossMinor: Number(r.amount_minor),
        refundedMinor: Number(r.refunded_minor),
      }));
      const contacts = [...new Set(conversions.flatMap((c) => (c.contactId === null ? [] : [c.contactId])))];
      const widest = Math.max(options.lookbackDays, options.openLookbackDays) * DAY;
      const byContact = new Map<string, TouchInput[]>();
      if (contacts.length > 0) {
        const first = Math.min(...conversions.map((c) => c.ts));
        const last = Math.max(...conversions.map((c) => c.ts));
        const t = await db.query<TouchRow>(TOUCHES, [
          contacts,
          new Date(first - widest),
          new Date(last),
          req.includeSends ?? false,
        ]);
        for (const r of t.rows) {
          const list = byContact.get(r.contact_id) ?? [];
          list.push(toTouch(r));
          byContact.set(r.contact_id, list);
        }
      }
      const nonConverting: TouchInput[][] = [];
      // only Markov reads non-converting journeys: the Shapley characteristic used in reports
      // (cumulative) counts conversions of sets ⊆ S, to which a journey without one adds nothing
      if (req.model === 'markov') {
        const t = await db.query<TouchRow>(NON_CONVERTING_TOUCHES, [
          contacts,
          new Date(req.from.getTime() - options.lookbackDays * DAY),
          req.to,
          req.includeSends ?? false,
          true,
        ]);
        let current: TouchInput[] = [];
        let who = '';
        for (const r of t.rows) {
          if (r.contact_id !== who && current.length > 0) {
            nonConverting.push(current);
            current = [];
          }
          who = r.contact_id;
          current.push(toTouch(r));
        }
        if (current.length > 0) nonConverting.push(current);
      }
      return {
        ...attributeConversions(conversions, byContact, options, nonConverting),
        from: req.from.toISOString(),
        to: req.to.toISOString(),
      };
    },
  };
}
