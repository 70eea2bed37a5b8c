/**
 * Reaction ingest: every normalised event from any source (webhooks, tracking, inbound mail, the
 * sandbox ESP) enters here. One statement inserts the batch, deduplicated by source id; for the
 * new events, unsubscribes, complaints and hard bounces suppress at once (same transaction), and
 * one bus message hands them to the handlers (ledger, engagement, propagation, journeys): in the
 * same transaction where the bus can publish in one (postgres-log), else through the outbox.
 * Concurrent calls share that work (group commit, below).
 */
import { createHash } from 'node:crypto';
import { publishOutboxed, type Outboxed } from '../bus/outbox.ts';
import type { Bus } from '../bus/port.ts';
import type { Clock } from '../clock/port.ts';
import type { EngagementEvent } from '../core/events.ts';
import { ledgerOfMessageId } from '../core/message-id.ts';
import { normalizeEmail, type SuppressionReason } from '../compliance/suppression.ts';
import { createGroupCommit } from './group-commit.ts';
import type { Db } from '../store/port.ts';
import { TOPICS, type ReactionBatch, type StoredEvent, type SuppressedPayload } from '../bus/topics.ts';

export interface IngestResult {
  accepted: number;
  duplicates: number;
}

const SUPPRESSING: Partial<Record<EngagementEvent['type'], SuppressionReason>> = {
  unsubscribed: 'unsubscribed',
  complained: 'complained',
  bounced_hard: 'bounced_hard',
};

/**
 * One group's whole write, one statement (so one round trip and one commit, atomic without an
 * explicit transaction): the events, deduplicated by source id; the suppressions the new ones
 * cause (as addSuppressions in compliance/suppression.ts: the first reason recorded stays); and,
 * in the outbox, one reaction batch of the new events plus one message per newly suppressed
 * address. Columns come as arrays, one text parameter each: PostgreSQL reads them faster than a
 * JSON document of rows; the two JSON columns (raw payloads, each event's bus JSON) come as JSON
 * arrays instead, which need no array-literal escaping of their quotes. The batch is built from
 * the caller's bus JSON text, as the caller would publish it. Rows are written in input order
 * (sorted by source id, then email), so concurrent groups take index locks in one order.
 */
const WRITE_GROUP = `
  with input as (
    select x.*, r.raw, e.event_json
    from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
      $8::text[], $9::boolean[], $10::text[], $11::text[], $14::text[], $15::text[])
      with ordinality as x(source_id, type, provider, occurred_at, email, message_id, campaign_id, contact_id,
        is_machine, reason, url, suppress_email, suppress_reason, n)
    join json_array_elements($12::json) with ordinality as r(raw, rn) on r.rn = x.n
    join json_array_elements($13::json) with ordinality as e(event_json, en) on e.en = x.n
  ), stored as (
    insert into engagement_events (source_id, type, provider, occurred_at, received_at, email, message_id, campaign_id,
      contact_id, is_machine, reason, url, raw)
    select i.source_id, i.type, i.provider, i.occurred_at, $16, i.email, i.message_id, i.campaign_id, i.contact_id,
      i.is_machine, i.reason, i.url, case when json_typeof(i.raw) = 'null' then null else i.raw end
    from input i order by i.n
    on conflict (source_id) do nothing
    returning source_id
  ), fresh as (
    select i.* from input i join stored s on s.source_id = i.source_id
  ), suppressed as (
    insert into suppressions (email, reason, source, contact_id, campaign_id, created_at)
    select f.suppress_email, f.suppress_reason, f.provider || ':' || f.type, f.contact_id, f.campaign_id, $16
    from fresh f where f.suppress_email is not null order by f.suppress_email, f.n
    on conflict (email) do nothing
    returning email, reason, source, contact_id, campaign_id
  ), reaction_batch as (
    insert into bus_outbox (topic, msg_id, msg_key, payload, created_at)
    select $17, 'events:' || md5(string_agg(f.source_id, E'\\n' order by f.n)), null,
      '{"events":[' || string_agg(f.event_json::text, ',' order by f.n) || ']}', $16
    from fresh f having count(*) > 0
    returning seq, msg_id
  ), announced as (
    insert into bus_outbox (topic, msg_id, msg_key, payload, created_at)
    select $18, 'suppressed:' || s.email || ':' || $19::text, s.email,
      json_build_object('email', s.email, 'reason', s.reason, 'source', s.source, 'contactId', s.contact_id,
        'campaignId', s.campaign_id, 'at', $20::text)::text,
      $16
    from suppressed s order by s.email
    returning seq, msg_id, msg_key, payload
  )
  select (select array_agg(source_id) from stored) as fresh,
    (select json_agg(r) from reaction_batch r) as reactions,
    (select json_agg(a order by a.seq) from announced a) as suppressed`;

