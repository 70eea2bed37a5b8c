/**
 * The billing backfill (`switchyard billing backfill [--since]`): reads every page of a billing
 * system's list endpoints (BillingBackfillSource) and applies each object through the same
 * idempotent path as its webhooks (BillingService.record, deduplicated by a per-version source id,
 * facts keyed by object id), so running it while webhooks arrive, twice, or after a crash is
 * harmless. Resumable: each list's position is saved (billing_sync_cursors) after its page is
 * applied, and a run continues an unfinished list with the same --since. Rate-limit aware: a
 * retryable failure (429, 5xx, network) waits Retry-After, else an exponential backoff, on the
 * injected clock, up to maxAttempts per page. An object that cannot be read is dead-lettered
 * (stage `backfill.<source>`) and the run goes on.
 */
import type { Clock } from '../clock/port.ts';
import type { NewDeadLetter } from '../bus/port.ts';
import {
  BACKFILL_STREAMS,
  type BackfillPage,
  type BackfillStream,
  type BillingBackfillSource,
  type BillingEvent,
  type RevenueFact,
} from '../connectors/billing/port.ts';
import { isSwitchyardError, toError } from '../core/errors.ts';
import type { Db } from '../store/port.ts';
import { SAVE_CURSOR, SELECT_CURSOR } from './queries.ts';
import type { BillingService } from './service.ts';

export interface BackfillDeps {
  db: Db;
  clock: Clock;
  billing: BillingService;
  source: BillingBackfillSource;
  /** Vendor snapshot → revenue facts (the webhook's normaliser); throws on a bad snapshot. */
  facts(event: BillingEvent): RevenueFact[];
  deadLetters: { add(entry: NewDeadLetter): Promise<number> };
}

export interface BackfillOptions {
  /** Only objects created at or after this time. */
  since?: Date;
  /** Objects per page (Stripe allows 1–100). */
  pageSize?: number;
  /** Attempts per page before a retryable failure is given up (the cursor stays, a rerun resumes). */
  maxAttempts?: number;
  streams?: readonly BackfillStream[];
}

export interface BackfillStreamResult {
  stream: BackfillStream;
  /** Continued an unfinished earlier run from its saved position. */
  resumed: boolean;
  pages: number;
  objects: number;
  accepted: number;
  duplicates: number;
  invalid: number;
  /** Retryable failures waited out (429s, 5xx). */
  waits: number;
}

const MAX_BACKOFF_MS = 60_000;

export async function runBillingBackfill(
  deps: BackfillDeps,
  options: BackfillOptions = {},
): Promise<{ streams: BackfillStreamResult[]; linked: number }> {
  const { db, clock, source } = deps;
  const limit = options.pageSize ?? 100;
  const maxAttempts = options.maxAttempts ?? 8;
  const since = options.since ?? null;
  const results: BackfillStreamResult[] = [];

  async function readPage(stream: BackfillStream, after: string | null, result: BackfillStreamResult) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await source.page(stream, { after, limit, ...(since ? { since } : {}) });
      } catch (err) {
        if (!isSwitchyardError(err) || !err.retryable || attempt >= maxAttempts) throw err;
        result.waits++;
        await clock.sleep(err.retryAfterMs ?? Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt));
      }
    }
  }

  async function apply(stream: BackfillStream, page: BackfillPage, result: BackfillStreamResult) {
    const items: Array<{ event: BillingEvent; facts: RevenueFact[] }> = [];
    const bad: NewDeadLetter[] = page.invalid.map((x) => ({
      stage: `backfill.${source.name}`,
      payload: { stream, objectId: x.objectId },
      code: 'WEBHOOK_PAYLOAD_INVALID',
      message: x.reason,
    }));
    for (const event of page.events) {
      try {
        items.push({ event, facts: deps.facts(event) });
      } catch (err) {
        if (!isSwitchyardError(err)) throw err;
        const e = toError(err);
        const objectId = typeof event.object['id'] === 'string' ? event.object['id'] : null;
        bad.push({
          stage: `backfill.${source.name}`,
          payload: { stream, objectId },
          code: err.code,
          message: e.message,
        });
      }
    }
    const r = await deps.billing.record(items);
    result.accepted += r.accepted;
    result.duplicates += r.duplicates;
    result.invalid += bad.length;
    for (const entry of bad) await deps.deadLetters.add(entry);
  }

  for (const stream of options.streams ?? BACKFILL_STREAMS) {
    const saved = await db.query<{ since: Date | null; position: string | null; done: boolean }>(SELECT_CURSOR, [
      source.name,
      stream,
    ]);
    const row = saved.rows[0];
    const resumed = row !== undefined && !row.done && (row.since?.getTime() ?? null) === (since?.getTime() ?? null);
    let after = resumed ? row.position : null;
    const result: BackfillStreamResult = {
      stream,
      resumed,
      pages: 0,
      objects: 0,
      accepted: 0,
      duplicates: 0,
      invalid: 0,
      waits: 0,
    };
    results.push(result);
    for (;;) {
      const page = await readPage(stream, after, result);
      await apply(stream, page, result);
      result.pages++;
      result.objects += page.objects;
      after = page.cursor ?? after;
      const done = !page.hasMore || page.cursor === null;
      await db.query(SAVE_CURSOR, [source.name, stream, since, after, done, result.pages, result.objects, clock.now()]);
      if (done) break;
    }
  }
  return { streams: results, linked: (await deps.billing.resolveIdentities()).linked };
}
