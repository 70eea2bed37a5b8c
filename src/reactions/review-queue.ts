/**
 * The reply review queue: replies that automation did not act on alone wait here for a person.
 * States: open → claimed (one reviewer, atomically) → resolved with an action (unsubscribe,
 * create_task, ignore). One item per reply (source_id unique), so a redelivered batch adds
 * nothing. Actions are idempotent (ingest dedups by sourceId, CRM tasks by dedupeKey), so a crash
 * between the action and marking the item resolved is repaired by resolving again.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../clock/port.ts';
import type { Crm } from '../connectors/crm/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import type { Privacy } from '../privacy/service.ts';
import type { Db, Queryable } from '../store/port.ts';
import type { Ingest } from './ingest.ts';

export const REVIEW_STATUSES = ['open', 'claimed', 'resolved'] as const;
export type ReviewStatus = (typeof REVIEW_STATUSES)[number];
export const REVIEW_ACTIONS = ['unsubscribe', 'create_task', 'ignore'] as const;
export type ReviewAction = (typeof REVIEW_ACTIONS)[number];

export interface ReviewItem {
  id: string;
  sourceId: string;
  contactId: string | null;
  campaignId: string | null;
  intent: string;
  confidence: number;
  excerpt: string;
  status: ReviewStatus;
  claimedBy: string | null;
  resolution: ReviewAction | null;
  createdAt: Date;
  updatedAt: Date;
}

export type NewReviewItem = Pick<
  ReviewItem,
  'sourceId' | 'contactId' | 'campaignId' | 'intent' | 'confidence' | 'excerpt'
> & {
  /** The sender the excerpt quotes: with PII at rest the excerpt is sealed under their key. */
  email?: string | null;
};

/**
 * PII at rest (docs/privacy.md): an excerpt quotes a person's own words, so it is sealed under the
 * sender's key when the sender is known, and opened on every read ('[erased]' once shredded).
 */
export type ReviewPii = Pick<Privacy, 'sealMany' | 'openMany'>;

/** The items with their excerpts opened (one call); plain excerpts stored without a sender stay as they are. */
async function openedItems(pii: ReviewPii | undefined, items: ReviewItem[]): Promise<ReviewItem[]> {
  if (pii === undefined || items.length === 0) return items;
  const plain = await pii.openMany(items.map((i) => i.excerpt));
  return items.map((i, n) => ({ ...i, excerpt: plain[n] ?? '[erased]' }));
}

interface ReviewRow {
  id: string;
  source_id: string;
  contact_id: string | null;
  campaign_id: string | null;
  intent: string;
  confidence: number;
  excerpt: string;
  status: ReviewStatus;
  claimed_by: string | null;
  resolution: ReviewAction | null;
  created_at: Date;
  updated_at: Date;
}