/**
 * The same write for a bus that publishes in the caller's transaction (postgres-log): the events
 * and suppressions only; the messages are built from what it returns and published in the same
 * transaction (no outbox row, no second copy of the batch, one commit). Parameters as WRITE_GROUP's
 * without the bus JSON ($13) and the outbox ones.
 */
const WRITE_EVENTS = `
  with input as (
    select x.*, r.raw
    from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
      $8::text[], $9::boolean[], $10::text[], $11::text[], $13::text[], $14::text[])
      with ordinality as x(source_id, type, provider, occurred_at, email, message_id, campaign_id, contact_id,
        is_machine, reason, url, suppress_email, suppress_reason, n)
    join json_array_elements($12::json) with ordinality as r(raw, rn) on r.rn = x.n
  ), stored as (
    insert into engagement_events (source_id, type, provider, occurred_at, received_at, email, message_id, campaign_id,
      contact_id, is_machine, reason, url, raw)
    select i.source_id, i.type, i.provider, i.occurred_at, $15, i.email, i.message_id, i.campaign_id, i.contact_id,
      i.is_machine, i.reason, i.url, case when json_typeof(i.raw) = 'null' then null else i.raw end
    from input i order by i.n
    on conflict (source_id) do nothing
    returning source_id
  ), suppressed as (
    insert into suppressions (email, reason, source, contact_id, campaign_id, created_at)
    select i.suppress_email, i.suppress_reason, i.provider || ':' || i.type, i.contact_id, i.campaign_id, $15
    from input i join stored s on s.source_id = i.source_id
    where i.suppress_email is not null order by i.suppress_email, i.n
    on conflict (email) do nothing
    returning email, reason, source, contact_id, campaign_id
  )
  select (select array_agg(source_id) from stored) as fresh,
    (select json_agg(s order by s.email) from suppressed s) as suppressed`;

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

type LedgerHit = { campaign_id: string; contact_id: string; email: string | null };

/** Opens the ledger's sealed addresses (src/privacy/); null for an erased subject. */
export type OpenAddresses = (sealed: readonly string[]) => Promise<(string | null)[]>;

/** Seals values under their subjects' keys (src/privacy/ sealMany). */
export type SealValues = (items: readonly { email: string; value: string }[]) => Promise<string[]>;

/**
 * A reply's payload quotes the sender's own words: with PII at rest it is stored sealed under the
 * sender's key, as `{"sealed": "pii1:…"}` (replies are a trickle next to opens and clicks: one seal
 * call per group that has some).
 */
const SEALED_RAW: ReadonlySet<EngagementEvent['type']> = new Set(['replied', 'auto_replied']);

async function sealReplyPayloads(seal: SealValues | undefined, events: EngagementEvent[]): Promise<EngagementEvent[]> {
  const quoted = seal === undefined ? [] : events.filter((e) => SEALED_RAW.has(e.type) && e.email && e.raw != null);
  if (quoted.length === 0) return events;
  const sealed = await seal!(quoted.map((e) => ({ email: e.email!, value: JSON.stringify(e.raw) })));
  const byEvent = new Map(quoted.map((e, i) => [e, sealed[i]!]));
  return events.map((e) => {
    const s = byEvent.get(e);
    return s === undefined ? e : { ...e, raw: { sealed: s } };
  });
}

