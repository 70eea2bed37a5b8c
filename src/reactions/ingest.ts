/**
 * Reaction ingest: every normalised event from any source (webhooks, tracking, inbound mail, the
 * sandbox ESP) enters here. One statement inserts the batch, deduplicated by source id; for the
 * new events, unsubscribes, complaints and hard bounces suppress at once (same transaction), and
 * one bus message hands them to the handlers (ledger, engagement, propagation, journeys).
 */
import { createHash } from 'node:crypto';
import { addToOutbox, publishOutboxed, type Outboxed } from '../bus/outbox.ts';
import type { Bus } from '../bus/port.ts';
import type { Clock } from '../clock/port.ts';
import type { EngagementEvent } from '../core/events.ts';
import { ledgerOfMessageId } from '../core/message-id.ts';
import { addSuppressions, type SuppressionEntry } from '../compliance/suppression.ts';
import type { Db } from '../store/port.ts';
import { TOPICS, type ReactionBatch, type StoredEvent, type SuppressedPayload } from '../bus/topics.ts';

export interface IngestResult {
  accepted: number;
  duplicates: number;
}

const SUPPRESSING: Partial<Record<EngagementEvent['type'], SuppressionEntry['reason']>> = {
  unsubscribed: 'unsubscribed',
  complained: 'complained',
  bounced_hard: 'bounced_hard',
};

const INSERT = `
  insert into engagement_events (source_id, type, provider, occurred_at, received_at, email, message_id, campaign_id,
    contact_id, is_machine, reason, url, raw)
  select x.source_id, x.type, x.provider, x.occurred_at, $2, x.email, x.message_id, x.campaign_id, x.contact_id,
    coalesce(x.is_machine, false), x.reason, x.url, x.raw
  from jsonb_to_recordset($1::jsonb) as x(source_id text, type text, provider text, occurred_at timestamptz, email text,
    message_id text,
       campaign_id text, contact_id text, is_machine boolean, reason text, url text, raw jsonb)
  on conflict (source_id) do nothing
  returning source_id`;

/**
 * Fills campaign/contact from the ledger when only our Message-ID is known (SMTP, some ESPs).
 * Current Message-IDs name their row (core/message-id.ts), which must exist; mail sent before
 * that format is found by the ledger's message_id (a partial index holds only those rows).
 */
const CORRELATE_ROWS = `
  select l.campaign_id, l.contact_id, l.email from send_ledger l
  join unnest($1::text[], $2::text[]) as x(campaign_id, contact_id) on l.campaign_id = x.campaign_id
    and l.contact_id = x.contact_id`;
const CORRELATE_LEGACY = `
  select message_id, campaign_id, contact_id, email from send_ledger where message_id = any($1::text[])`;

type LedgerHit = { campaign_id: string; contact_id: string; email: string };

async function correlate(db: Db, messageIds: readonly string[]): Promise<Map<string, LedgerHit>> {
  const named = new Map<string, { campaignId: string; contactId: string }>();
  const legacy: string[] = [];
  for (const id of new Set(messageIds)) {
    const row = ledgerOfMessageId(id);
    if (row === null) legacy.push(id);
    else named.set(id, row);
  }
  const byMsg = new Map<string, LedgerHit>();
  if (named.size > 0) {
    const { rows } = await db.query<LedgerHit>(CORRELATE_ROWS, [
      [...named.values()].map((r) => r.campaignId),
      [...named.values()].map((r) => r.contactId),
    ]);
    const found = new Map(rows.map((r) => [`${r.campaign_id}:${r.contact_id}`, r]));
    for (const [id, r] of named) {
      const hit = found.get(`${r.campaignId}:${r.contactId}`);
      if (hit !== undefined) byMsg.set(id, hit);
    }
  }
  if (legacy.length > 0) {
    const { rows } = await db.query<LedgerHit & { message_id: string }>(CORRELATE_LEGACY, [legacy]);
    for (const r of rows) byMsg.set(r.message_id, r);
  }
  return byMsg;
}

const ADDRESS_OF_CONTACT = `
  select distinct on (contact_id) contact_id, email from send_ledger
  where contact_id = any($1::text[]) order by contact_id, updated_at desc`;

/**
 * A suppressing event that names its contact but no address (a complaint whose recipient the
 * mailbox provider redacted, attributed by our return-path token or custom fields) takes the
 * address of that send's ledger row, else of the contact's latest row: otherwise it would be
 * recorded against the contact and suppress no one.
 */