function toReviewItem(r: ReviewRow): ReviewItem {
  return {
    id: r.id,
    sourceId: r.source_id,
    contactId: r.contact_id,
    campaignId: r.campaign_id,
    intent: r.intent,
    confidence: Number(r.confidence),
    excerpt: r.excerpt,
    status: r.status,
    claimedBy: r.claimed_by,
    resolution: r.resolution,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

/** Deterministic id per reply, so the same reply always names the same item. */
export function reviewItemId(sourceId: string): string {
  return `rev_${createHash('sha1').update(sourceId).digest('hex').slice(0, 16)}`;
}

/** The source id of the unsubscribe a reply leads to, shared by automation and reviewers. */
export function replyUnsubscribeSourceId(replySourceId: string): string {
  return `unsubscribe:reply:${replySourceId}`;
}

const COLUMNS =
  'id, source_id, contact_id, campaign_id, intent, confidence, excerpt, status, claimed_by, resolution, '
  + 'created_at, updated_at';

const ADD = `
  insert into review_items (id, source_id, contact_id, campaign_id, intent, confidence, excerpt, status, created_at,
    updated_at)
  select x.id, x.source_id, x.contact_id, x.campaign_id, x.intent, x.confidence, x.excerpt, 'open', $2, $2
  from jsonb_to_recordset($1::jsonb) as x(id text, source_id text, contact_id text, campaign_id text, intent text,
    confidence float8, excerpt text)
  on conflict (source_id) do nothing`;

/** Adds items set-wise; a reply that already has an item is skipped. Returns how many were new. */
export async function addReviewItems(
  db: Queryable,
  items: readonly NewReviewItem[],
  now: Date,
  pii?: ReviewPii,
): Promise<number> {
  if (items.length === 0) return 0;
  const quoted = pii === undefined ? [] : items.filter((i) => typeof i.email === 'string' && i.email !== '');
  const sealed =
    quoted.length === 0 ? [] : await pii!.sealMany(quoted.map((i) => ({ email: i.email!, value: i.excerpt })));
  const sealedOf = new Map(quoted.map((i, n) => [i, sealed[n]!]));
  const rows = items.map((i) => ({
    id: reviewItemId(i.sourceId),
    source_id: i.sourceId,
    contact_id: i.contactId,
    campaign_id: i.campaignId,
    intent: i.intent,
    confidence: i.confidence,
    excerpt: sealedOf.get(i) ?? i.excerpt,
  }));
  const { rowCount } = await db.query(ADD, [JSON.stringify(rows), now]);
  return rowCount;
}

// Oldest first, the order a team works a queue in; (created_at, id) makes the keyset cursor exact.
const LIST = `
  select ${COLUMNS} from review_items
  where ($1::text is null or status = $1) and ($2::text is null or (created_at, id) > (select created_at, id
    from review_items where id = $2))
  order by created_at, id limit $3`;

export async function listReviewItems(
  db: Queryable,
  filter: { status?: ReviewStatus; after?: string; limit?: number } = {},
  pii?: ReviewPii,
): Promise<ReviewItem[]> {
  if (filter.status !== undefined && !REVIEW_STATUSES.includes(filter.status)) {
    throw new SwitchyardError(
      'VALIDATION_FAILED',
      `review status "${filter.status}" is not one of ${REVIEW_STATUSES.join(', ')}`,
    );
  }
  const limit = Math.min(Math.max(1, filter.limit ?? 100), 1000);
  const { rows } = await db.query<ReviewRow>(LIST, [filter.status ?? null, filter.after ?? null, limit]);
  return openedItems(pii, rows.map(toReviewItem));
}

export async function getReviewItem(db: Queryable, id: string, pii?: ReviewPii): Promise<ReviewItem> {
  const {
    rows: [r],
  } = await db.query<ReviewRow>(`select ${COLUMNS} from review_items where id = $1`, [id]);
  if (r === undefined) throw new SwitchyardError('NOT_FOUND', `no review item ${id}`);
  return (await openedItems(pii, [toReviewItem(r)]))[0]!;
}

const CLAIM = `
  update review_items set status = 'claimed', claimed_by = $2, updated_at = $3
  where id = $1 and status = 'open' returning ${COLUMNS}`;

/** open → claimed by `by`, atomically. Claiming again by the same person returns the item. */
export async function claimReviewItem(
  db: Queryable,
  id: string,
  by: string,
  now: Date,
  pii?: ReviewPii,
): Promise<ReviewItem> {
  checkReviewer(by);
  const {
    rows: [r],
  } = await db.query<ReviewRow>(CLAIM, [id, by, now]);
  if (r !== undefined) return (await openedItems(pii, [toReviewItem(r)]))[0]!;
  const item = await getReviewItem(db, id, pii);
  if (item.status === 'claimed' && item.claimedBy === by) return item;
  throw new SwitchyardError(
    'REVIEW_ITEM_CONFLICT',
    `review item ${id} is ${item.status}${item.claimedBy === null ? '' : ` by ${item.claimedBy}`}; only `
      + `open items can be claimed`,
    { details: { status: item.status, claimedBy: item.claimedBy } },
  );
}

export interface ReviewDeps {
  db: Db;
  clock: Clock;
  crm: Crm;
  ingest: Ingest;
  pii?: ReviewPii;
}

const RESOLVE = `
  update review_items set status = 'resolved', resolution = $2, claimed_by = coalesce(claimed_by, $3), updated_at = $4
  where id = $1 and status <> 'resolved' and (claimed_by is null or claimed_by = $3)
  returning ${COLUMNS}`;

const REPLY_EVENT = `select email, message_id, occurred_at from engagement_events where source_id = $1`;

/**
 * Resolves an item with an action. The item must be open or claimed by `by` (an open item is
 * claimed implicitly). Resolving again with the same action returns the item unchanged.
 */
export async function resolveReviewItem(
  deps: ReviewDeps,
  id: string,
  input: { by: string; action: ReviewAction; note?: string },
): Promise<ReviewItem> {
  checkReviewer(input.by);
  if (!REVIEW_ACTIONS.includes(input.action)) {
    throw new SwitchyardError(
      'VALIDATION_FAILED',
      `review action "${input.action}" is not one of ${REVIEW_ACTIONS.join(', ')}`,
    );
  }
  const item = await getReviewItem(deps.db, id, deps.pii);
  if (item.status === 'resolved') {
    if (item.resolution === input.action) return item;
    throw new SwitchyardError('REVIEW_ITEM_CONFLICT', `review item ${id} is already resolved with ${item.resolution}`, {
      details: { status: item.status, resolution: item.resolution },
    });
  }
  if (item.claimedBy !== null && item.claimedBy !== input.by) {
    throw new SwitchyardError('REVIEW_ITEM_CONFLICT', `review item ${id} is claimed by ${item.claimedBy}`, {
      details: { status: item.status, claimedBy: item.claimedBy },
    });
  }
  await runAction(deps, item, input);
  const {
    rows: [r],
  } = await deps.db.query<ReviewRow>(RESOLVE, [id, input.action, input.by, deps.clock.now()]);
  if (r === undefined) {
    const now = await getReviewItem(deps.db, id, deps.pii);
    if (now.status === 'resolved' && now.resolution === input.action) return now;
    throw new SwitchyardError(
      'REVIEW_ITEM_CONFLICT',
      `review item ${id} changed while it was being resolved (now ${now.status})`,
      { details: { status: now.status } },
    );
  }
  return (await openedItems(deps.pii, [toReviewItem(r)]))[0]!;
}

async function runAction(
  deps: ReviewDeps,
  item: ReviewItem,
  input: { by: string; action: ReviewAction; note?: string },
): Promise<void> {
  switch (input.action) {
    case 'ignore':
      return;
    case 'unsubscribe': {
      const {
        rows: [e],
      } = await deps.db.query<{ email: string | null; message_id: string | null }>(REPLY_EVENT, [item.sourceId]);
      if (e?.email === null || e?.email === undefined)
        throw new SwitchyardError('VALIDATION_FAILED', `review item ${item.id} has no sender address to unsubscribe`);
      await deps.ingest([
        {
          type: 'unsubscribed',
          sourceId: replyUnsubscribeSourceId(item.sourceId),
          provider: 'inbound',
          occurredAt: deps.clock.now(),
          email: e.email,
          ...(item.contactId === null ? {} : { contactId: item.contactId }),
          ...(item.campaignId === null ? {} : { campaignId: item.campaignId }),
          ...(e.message_id === null ? {} : { messageId: e.message_id }),
          reason: 'reply',
          raw: { via: 'review', reviewItemId: item.id, by: input.by },
        },
      ]);
      return;
    }
    case 'create_task': {
      if (item.contactId === null)
        throw new SwitchyardError('VALIDATION_FAILED', `review item ${item.id} has no contact to attach a CRM task to`);
      await deps.crm.createTask({
        contactId: item.contactId,
        kind: 'reply-follow-up',
        title: `Reply needs follow-up (${item.intent})`,
        body:
          input.note === undefined || input.note.trim() === ''
            ? item.excerpt
            : `${item.excerpt}\n\nReviewer note (${input.by}): ${input.note}`,
        dedupeKey: `review:${item.id}`,
      });
      return;
    }
  }
}

function checkReviewer(by: string): void {
  if (typeof by !== 'string' || by.trim() === '')
    throw new SwitchyardError('VALIDATION_FAILED', 'reviewer ("by") must be a non-empty string');
}
