/**
 * Feeds Switchyard's own reaction events into the profiles: engagement counts, the latest click
 * per link tag, the campaigns each contact received and opened. Then re-evaluates the lists that
 * read clicks or opens for those contacts, in the same transaction. A redelivered batch changes
 * nothing (events are claimed by source id first). Machine opens and clicks (scanners, privacy
 * proxies) do not count as engagement. The send stage publishes no per-recipient event, so a
 * campaign counts as sent to a contact from its `delivered` event (or its first open or click).
 */
import type { Outboxed } from '../bus/outbox.ts';
import type { Bus } from '../bus/port.ts';
import { lockForEvaluation } from '../lists/engine.ts';
import { publishSliced } from '../lists/publish.ts';
import type { LinkClickedPayload, StoredEvent } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import { ANY_CLICK_TAG } from '../core/segments/types.ts';
import type { TouchedInputs } from '../lists/catalog.ts';
import type { ListService } from '../lists/service.ts';
import type { Db, Queryable } from '../store/port.ts';
import * as q from './queries.ts';
import { ensureProfiles, lockProfiles } from './snapshots.ts';

export interface EngagementDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  lists: ListService;
}

const COUNTED = {
  delivered: 'sent',
  opened: 'opened',
  clicked: 'clicked',
  replied: 'replied',
  bounced_hard: 'bounced',
  unsubscribed: 'unsubscribed',
} as const;

/** A bus message's id and its items (a reaction batch's events, a chunk's clicks). */
export interface Claimed<T> {
  id: string;
  items: readonly T[];
}

/**
 * The messages' items that are new to the profiles: each message is claimed once by id (see
 * claimMessages; `legacy` names the per-item claim of an item, as written before), duplicates of a
 * message in one call count once.
 */
async function claimNew<T>(
  tx: Queryable,
  messages: readonly Claimed<T>[],
  prefix: string,
  legacy: (item: T) => string,
  now: Date,
): Promise<T[]> {
  const unique = [...new Map(messages.filter((m) => m.items.length > 0).map((m) => [m.id, m])).values()];
  const fresh = await q.claimMessages(
    tx,
    unique.map((m) => ({ id: `${prefix}:${m.id}`, legacy: legacy(m.items[0]!) })),
    now,
  );
  return unique.filter((m) => fresh.has(`${prefix}:${m.id}`)).flatMap((m) => m.items);
}

/** Applies reaction batches (reaction.received); returns how many events were new. */
export async function applyReactionEvents(
  deps: EngagementDeps,
  batches: readonly Claimed<StoredEvent>[],
): Promise<number> {
  const usable = batches.map((b) => ({
    id: b.id,
    items: b.items.filter((e) => e.contactId !== null && !e.isMachine && e.type in COUNTED),
  }));
  if (usable.every((b) => b.items.length === 0)) return 0;
  const result = await deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const news = await claimNew(tx, usable, 'reaction-batch', (e) => `reaction:${e.sourceId}`, now);
    if (news.length === 0) return { n: 0, outboxed: [] as Outboxed[] };
    const deltas = new Map<string, q.EngagementDelta>();
    for (const e of news) {
      const id = e.contactId as string;
      const d = deltas.get(id) ?? {
        contactId: id,
        sent: 0,
        opened: 0,
        clicked: 0,
        replied: 0,
        bounced: 0,
        unsubscribed: 0,
        lastEngagedAt: null,
      };
      const field = COUNTED[e.type as keyof typeof COUNTED];
      d[field] += 1;
      if (field === 'opened' || field === 'clicked' || field === 'replied') {
        if (d.lastEngagedAt === null || Date.parse(e.occurredAt) > Date.parse(d.lastEngagedAt)) {
          d.lastEngagedAt = e.occurredAt;
        }
      }
      deltas.set(id, d);
    }
    // in contact order: two processes' groups then take the fact rows' locks in one order
    const ids = [...deltas.keys()].sort();
    const sends = news
      .filter((e) => e.campaignId !== null && (e.type === 'delivered' || e.type === 'opened' || e.type === 'clicked'))
      .map((e) => ({
        contactId: e.contactId as string,
        campaignId: e.campaignId as string,
        at: e.occurredAt,
        opened: e.type !== 'delivered',
      }));
    const clicks = news
      .filter((e) => e.type === 'clicked')
      .map((e) => ({ contactId: e.contactId as string, tag: ANY_CLICK_TAG, at: e.occurredAt }));
    const touched = {
      attributes: new Set<string>(),
      clickTags: new Set(clicks.length > 0 ? [ANY_CLICK_TAG] : []),
      opens: sends.length > 0,
    };
    // Lists that read these facts are evaluated here, so the profile locks come first (creating
    // missing profiles), then the facts. When none reads them, nothing is evaluated and no evaluation
    // can wait on these contacts: the profiles are only created where missing, and no row is locked
    // (a row lock per reacting contact and batch was most of this stage's writes, decision 0044).
    const evaluates = (await deps.lists.catalog(tx)).listsTouchedBy(touched).length > 0;
    if (evaluates) await lockProfiles(tx, ids, now);
    else await ensureProfiles(tx, ids, now);
    await q.addReactionFacts(
      tx,
      ids.map((id) => deltas.get(id)!),
      sends,
      clicks,
    );
    return {
      n: news.length,
      outboxed: evaluates ? await reevaluateTouched(deps, tx, ids, now, touched, `reaction:${news[0]?.sourceId}`) : [],
    };
  });
  if (result.outboxed.length > 0) await publishSliced(deps, result.outboxed);
  return result.n;
}

/**
 * Re-evaluates, for the locked contacts `ids`, the lists that read what the facts touched; the
 * outbox rows to publish once committed (none when nothing reads it).
 */
async function reevaluateTouched(
  deps: EngagementDeps,
  tx: Queryable,
  ids: readonly string[],
  now: Date,
  touched: TouchedInputs,
  causeId: string,
): Promise<Outboxed[]> {
  const catalog = await deps.lists.catalog(tx);
  const order = catalog.listsTouchedBy(touched);
  if (order.length === 0) return [];
  const profiles = await lockForEvaluation(tx, catalog, ids, now, order);
  // the catalogue whose lists were locked and read, which also spares the revision check
  const r = await deps.lists.reevaluate(tx, profiles, touched, () => ({ kind: 'change', id: causeId }), catalog);
  return r.outboxed;
}

/** Applies chunks of tagged clicks (link.clicked): the latest click per tag, then the lists reading those tags. */
export async function applyTaggedClicks(
  deps: EngagementDeps,
  chunks: readonly Claimed<LinkClickedPayload>[],
): Promise<number> {
  if (chunks.every((c) => c.items.length === 0)) return 0;
  const result = await deps.db.transaction(async (tx) => {
    const now = deps.clock.now();
    const news = await claimNew(tx, chunks, 'click-chunk', (c) => `click:${c.sourceId}`, now);
    if (news.length === 0) return { n: 0, outboxed: [] as Outboxed[] };
    const rows = news.flatMap((c) => c.tags.map((tag) => ({ contactId: c.contactId, tag, at: c.occurredAt })));
    const ids = [...new Set(news.map((c) => c.contactId))];
    await lockProfiles(tx, ids, now);
    await q.recordClicks(tx, rows);
    const touched = { attributes: new Set<string>(), clickTags: new Set(rows.map((r) => r.tag)), opens: false };
    return {
      n: news.length,
      outboxed: await reevaluateTouched(deps, tx, ids, now, touched, `click:${news[0]?.sourceId}`),
    };
  });
  if (result.outboxed.length > 0) await publishSliced(deps, result.outboxed);
  return result.n;
}
