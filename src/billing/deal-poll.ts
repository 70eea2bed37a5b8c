/**
 * CRM deals polled as revenue (the `crm-deals` stage): reads the CRM's deals by modification
 * (Crm.readChangedDeals) from a durable keyset position (billing_sync_cursors, source `crm`,
 * stream `<crm>:changes`) and applies each page in one transaction with the position, so a crash
 * re-reads at most the page it was on. A won deal's shares (dealFacts: equal shares over the
 * account's and the deal's contacts) replace what the deal stood for before — a new amount, close
 * date or set of contacts is applied — and a deal moved out of closed-won is reversed by a refund
 * of each share (undone if it is won again). An observation no newer than the deal's stored
 * modification stamp changes nothing (crm_deals), so re-reads and replays are no-ops, by deal id.
 */
import type { Clock } from '../clock/port.ts';
import type { Crm, CrmDeal, CrmDealChange } from '../connectors/crm/port.ts';
import { isSwitchyardError } from '../core/errors.ts';
import type { Db, Queryable } from '../store/port.ts';
import { dealFacts } from './crm-deals.ts';
import {
  DELETE_REVERSALS,
  DELETE_STALE_SHARES,
  INSERT_DEAL_EVENTS,
  INSERT_REVERSALS,
  LOCK_DEALS,
  SELECT_HELD,
  UPSERT_SHARES,
  UPSERT_STATES,
} from './deal-poll-queries.ts';
import { SAVE_CURSOR, SELECT_CURSOR } from './queries.ts';
import type { BillingService } from './service.ts';

export interface DealPollDeps {
  db: Db;
  clock: Clock;
  billing: Pick<BillingService, 'resolveIdentities'>;
  crm: Pick<Crm, 'name' | 'readChangedDeals'>;
}

export interface DealPollOptions {
  /** Deals modified less than this long ago are left for the next poll (late indexing or commits). */
  settleMs: number;
  pageSize?: number;
  /** Most pages one poll reads (the rest waits for the next poll); default 100. */
  maxPages?: number;
}

export interface DealPollResult {
  pages: number;
  /** Deals read. */
  changes: number;
  /** Won deals whose shares were written (new, or changed since the last read). */
  won: number;
  /** Deals held as won that left closed-won. */
  reversed: number;
  /** Observations no newer than what is held, and deals never won: nothing to do. */
  unchanged: number;
}

interface Held {
  won: boolean;
  modifiedAt: Date;
}

type PageCounts = Omit<DealPollResult, 'pages' | 'changes'>;

const base = (crm: string, dealId: string) => `crm:${crm}:deal:${dealId}`;

/** Applies one page's changes (in `tx`, under the CRM's deal lock); returns what it did. */
export async function applyDealChanges(
  tx: Queryable,
  crm: string,
  changes: readonly CrmDealChange[],
  now: Date,
): Promise<PageCounts> {
  const counts: PageCounts = { won: 0, reversed: 0, unchanged: 0 };
  if (changes.length === 0) return counts;
  await tx.query(LOCK_DEALS, [crm]);
  // the newest observation of each deal in the page
  const latest = new Map<string, CrmDealChange>();
  for (const c of changes) {
    const seen = latest.get(c.dealId);
    if (seen === undefined || seen.modifiedAt < c.modifiedAt) latest.set(c.dealId, c);
  }
  const held = new Map<string, Held>();
  const r = await tx.query<{ deal_id: string; won: boolean; modified_at: Date }>(SELECT_HELD, [
    crm,
    [...latest.keys()],
  ]);
  for (const x of r.rows) held.set(x.deal_id, { won: x.won, modifiedAt: x.modified_at });
  const won: { change: CrmDealChange; deal: CrmDeal }[] = [];
  const reversed: CrmDealChange[] = [];
  const states: CrmDealChange[] = [];
  for (const c of latest.values()) {
    const h = held.get(c.dealId);
    if (h !== undefined && h.modifiedAt >= c.modifiedAt) counts.unchanged++;
    else if (c.won !== undefined) won.push({ change: c, deal: c.won });
    else if (h?.won === true) reversed.push(c);
    else if (h !== undefined) states.push(c);
    else counts.unchanged++; // never won while we watched: no revenue to change
  }
  if (won.length > 0) {
    const bases = won.map((w) => base(crm, w.deal.dealId));
    const facts = won.flatMap((w) => dealFacts(crm, w.deal).map((f) => ({ f, event: base(crm, w.deal.dealId) })));
    await tx.query(DELETE_REVERSALS, [bases]);
    await tx.query(DELETE_STALE_SHARES, [bases, facts.map((x) => x.f.id)]);
    await tx.query(UPSERT_SHARES, [
      facts.map((x) => x.f.id),
      facts.map((x) => x.f.customerId ?? null),
      facts.map((x) => x.f.contactHint ?? null),
      facts.map((x) => x.f.amountMinor),
      facts.map((x) => x.f.currency),
      facts.map((x) => x.f.occurredAt),
      facts.map((x) => x.event),
    ]);
  }
  if (reversed.length > 0)
    await tx.query(INSERT_REVERSALS, [reversed.map((c) => base(crm, c.dealId)), reversed.map((c) => c.modifiedAt)]);
  const applied = [...won.map((w) => w.change), ...reversed, ...states];
  if (applied.length > 0) {
    await tx.query(UPSERT_STATES, [
      crm,
      now,
      applied.map((c) => c.dealId),
      applied.map((c) => c.won !== undefined),
      applied.map((c) => c.won?.amountMinor ?? null),
      applied.map((c) => c.won?.currency ?? null),
      applied.map((c) => c.won?.closedAt ?? null),
      applied.map((c) => c.won?.accountId ?? null),
      applied.map((c) =>
        JSON.stringify(c.won ? [...new Set([...c.won.accountContactIds, ...c.won.dealContactIds])] : []),
      ),
      applied.map((c) => c.modifiedAt),
    ]);
    await tx.query(INSERT_DEAL_EVENTS, [
      now,
      applied.map((c) => `${base(crm, c.dealId)}@${c.modifiedAt.toISOString()}`),
      applied.map((c) => (c.won ? 'crm.deal.won' : held.get(c.dealId)?.won ? 'crm.deal.reversed' : 'crm.deal.lost')),
      applied.map((c) => c.modifiedAt),
      applied.map((c) => c.dealId),
      applied.map((c) =>
        JSON.stringify(
          c.won ? { id: c.dealId, amountMinor: c.won.amountMinor, currency: c.won.currency } : { id: c.dealId },
        ),
      ),
    ]);
  }
  counts.won = won.length;
  counts.reversed = reversed.length;
  counts.unchanged += states.length;
  return counts;
}