async function fillMissingAddresses(db: Db, events: EngagementEvent[]): Promise<EngagementEvent[]> {
  const missing = events.filter(
    (e) => e.email === undefined && e.contactId !== undefined && SUPPRESSING[e.type] !== undefined,
  );
  if (missing.length === 0) return events;
  const campaignOf = (e: EngagementEvent) =>
    e.campaignId ?? (e.messageId === undefined ? undefined : ledgerOfMessageId(e.messageId)?.campaignId);
  const keyed = missing.filter((e) => campaignOf(e) !== undefined);
  const byKey = new Map<string, string>();
  if (keyed.length > 0) {
    const { rows } = await db.query<LedgerHit>(CORRELATE_ROWS, [
      keyed.map((e) => campaignOf(e)!),
      keyed.map((e) => e.contactId!),
    ]);
    for (const r of rows) byKey.set(`${r.campaign_id}:${r.contact_id}`, r.email);
  }
  const unresolved = missing.filter((e) => !byKey.has(`${campaignOf(e)}:${e.contactId}`));
  const byContact = new Map<string, string>();
  if (unresolved.length > 0) {
    const { rows } = await db.query<{ contact_id: string; email: string }>(ADDRESS_OF_CONTACT, [
      [...new Set(unresolved.map((e) => e.contactId!))],
    ]);
    for (const r of rows) byContact.set(r.contact_id, r.email);
  }
  return events.map((e) => {
    if (e.email !== undefined || e.contactId === undefined || SUPPRESSING[e.type] === undefined) return e;
    const email = byKey.get(`${campaignOf(e)}:${e.contactId}`) ?? byContact.get(e.contactId);
    return email === undefined ? e : { ...e, email };
  });
}

export function createIngest(deps: { db: Db; bus: Bus; clock: Clock }) {
  const { db, bus, clock } = deps;
  return async function ingest(events: readonly EngagementEvent[]): Promise<IngestResult> {
    if (events.length === 0) return { accepted: 0, duplicates: 0 };
    let unique = [...new Map(events.map((e) => [e.sourceId, e])).values()];
    const needIds = unique
      .filter((e) => e.contactId === undefined && e.messageId !== undefined)
      .map((e) => e.messageId!);
    if (needIds.length > 0) {
      const byMsg = await correlate(db, needIds);
      unique = unique.map((e) => {
        const hit = e.messageId === undefined || e.contactId !== undefined ? undefined : byMsg.get(e.messageId);
        return hit === undefined
          ? e
          : {
              ...e,
              campaignId: e.campaignId ?? hit.campaign_id,
              contactId: hit.contact_id,
              email: e.email ?? hit.email,
            };
      });
    }
    unique = await fillMissingAddresses(db, unique);
    const rows = unique.map((e) => ({
      source_id: e.sourceId,
      type: e.type,
      provider: e.provider,
      occurred_at: e.occurredAt.toISOString(),
      email: e.email?.toLowerCase() ?? null,
      message_id: e.messageId ?? null,
      campaign_id: e.campaignId ?? null,
      contact_id: e.contactId ?? null,
      is_machine: e.isMachine ?? false,
      reason: e.reason ?? null,
      url: e.url ?? null,
      raw: e.raw ?? null,
    }));
    const now = clock.now();
    // The events, the suppressions they cause and the messages announcing both commit together
    // (an outbox): a crash or a bus failure after the commit cannot lose the announcement, which
    // a redelivered webhook would not repeat (its events are no longer new).
    const { fresh, outbox } = await db.transaction(async (tx) => {
      const { rows: inserted } = await tx.query<{ source_id: string }>(INSERT, [JSON.stringify(rows), now]);
      const isNew = new Set(inserted.map((r) => r.source_id));
      const fresh = rows.filter((r) => isNew.has(r.source_id));
      const entries: SuppressionEntry[] = fresh.flatMap((r) => {
        const reason = SUPPRESSING[r.type as EngagementEvent['type']];
        return reason === undefined || r.email === null || r.is_machine
          ? []
          : [
              {
                email: r.email,
                reason,
                source: `${r.provider}:${r.type}`,
                contactId: r.contact_id ?? undefined,
                campaignId: r.campaign_id ?? undefined,
              },
            ];
      });
      const added = new Set(await addSuppressions(tx, entries, now));
      const suppressed = entries.filter((e) => added.has(e.email));
      const outbox: Outboxed[] = [];
      if (fresh.length > 0) {
        const id = createHash('sha1')
          .update(fresh.map((r) => r.source_id).join('\n'))
          .digest('hex');
        const stored: StoredEvent[] = fresh.map((r) => ({
          sourceId: r.source_id,
          type: r.type as EngagementEvent['type'],
          provider: r.provider,
          occurredAt: r.occurred_at,
          email: r.email,
          messageId: r.message_id,
          campaignId: r.campaign_id,
          contactId: r.contact_id,
          isMachine: r.is_machine,
          reason: r.reason,
          url: r.url,
        }));
        outbox.push(
          await addToOutbox(
            tx,
            TOPICS.reactions,
            [{ id: `events:${id}`, payload: { events: stored } satisfies ReactionBatch }],
            now,
          ),
        );
      }
      outbox.push(
        await addToOutbox(
          tx,
          TOPICS.suppressed,
          suppressed.map((s) => ({
            // one message per suppression episode: only newly added addresses get here, and a later
            // re-suppression (after a removal) must not be dropped as a duplicate of the first
            id: `suppressed:${s.email}:${now.getTime()}`,
            key: s.email,
            payload: {
              email: s.email,
              reason: s.reason,
              source: s.source,
              contactId: s.contactId ?? null,
              campaignId: s.campaignId ?? null,
              at: now.toISOString(),
            } satisfies SuppressedPayload,
          })),
          now,
        ),
      );
      return { fresh, outbox };
    });
    try {
      await publishOutboxed({ db, bus }, outbox);
    } catch {
      // committed: the outbox relay publishes them (runOutboxRelay), nothing is lost
    }
    return { accepted: fresh.length, duplicates: events.length - fresh.length };
  };
}

export type Ingest = ReturnType<typeof createIngest>;