/** Stored payloads as readers use them: a sealed one opened (null once its sender is erased). */
export async function openPayloads(open: OpenAddresses | undefined, raws: readonly unknown[]): Promise<unknown[]> {
  const isSealed = (r: unknown): r is { sealed: string } =>
    typeof r === 'object' && r !== null && typeof (r as { sealed?: unknown }).sealed === 'string';
  const sealed = raws.filter(isSealed);
  if (open === undefined || sealed.length === 0) return [...raws];
  const plain = await open(sealed.map((r) => r.sealed));
  const byRaw = new Map(sealed.map((r, i) => [r, plain[i]!]));
  return raws.map((r) => {
    if (!isSealed(r)) return r;
    const p = byRaw.get(r);
    return p === null || p === undefined ? null : (JSON.parse(p) as unknown);
  });
}

/** The ledger rows' addresses opened in place (one call for all); an erased one becomes null. */
async function openHits(open: OpenAddresses | undefined, hits: { email: string | null }[]): Promise<void> {
  const sealed = hits.filter((h) => h.email !== null);
  if (open === undefined || sealed.length === 0) return;
  const plain = await open(sealed.map((h) => h.email!));
  sealed.forEach((h, i) => {
    h.email = plain[i]!;
  });
}

async function correlate(db: Db, messageIds: readonly string[], open?: OpenAddresses): Promise<Map<string, LedgerHit>> {
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
  await openHits(open, [...new Set(byMsg.values())]);
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
async function fillMissingAddresses(
  db: Db,
  events: EngagementEvent[],
  open?: OpenAddresses,
): Promise<EngagementEvent[]> {
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
    await openHits(open, rows);
    for (const r of rows) if (r.email !== null) byKey.set(`${r.campaign_id}:${r.contact_id}`, r.email);
  }
  const unresolved = missing.filter((e) => !byKey.has(`${campaignOf(e)}:${e.contactId}`));
  const byContact = new Map<string, string>();
  if (unresolved.length > 0) {
    const { rows } = await db.query<{ contact_id: string; email: string | null }>(ADDRESS_OF_CONTACT, [
      [...new Set(unresolved.map((e) => e.contactId!))],
    ]);
    await openHits(open, rows);
    for (const r of rows) if (r.email !== null) byContact.set(r.contact_id, r.email);
  }
  return events.map((e) => {
    if (e.email !== undefined || e.contactId === undefined || SUPPRESSING[e.type] === undefined) return e;
    const email = byKey.get(`${campaignOf(e)}:${e.contactId}`) ?? byContact.get(e.contactId);
    return email === undefined ? e : { ...e, email };
  });
}

/** Events per group commit: concurrent callers share one transaction up to about this many events. */
export const DEFAULT_GROUP_EVENTS = 2_000;

export interface IngestOptions {
  /** A group takes waiting calls while their events fit in this many (a larger call goes alone). */
  maxGroupEvents?: number;
}

/** One ingest call's rows: events after dedup, with the correlated ids filled in. */
interface Row {
  source_id: string;
  type: EngagementEvent['type'];
  provider: string;
  occurred_at: string;
  email: string | null;
  message_id: string | null;
  campaign_id: string | null;
  contact_id: string | null;
  is_machine: boolean;
  reason: string | null;
  url: string | null;
  raw: string | null;
}

function toStored(r: Row): StoredEvent {
  return {
    sourceId: r.source_id,
    type: r.type,
    provider: r.provider,
    occurredAt: r.occurred_at,
    email: r.email,
    messageId: r.message_id,
    campaignId: r.campaign_id,
    contactId: r.contact_id,
    isMachine: r.is_machine,
    reason: r.reason,
    url: r.url,
  };
}

/**
 * PII at rest (docs/privacy.md): the high-volume types keep no personal data the normalised columns
 * do not need. A vendor's payload of them copies the address, the reader's IP and user agent, and
 * nothing reads it (the machine verdict is made before ingest): it is not stored. Our tracking
 * route's payload (machine reasons, link, send time) names no one and stays. The address column is
 * left empty once the contact is known; the reaction batch still carries it to the handlers.
 */
const MINIMISED: ReadonlySet<EngagementEvent['type']> = new Set(['delivered', 'deferred', 'opened', 'clicked']);

/** The address the events table keeps for a row: none for a correlated high-volume event. */
function storedEmail(r: Row): string | null {
  return r.contact_id !== null && MINIMISED.has(r.type) ? null : r.email;
}

/** Why a new event of this row suppresses its address at once, if it does. */
function suppressionOf(r: Row): SuppressionReason | undefined {
  return r.email === null || r.is_machine ? undefined : SUPPRESSING[r.type];
}

