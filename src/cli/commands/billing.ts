/**
 * `switchyard billing backfill [--since DATE] [--page-size N] [--lists a,b]`: pulls revenue from
 * Stripe's list endpoints into the store (docs/attribution.md). Thin: parse, open the app, call
 * its billing readers, print one line per list. Safe to rerun and to interrupt: a rerun with the
 * same --since continues an unfinished list. Exit codes: 0 ok, 1 Stripe failed or refused the key,
 * 2 bad arguments or no Stripe key configured. `switchyard billing sync-table` reads the
 * configured billing table's new rows once (what the billing-table stage does every poll).
 * `switchyard billing sync-deals --since DATE` stores the CRM's closed-won deals after the saved
 * position, each split over its account's contacts. `switchyard billing poll-deals` reads the
 * CRM's deals changed since the crm-deals stage's position once (what that stage does every poll).
 */
import type { Command } from 'commander';
import type { BackfillOptions, BackfillStreamResult } from '../../billing/backfill.ts';
import type { CrmDealResult } from '../../billing/crm-deals.ts';
import type { DealPollResult } from '../../billing/deal-poll.ts';
import type { TableSyncResult } from '../../billing/table-sync.ts';
import { BACKFILL_STREAMS, type BackfillStream } from '../../connectors/billing/port.ts';
import { CliError, EXIT } from '../errors.ts';

export interface BillingCliApp {
  billingReaders: {
    backfillStripe(options: BackfillOptions): Promise<{ streams: BackfillStreamResult[]; linked: number }>;
    syncTable(): Promise<TableSyncResult>;
    syncDeals(options: { since: Date; pageSize?: number }): Promise<CrmDealResult>;
    pollDeals(): Promise<DealPollResult>;
  };
  close(): Promise<void>;
}

export interface BillingBackfillArgs {
  since?: string;
  pageSize?: string;
  lists?: string;
}

/** The backfill's options from the command line; CliError (exit 2) for bad ones. */
export function parseBackfillArgs(args: BillingBackfillArgs): {
  since?: Date;
  pageSize?: number;
  streams?: BackfillStream[];
} {
  const out: { since?: Date; pageSize?: number; streams?: BackfillStream[] } = {};
  if (args.since !== undefined) {
    const since = new Date(args.since);
    if (!/^\d{4}-\d{2}-\d{2}/.test(args.since) || Number.isNaN(since.getTime()))
      throw new CliError(
        `--since ${JSON.stringify(args.since)} is not an ISO date (2026-01-31 or 2026-01-31T12:00Z)`,
        EXIT.usage,
      );
    out.since = since;
  }
  if (args.pageSize !== undefined) {
    const n = Number(args.pageSize);
    if (!Number.isInteger(n) || n < 1 || n > 100)
      throw new CliError('--page-size must be a whole number 1–100', EXIT.usage);
    out.pageSize = n;
  }
  if (args.lists !== undefined) {
    const names = args.lists.split(',').map((s) => s.trim());
    const bad = names.filter((s) => !(BACKFILL_STREAMS as readonly string[]).includes(s));
    if (bad.length > 0)
      throw new CliError(`unknown list ${bad.join(', ')}; lists: ${BACKFILL_STREAMS.join(', ')}`, EXIT.usage);
    out.streams = names as BackfillStream[];
  }
  return out;
}

export function formatBackfillLine(s: BackfillStreamResult): string {
  return (
    `${s.stream.padEnd(14)} pages ${s.pages}  objects ${s.objects}  applied ${s.accepted}  duplicates ${s.duplicates}`
    + `  invalid ${s.invalid}  waits ${s.waits}${s.resumed ? '  (resumed)' : ''}`
  );
}

export function registerBillingCommands(program: Command, openApp: () => Promise<BillingCliApp>): void {
  const billing = program.command('billing').description('Revenue in from the billing system');
  billing
    .command('backfill')
    .description(
      "Read Stripe's invoices, charges, subscriptions and customers page by page and apply them like their "
        + 'webhooks (idempotent, resumable)',
    )
    .option('--since <date>', 'only objects created at or after this ISO date')
    .option('--page-size <n>', 'objects per request, 1–100 (default 100)')
    .option('--lists <names>', `comma-separated subset of ${BACKFILL_STREAMS.join(', ')}`)
    .action(async (args: BillingBackfillArgs) => {
      const options = parseBackfillArgs(args);
      const app = await openApp();
      try {
        const r = await app.billingReaders.backfillStripe(options);
        for (const s of r.streams) process.stdout.write(`${formatBackfillLine(s)}\n`);
        process.stdout.write(`linked ${r.linked} conversions to contacts\n`);
      } finally {
        await app.close();
      }
    });
  billing
    .command('sync-table')
    .description(
      'Read the new and changed rows of the billing table (SWITCHYARD_BILLING_SQL_QUERY) once and apply them',
    )
    .action(async () => {
      const app = await openApp();
      try {
        const r = await app.billingReaders.syncTable();
        process.stdout.write(
          `billing table: pages ${r.pages}  rows ${r.rows}  conversions ${r.conversions}  rejected ${r.rejected}`
            + `  linked ${r.linked}\n`,
        );
      } finally {
        await app.close();
      }
    });
  billing
    .command('sync-deals')
    .description(
      "Store the CRM's closed-won deals (closed on or after --since) as revenue, split over the account's contacts",
    )
    .requiredOption('--since <date>', 'ISO date: deals closed on or after it')
    .action(async (args: { since: string }) => {
      const { since } = parseBackfillArgs({ since: args.since });
      const app = await openApp();
      try {
        const r = await app.billingReaders.syncDeals({ since: since as Date });
        process.stdout.write(
          `crm deals: pages ${r.pages}  deals ${r.deals}  stored ${r.accepted}  duplicates ${r.duplicates}`
            + `  shares ${r.conversions}\n`,
        );
      } finally {
        await app.close();
      }
    });
  billing
    .command('poll-deals')
    .description(
      "Apply the CRM's deals changed since the last poll (new closed-won deals, amounts, reversals), as the "
        + 'crm-deals stage does',
    )
    .action(async () => {
      const app = await openApp();
      try {
        const r = await app.billingReaders.pollDeals();
        process.stdout.write(
          `crm deal changes: pages ${r.pages}  read ${r.changes}  won ${r.won}  reversed ${r.reversed}`
            + `  unchanged ${r.unchanged}\n`,
        );
      } finally {
        await app.close();
      }
    });
}
