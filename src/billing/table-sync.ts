/**
 * The SQL billing table reader: polls a BillingRowSource by watermark and applies its rows'
 * facts through the billing service (conversions keyed `sql:<id>`, first write wins; refunds
 * cumulative), then links identities like every other revenue. The watermark is saved in
 * billing_sync_cursors after each page is applied, so a restart re-reads at most one page, which
 * the idempotent apply ignores. Rows that cannot be revenue are dead-lettered (stage
 * `billing.sql`, the row's key and the reason, never its values) and passed.
 */
import type { NewDeadLetter } from '../bus/port.ts';
import type { Clock } from '../clock/port.ts';
import type { BillingRowSource, BillingWatermark } from '../connectors/billing/port.ts';
import { isSwitchyardError } from '../core/errors.ts';
import type { Db } from '../store/port.ts';
import { SAVE_CURSOR, SELECT_CURSOR } from './queries.ts';
import type { BillingService } from './service.ts';

export interface TableSyncDeps {
  db: Db;
  clock: Clock;
  billing: BillingService;
  source: BillingRowSource;
  deadLetters: { add(entry: NewDeadLetter): Promise<number> };
}

export interface TableSyncOptions {
  /** Rows per read; default 1000. */
  batchSize?: number;
  /** Rows updated less than this long ago are left for the next poll (late commits); default 60 s. */
  settleMs?: number;
}

export interface TableSyncResult {
  pages: number;
  rows: number;
  conversions: number;
  rejected: number;
  linked: number;
}

const SOURCE = 'sql';

/** Reads and applies every settled row after the saved watermark; returns when caught up. */
export async function syncBillingTable(deps: TableSyncDeps, options: TableSyncOptions = {}): Promise<TableSyncResult> {
  const { db, clock, source } = deps;
  const limit = options.batchSize ?? 1000;
  const until = new Date(clock.now().getTime() - (options.settleMs ?? 60_000));
  const saved = (await db.query<{ position: string | null; objects: string }>(SELECT_CURSOR, [SOURCE, source.name]))
    .rows[0];
  let after = saved?.position ? (JSON.parse(saved.position) as BillingWatermark) : null;
  let objects = Number(saved?.objects ?? 0);
  const result: TableSyncResult = { pages: 0, rows: 0, conversions: 0, rejected: 0, linked: 0 };
  for (;;) {
    const page = await source.read(after, { limit, until });
    if (page.rows === 0) break;
    result.linked += (await deps.billing.applyFacts(SOURCE, page.facts)).linked;
    for (const r of page.rejected)
      await deps.deadLetters.add({
        stage: 'billing.sql',
        payload: { table: source.name, key: r.key },
        code: 'BILLING_ROW_INVALID',
        message: r.reason,
      });
    result.pages++;
    result.rows += page.rows;
    result.conversions += page.facts.filter((f) => f.kind === 'conversion').length;
    result.rejected += page.rejected.length;
    objects += page.rows;
    after = page.next;
    await db.query(SAVE_CURSOR, [
      SOURCE,
      source.name,
      null,
      JSON.stringify(after),
      false,
      result.pages,
      objects,
      clock.now(),
    ]);
    if (page.rows < limit) break;
  }
  return result;
}

/**
 * The `billing-table` stage's loop: a sync every intervalMs until the signal aborts. A failure is
 * reported and retried at the next poll (the watermark did not move past what failed).
 */
export async function runBillingTableSync(
  deps: TableSyncDeps & { log: { warn(obj: object, msg: string): void } },
  options: TableSyncOptions & { intervalMs: number },
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await syncBillingTable(deps, options);
    } catch (err) {
      if (!isSwitchyardError(err)) throw err;
      deps.log.warn(
        { code: err.code, retryable: err.retryable },
        'billing table sync failed; retrying at the next poll',
      );
    }
    await deps.clock.sleep(options.intervalMs, signal).catch(() => undefined);
  }
}