/** The event columns of the group statements ($1–$12 of both), one array per column. */
function eventColumns(rows: readonly Row[]): unknown[] {
  return [
    rows.map((r) => r.source_id),
    rows.map((r) => r.type),
    rows.map((r) => r.provider),
    rows.map((r) => r.occurred_at),
    rows.map(storedEmail),
    rows.map((r) => r.message_id),
    rows.map((r) => r.campaign_id),
    rows.map((r) => r.contact_id),
    rows.map((r) => r.is_machine),
    rows.map((r) => r.reason),
    rows.map((r) => r.url),
    `[${rows.map((r) => r.raw ?? 'null').join(',')}]`,
  ];
}

/** The address each row suppresses and why (null where it suppresses nothing). */
function suppressionColumns(rows: readonly Row[]): unknown[] {
  return [
    rows.map((r) => (suppressionOf(r) === undefined ? null : normalizeEmail(r.email!))),
    rows.map((r) => suppressionOf(r) ?? null),
  ];
}

function toRow(e: EngagementEvent): Row {
  return {
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
    raw:
      e.raw === undefined || e.raw === null || (MINIMISED.has(e.type) && e.provider !== 'tracking')
        ? null
        : JSON.stringify(e.raw),
  };
}

/**
 * Ingest is group-committed (group-commit.ts): calls made while a group is being written share
 * the next one: one insert of all their events, one suppression insert, one reaction batch on the
 * bus and one commit. Each call resolves after its group committed and was handed to the bus, with
 * its own counts: an event several calls of a group carry is accepted for the first of them.
 */
/**
 * `openAddresses`: the ledger's addresses are sealed (src/privacy/) and are opened when an event takes one.
 * `sealValues`: reply payloads are stored sealed under the sender's key.
 */
