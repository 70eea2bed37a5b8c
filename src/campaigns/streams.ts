/**
 * Message streams: campaigns that are never selected from an audience. A transactional message
 * (`src/messages/`) or a journey's email step (`src/journeys/`) is a stream, and its recipients
 * reach the send stage as ordinary chunks on a ready topic, so they pass the same last-moment
 * suppression check, render, governor admission, ledger claim and ESP hand-off as a blast — there
 * is no second send path. A stream is `running` from creation and never completes (selection is
 * never done), so chunks may arrive for it at any time; its ledger rows are keyed (stream,
 * contact) like a blast's, which is what makes a repeated send of one (stream, contact) a no-op.
 */
import { publishTo, TOPICS } from '../bus/topics.ts';
import type { OutgoingMessage } from '../bus/port.ts';
import type { Bus } from '../bus/port.ts';
import type { ChunkPayload } from '../bus/topics.ts';
import type { MappedContact } from '../connectors/warehouse/port.ts';
import type { Queryable } from '../store/port.ts';
import * as q from './queries.ts';
import * as ledger from './send-ledger.ts';
import { comply } from './stages.ts';
import { hashCell } from '../core/ab-test/assignment.ts';
import type { CampaignDefinition } from './types.ts';

/** What a stream sends: a campaign definition without an audience (its chunks come from the caller). */
export type StreamDefinition = Omit<CampaignDefinition, 'audience'>;

/** The audience stored for a stream: never opened, since a stream is never started or selected. */
const NO_AUDIENCE = { source: 'demo', size: 0 } as const;

/**
 * Creates the stream (as a running campaign) unless it exists; idempotent, and safe inside the
 * caller's transaction. An existing stream keeps its first definition: a stream id names one
 * template version, so callers that change the template use a new id.
 */
export async function openStream(tx: Queryable, id: string, def: StreamDefinition, at: Date): Promise<void> {
  if (await q.insertCampaign(tx, id, { ...def, audience: NO_AUDIENCE }, at))
    await q.transition(tx, id, ['draft'], 'running', at);
}

/**
 * The next chunk number of a stream (streams share the ledger's `chunk` column and the chunk
 * message ids with blasts). Call it in the transaction that writes the chunk to the outbox.
 */
export async function nextStreamSeq(tx: Queryable, id: string): Promise<number> {
  const { rows } = await tx.query<{ seq: number }>(
    'update campaigns set select_seq = select_seq + 1 where id = $1 returning select_seq as seq',
    [id],
  );
  if (rows[0] === undefined) throw new Error(`stream ${id} does not exist`);
  return rows[0].seq;
}

/** The ready-topic message of one stream chunk (≤ CHUNK_SIZE recipients); its id is the blast's form. */
export function streamChunk(
  streamId: string,
  seq: number,
  recipients: MappedContact[],
  variant?: number,
): OutgoingMessage<ChunkPayload> {
  return {
    id: `${streamId}:chunk:${seq}`,
    key: streamId,
    payload: { campaignId: streamId, seq, ...(variant === undefined ? {} : { variant }), recipients },
  };
}

/**
 * A stream's recipients split by A/B variant when its definition has variants (a journey email
 * step's test: every contact in, no holdout). Each contact's cell is a hash of (stream, contact),
 * recorded in `ab_assignments` (first record kept) so the campaign's A/B report compares the
 * variants as for a blast. Returns one group per variant with recipients; without variants, one
 * group and no variant.
 */
export async function splitStreamByVariant(
  tx: Queryable,
  streamId: string,
  def: Pick<CampaignDefinition, 'abTest'>,
  recipients: readonly MappedContact[],
  at: Date,
): Promise<{ variant?: number; recipients: MappedContact[] }[]> {
  const cells = def.abTest?.variants.length ?? 0;
  if (cells < 2) return recipients.length === 0 ? [] : [{ recipients: [...recipients] }];
  const ids = recipients.map((r) => r.id);
  const dealt = ids.map((id) => hashCell(streamId, id, cells));
  await tx.query(
    `insert into ab_assignments (campaign_id, contact_id, cell, assigned_at)
     select $1, x.contact_id, x.cell, $4 from unnest($2::text[], $3::int[]) as x(contact_id, cell)
     on conflict (campaign_id, contact_id) do nothing`,
    [streamId, ids, dealt, at],
  );
  const groups = new Map<number, MappedContact[]>();
  recipients.forEach((r, i) => {
    const list = groups.get(dealt[i]!) ?? [];
    list.push(r);
    groups.set(dealt[i]!, list);
  });
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([variant, list]) => ({ variant, recipients: list }));
}

/** Publishes stream chunks directly (callers that do not need the outbox's atomicity). */
export async function publishStreamChunks(
  bus: Pick<Bus, 'publish'>,
  priority: CampaignDefinition['priority'],
  chunks: readonly OutgoingMessage<ChunkPayload>[],
): Promise<void> {
  if (chunks.length > 0) await publishTo(bus, TOPICS.ready(priority), chunks);
}

export interface StreamOutcome {
  streamId: string;
  contactId: string;
  state: string;
  reason: string | null;
  sentAt: Date | null;
  updatedAt: Date;
}

const OUTCOMES = `
  select l.campaign_id, l.contact_id, l.state, coalesce(l.reason, l.last_error) as reason, l.sent_at, l.updated_at
  from send_ledger l
  join unnest($1::text[], $2::text[]) as x(campaign_id, contact_id)
    on l.campaign_id = x.campaign_id and l.contact_id = x.contact_id`;

/** Ledger rows of these (stream, contact) pairs (primary-key look-ups); absent pairs are not yet sent. */
export async function streamOutcomes(
  db: Queryable,
  keys: readonly { streamId: string; contactId: string }[],
): Promise<StreamOutcome[]> {
  if (keys.length === 0) return [];
  const { rows } = await db.query<{
    campaign_id: string;
    contact_id: string;
    state: string;
    reason: string | null;
    sent_at: Date | null;
    updated_at: Date;
  }>(OUTCOMES, [keys.map((k) => k.streamId), keys.map((k) => k.contactId)]);
  return rows.map((r) => ({
    streamId: r.campaign_id,
    contactId: r.contact_id,
    state: r.state,
    reason: r.reason,
    sentAt: r.sent_at,
    updatedAt: r.updated_at,
  }));
}

/** Contacts already sent at least `max` messages since `since`, across blasts and streams (frequency cap). */
export function contactsOverCap(
  db: Queryable,
  contactIds: readonly string[],
  since: Date,
  max: number,
): Promise<Set<string>> {
  return ledger.overCap(db, contactIds, since, max);
}

/**
 * Marketing eligibility of a stream chunk before it is queued: suppression, consent, country rules
 * with the workspace's overrides and, for a stream with a topic, the preference centre (the blast's
 * comply step itself, with the same deps). Excluded recipients get their ledger row with the
 * reason, sealed like every ledger address; the eligible ones are returned. Transactional messages
 * skip this (no consent needed).
 */
export function complyStreamChunk(
  deps: Parameters<typeof comply>[0],
  chunk: ChunkPayload,
  topic?: string,
): Promise<MappedContact[]> {
  return comply(deps, chunk, false, topic);
}
