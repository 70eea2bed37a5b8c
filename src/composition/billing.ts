/**
 * Builds the billing readers that pull revenue in (as opposed to the Stripe webhook, which is
 * pushed): the Stripe backfill over its list endpoints (the secret key and API URL the
 * configuration holds for Stripe) and the SQL billing table polled by watermark
 * (SWITCHYARD_BILLING_SQL_QUERY in SWITCHYARD_WAREHOUSE_URL), and the CRM's deals polled by
 * modification (the crm-deals stage). Part of app.ts's composition;
 * services never see the adapters.
 */
import { type BackfillOptions, type BackfillStreamResult, runBillingBackfill } from '../billing/backfill.ts';
import type { BillingService } from '../billing/service.ts';
import type { NewDeadLetter } from '../bus/port.ts';
import type { Clock } from '../clock/port.ts';
import type { Config } from '../config.ts';
import { createStripeBackfillSource } from '../connectors/billing/stripe/backfill.ts';
import { stripeRevenueFacts } from '../connectors/billing/stripe/revenue.ts';
import { SwitchyardError } from '../core/errors.ts';
import { createSqlBillingTable } from '../connectors/warehouse/postgres/billing-table.ts';
import { type CrmDealResult, syncCrmDeals } from '../billing/crm-deals.ts';
import { type DealPollResult, pollCrmDeals, runCrmDealPoller } from '../billing/deal-poll.ts';
import type { Crm } from '../connectors/crm/port.ts';
import { runBillingTableSync, syncBillingTable, type TableSyncResult } from '../billing/table-sync.ts';
import type { Db } from '../store/port.ts';

export interface BillingReaders {
  /** `switchyard billing backfill`: every page of Stripe's lists, resumable (src/billing/backfill.ts). */
  backfillStripe(options: BackfillOptions): Promise<{ streams: BackfillStreamResult[]; linked: number }>;
  /** `switchyard billing sync-table`: one pass over the billing table's new rows (table-sync.ts). */
  syncTable(): Promise<TableSyncResult>;
  /** `switchyard billing sync-deals --since`: the CRM's closed-won deals after the saved position. */
  syncDeals(options: { since: Date; pageSize?: number }): Promise<CrmDealResult>;
  /** The billing-table stage's loop, when a billing table is configured. */
  tableLoop: ((signal: AbortSignal) => Promise<void>) | undefined;
  /** `switchyard billing poll-deals`: one poll of the CRM's changed deals (src/billing/deal-poll.ts). */
  pollDeals(): Promise<DealPollResult>;
  /** The crm-deals stage's loop, when a CRM is configured and its poll interval is not 0. */
  dealLoop: ((signal: AbortSignal) => Promise<void>) | undefined;
}

export function createBillingReaders(
  config: Pick<Config, 'compliance' | 'warehouse' | 'billingTable' | 'crmDeals'> & { crm: Pick<Config['crm'], 'kind'> },
  deps: {
    db: Db;
    clock: Clock;
    billing: BillingService;
    deadLetters: { add(e: NewDeadLetter): Promise<number> };
    log: { warn(obj: object, msg: string): void };
    crm: Pick<Crm, 'name' | 'readClosedWonDeals' | 'readChangedDeals'>;
  },
): BillingReaders {
  const deals = config.crmDeals;
  const table = config.billingTable;
  const url = config.warehouse.url;
  const tableDeps = () => {
    if (table === undefined || url === undefined)
      throw new SwitchyardError('CONFIG_INVALID', 'SWITCHYARD_BILLING_SQL_QUERY is not set: there is no billing table');
    const source = createSqlBillingTable({
      url,
      sql: table.sql,
      statementTimeoutMs: config.warehouse.statementTimeoutMs,
    });
    return { deps: { ...deps, source }, options: { settleMs: table.settleMs } };
  };
  return {
    syncDeals: (options) => syncCrmDeals(deps, options),
    pollDeals: () => pollCrmDeals(deps, { settleMs: deals.settleMs }),
    dealLoop:
      config.crm.kind === 'none' || deals.pollIntervalMs === 0
        ? undefined
        : (signal) => runCrmDealPoller(deps, { settleMs: deals.settleMs, intervalMs: deals.pollIntervalMs }, signal),
    syncTable() {
      const t = tableDeps();
      return syncBillingTable(t.deps, t.options);
    },
    tableLoop:
      table === undefined
        ? undefined
        : (signal) => {
            const t = tableDeps();
            return runBillingTableSync(t.deps, { ...t.options, intervalMs: table.pollIntervalMs }, signal);
          },
    backfillStripe(options) {
      const stripe = config.compliance.stripe;
      if (stripe === undefined)
        throw new SwitchyardError(
          'CONFIG_INVALID',
          'SWITCHYARD_STRIPE_SECRET_KEY is not set: nothing to backfill from',
        );
      const source = createStripeBackfillSource({
        secretKey: stripe.secretKey,
        baseUrl: stripe.apiUrl,
        clock: deps.clock,
      });
      return runBillingBackfill({ ...deps, source, facts: stripeRevenueFacts }, options);
    },
  };
}