export function createIngest(
  deps: { db: Db; bus: Bus; clock: Clock; openAddresses?: OpenAddresses; sealValues?: SealValues },
  options: IngestOptions = {},
) {
  const { db, bus, clock } = deps;

  async function writeGroup(calls: readonly (readonly EngagementEvent[])[]): Promise<Promise<IngestResult>[]> {
    // the first call carrying a source id owns it
    const owner = new Map<string, number>();
    let unique: EngagementEvent[] = [];
    calls.forEach((events, c) => {
      for (const e of events) {
        if (owner.has(e.sourceId)) continue;
        owner.set(e.sourceId, c);
        unique.push(e);
      }
    });
    const needIds = unique
      .filter((e) => e.contactId === undefined && e.messageId !== undefined)
      .map((e) => e.messageId!);
    if (needIds.length > 0) {
      const byMsg = await correlate(db, needIds, deps.openAddresses);
      unique = unique.map((e) => {
        const hit = e.messageId === undefined || e.contactId !== undefined ? undefined : byMsg.get(e.messageId);
        return hit === undefined
          ? e
          : {
              ...e,
              campaignId: e.campaignId ?? hit.campaign_id,
              contactId: hit.contact_id,
              email: e.email ?? hit.email ?? undefined,
            };
      });
    }
    unique = await fillMissingAddresses(db, unique, deps.openAddresses);
    unique = await sealReplyPayloads(deps.sealValues, unique);
    // in key order, so concurrent groups take the rows' index locks in one order and cannot deadlock
    const rows = unique.map(toRow).sort((a, b) => (a.source_id < b.source_id ? -1 : a.source_id > b.source_id ? 1 : 0));
    const stored = rows.map(toStored);
    const now = clock.now();
    const accepted = calls.map(() => 0);
    const answer = (fresh: readonly StoredEvent[], done: Promise<unknown>) => {
      for (const e of fresh) accepted[owner.get(e.sourceId)!]!++;
      return calls.map((events, c) =>
        done.then(() => ({ accepted: accepted[c]!, duplicates: events.length - accepted[c]! })),
      );
    };
    const publishInTransaction = bus.publishInTransaction?.bind(bus);
    if (publishInTransaction !== undefined) {
      // The events, the suppressions they cause and the messages announcing both commit together,
      // in one transaction with the bus's own log: answered once committed, nothing left to publish.
      const fresh = await db.transaction(async (tx) => {
        const {
          rows: [written],
        } = await tx.query<{
          fresh: string[] | null;
          suppressed:
            | { email: string; reason: string; source: string; contact_id: string | null; campaign_id: string | null }[]
            | null;
        }>(WRITE_EVENTS, [...eventColumns(rows), ...suppressionColumns(rows), now]);
        const isNew = new Set(written!.fresh ?? []);
        const fresh = isNew.size === stored.length ? stored : stored.filter((e) => isNew.has(e.sourceId));
        if (fresh.length > 0) {
          const id = `events:${createHash('md5')
            .update(fresh.map((e) => e.sourceId).join('\n'))
            .digest('hex')}`;
          await publishInTransaction(tx, TOPICS.reactions, [
            { id, payload: { events: fresh } satisfies ReactionBatch },
          ]);
        }
        const announced = written!.suppressed ?? [];
        if (announced.length > 0) {
          // one message per suppression episode: only newly added addresses get here, and a later
          // re-suppression (after a removal) must not be dropped as a duplicate of the first
          await publishInTransaction(
            tx,
            TOPICS.suppressed,
            announced.map((s) => ({
              id: `suppressed:${s.email}:${now.getTime()}`,
              key: s.email,
              payload: {
                email: s.email,
                reason: s.reason,
                source: s.source,
                contactId: s.contact_id,
                campaignId: s.campaign_id,
                at: now.toISOString(),
              } satisfies SuppressedPayload,
            })),
          );
        }
        return fresh;
      });
      return answer(fresh, Promise.resolve());
    }
    // The events, the suppressions they cause and the messages announcing both commit together
    // (an outbox): a crash or a bus failure after the commit cannot lose the announcement, which
    // a redelivered webhook would not repeat (its events are no longer new).
    const {
      rows: [written],
    } = await db.query<{
      fresh: string[] | null;
      reactions: { seq: number; msg_id: string }[] | null;
      suppressed: { seq: number; msg_id: string; msg_key: string; payload: string }[] | null;
    }>(WRITE_GROUP, [
      ...eventColumns(rows),
      JSON.stringify(stored),
      ...suppressionColumns(rows),
      now,
      TOPICS.reactions,
      TOPICS.suppressed,
      String(now.getTime()),
      now.toISOString(),
    ]);
    const isNew = new Set(written!.fresh ?? []);
    const fresh = isNew.size === stored.length ? stored : stored.filter((e) => isNew.has(e.sourceId));
    const outbox: Outboxed[] = [];
    const batch = written!.reactions?.[0];
    if (batch !== undefined) {
      outbox.push({
        topic: TOPICS.reactions,
        messages: [{ id: batch.msg_id, payload: { events: fresh } satisfies ReactionBatch }],
        seqs: [batch.seq],
      });
    }
    const announced = written!.suppressed ?? [];
    if (announced.length > 0) {
      outbox.push({
        topic: TOPICS.suppressed,
        // one message per suppression episode: only newly added addresses get here, and a later
        // re-suppression (after a removal) must not be dropped as a duplicate of the first
        messages: announced.map((a) => ({
          id: a.msg_id,
          key: a.msg_key,
          payload: JSON.parse(a.payload) as SuppressedPayload,
        })),
        seqs: announced.map((a) => a.seq),
      });
    }
    // Called right after the commit, so publishes reach the bus in commit order. The next group is
    // written while this one publishes (the callers still wait for both), which keeps the
    // database busy through the publish's round trip and commit instead of idle.
    const published = publishOutboxed({ db, bus }, outbox, { forgetInBackground: true }).catch(() => {
      // committed: the outbox relay publishes them (runOutboxRelay), nothing is lost
    });
    return answer(fresh, published);
  }
  const submit = createGroupCommit(writeGroup, {
    maxWeight: options.maxGroupEvents ?? DEFAULT_GROUP_EVENTS,
    weight: (events: readonly EngagementEvent[]) => events.length,
  });

  return async function ingest(events: readonly EngagementEvent[]): Promise<IngestResult> {
    if (events.length === 0) return { accepted: 0, duplicates: 0 };
    return submit(events);
  };
}

export type Ingest = ReturnType<typeof createIngest>;