/** One poll: every page of changed deals after the saved position, up to maxPages. */
export async function pollCrmDeals(deps: DealPollDeps, options: DealPollOptions): Promise<DealPollResult> {
  const { db, clock, crm } = deps;
  const stream = `${crm.name}:changes`;
  const limit = options.pageSize ?? 100;
  const until = new Date(clock.now().getTime() - options.settleMs);
  const saved = (
    await db.query<{ position: string | null; pages: number; objects: number }>(SELECT_CURSOR, ['crm', stream])
  ).rows[0];
  let after = saved?.position ?? undefined;
  let totalPages = Number(saved?.pages ?? 0);
  let totalDeals = Number(saved?.objects ?? 0);
  const result: DealPollResult = { pages: 0, changes: 0, won: 0, reversed: 0, unchanged: 0 };
  for (let i = 0; i < (options.maxPages ?? 100); i++) {
    // the read happens outside the transaction (no network I/O inside one); the apply and the position commit together
    const page = await crm.readChangedDeals({ until, limit, ...(after ? { after } : {}) });
    after = page.next ?? after;
    totalPages++;
    totalDeals += page.changes.length;
    const counts = await db.transaction(async (tx) => {
      const c = await applyDealChanges(tx, crm.name, page.changes, clock.now());
      await tx.query(SAVE_CURSOR, [
        'crm',
        stream,
        null,
        after ?? null,
        !page.more,
        totalPages,
        totalDeals,
        clock.now(),
      ]);
      return c;
    });
    result.pages++;
    result.changes += page.changes.length;
    result.won += counts.won;
    result.reversed += counts.reversed;
    result.unchanged += counts.unchanged;
    if (!page.more) break;
  }
  if (result.won > 0) await deps.billing.resolveIdentities();
  return result;
}

/**
 * The `crm-deals` stage's loop: a poll every intervalMs until the signal aborts. A CRM that is
 * down or rate-limited is reported and tried again after its Retry-After or the interval, whichever
 * is longer; the position never moved past what failed.
 */
export async function runCrmDealPoller(
  deps: DealPollDeps & { log: { warn(obj: object, msg: string): void } },
  options: DealPollOptions & { intervalMs: number },
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    let waitMs = options.intervalMs;
    try {
      await pollCrmDeals(deps, options);
    } catch (err) {
      if (!isSwitchyardError(err)) throw err;
      waitMs = Math.max(waitMs, err.retryAfterMs ?? 0);
      deps.log.warn({ code: err.code, retryable: err.retryable }, 'CRM deal poll failed; retrying at the next poll');
    }
    await deps.clock.sleep(waitMs, signal).catch(() => undefined);
  }
}
