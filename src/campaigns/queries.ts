/**
 * SQL of the campaigns service and the blast stages: campaigns, their select progress and chunk
 * bookkeeping. The send ledger's statements live in send-ledger.ts.
 */
import type { Queryable } from '../store/port.ts';
import { UNSETTLED_STATES } from './send-ledger.ts';
import type { AbPhase, Campaign, CampaignDefinition, CampaignStatus, Recipient } from './types.ts';

interface CampaignRow {
  id: string;
  status: CampaignStatus;
  status_reason: string | null;
  definition: CampaignDefinition;
  select_after: string | null;
  select_seq: number;
  select_done: boolean;
  selected: number;
  rejected: number;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  ab_phase: AbPhase | null;
}

function toCampaign(r: CampaignRow): Campaign {
  return {
    id: r.id,
    status: r.status,
    statusReason: r.status_reason,
    definition: r.definition,
    selectDone: r.select_done,
    selected: r.selected,
    rejected: r.rejected,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    abPhase: r.ab_phase,
  };
}

export async function insertCampaign(db: Queryable, id: string, def: CampaignDefinition, at: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into campaigns (id, name, definition, priority, created_at, updated_at) values ($1, $2, $3, $4, $5, $5)
      on conflict (id) do nothing`,
    [id, def.name, JSON.stringify(def), def.priority, at],
  );
  return rowCount === 1;
}

export async function getCampaign(
  db: Queryable,
  id: string,
): Promise<(Campaign & { selectAfter: string | null; selectSeq: number }) | null> {
  const {
    rows: [r],
  } = await db.query<CampaignRow>('select * from campaigns where id = $1', [id]);
  return r === undefined ? null : { ...toCampaign(r), selectAfter: r.select_after, selectSeq: r.select_seq };
}

export async function listCampaigns(db: Queryable, limit: number): Promise<Campaign[]> {
  const { rows } = await db.query<CampaignRow>('select * from campaigns order by created_at desc, id limit $1', [
    limit,
  ]);
  return rows.map(toCampaign);
}

/** Moves status only from one of `from`; returns false when the campaign was elsewhere. */
export async function transition(
  db: Queryable,
  id: string,
  from: readonly CampaignStatus[],
  to: CampaignStatus,
  at: Date,
  reason: string | null = null,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update campaigns set status = $3, status_reason = $4, updated_at = $5,
       started_at = case when $3 = 'running' and started_at is null then $5 else started_at end,
       finished_at = case when $3 in ('completed', 'cancelled', 'failed') then $5 else finished_at end
     where id = $1 and status = any($2::text[])`,
    [id, from, to, reason, at],
  );
  return rowCount === 1;
}

/** Moves paused → running only when the pause's reason starts with `heldBy` (whoever paused it). */
export async function releaseHold(
  db: Queryable,
  id: string,
  heldBy: string,
  reason: string,
  at: Date,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update campaigns set status = 'running', status_reason = $3, updated_at = $2
      where id = $1 and status = 'paused' and starts_with(coalesce(status_reason, ''), $4)`,
    [id, at, reason, heldBy],
  );
  return rowCount === 1;
}

/** Records one select step; the seq guard makes a redelivered step a no-op. */
export async function advanceSelect(
  db: Queryable,
  id: string,
  fromSeq: number,
  toSeq: number,
  after: string | null,
  done: boolean,
  selected: number,
  rejected: number,
  at: Date,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update campaigns set select_seq = $3, select_after = coalesce($4, select_after), select_done = $5,
       selected = selected + $6, rejected = rejected + $7, updated_at = $8
     where id = $1 and select_seq = $2`,
    [id, fromSeq, toSeq, after, done, selected, rejected, at],
  );
  return rowCount === 1;
}

/** Marks a chunk prepared (past comply/enrich/schedule) and how many parts it was split into. */
export async function markChunkPrepared(
  db: Queryable,
  campaignId: string,
  seq: number,
  recipients: number,
  parts: number,
): Promise<void> {
  await db.query(
    `insert into campaign_chunks (campaign_id, seq, recipients, parts) values ($1, $2, $3, $4) on conflict do nothing`,
    [campaignId, seq, recipients, parts],
  );
}

export async function markPartDone(db: Queryable, campaignId: string, seq: number, part: number): Promise<void> {
  await db.query(
    `insert into campaign_chunk_parts (campaign_id, seq, part) values ($1, $2, $3) on conflict do nothing`,
    [campaignId, seq, part],
  );
}

/**
 * Completed when selection is done, every chunk was prepared and every part of it handled, and no
 * ledger row is still on its way. Called after every chunk part: the chunk counts are checked
 * first, so the ledger is only read (by its primary key range) once they add up.
 */
export async function completeIfDone(db: Queryable, campaignId: string, at: Date): Promise<boolean> {
  const {
    rows: [progress],
  } = await db.query<{ ready: boolean }>(
    `select c.select_done
       and (select count(*) from campaign_chunks k where k.campaign_id = c.id) = c.select_seq
       and (select coalesce(sum(parts), 0) from campaign_chunks k where k.campaign_id = c.id)
         = (select count(*) from campaign_chunk_parts p where p.campaign_id = c.id) as ready
     from campaigns c where c.id = $1 and c.status = 'running' and c.ab_phase is distinct from 'testing'`,
    [campaignId],
  );
  if (progress?.ready !== true) return false;
  const { rowCount } = await db.query(
    `update campaigns c set status = 'completed', finished_at = $2, updated_at = $2
     where c.id = $1 and c.status = 'running' and c.ab_phase is distinct from 'testing'
       and not exists (select 1 from send_ledger l where l.campaign_id = c.id and l.state = any($3::text[]))`,
    [campaignId, at, UNSETTLED_STATES],
  );
  return rowCount === 1;
}

/** Recipients selected but not yet in the ledger (waiting in a stage or staged for later). */
export async function waitingCount(db: Queryable, campaignId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select greatest(0, c.selected - (select count(*) from send_ledger l where l.campaign_id = c.id))::int as n
      from campaigns c where c.id = $1`,
    [campaignId],
  );
  return rows[0]?.n ?? 0;
}

/**
 * When the campaign last moved: its newest ledger row change, or its own row's (selection
 * advancing, a status change), whichever is later. Reads the campaign's ledger rows by the
 * primary key's campaign prefix, as countStates does.
 */
export async function lastMovedAt(db: Queryable, campaignId: string): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>(
    `select greatest(c.updated_at, (select max(l.updated_at) from send_ledger l where l.campaign_id = c.id)) as at
     from campaigns c where c.id = $1`,
    [campaignId],
  );
  const at = rows[0]?.at ?? null;
  return at === null ? null : new Date(at);
}

/**
 * Records that the campaign waits on its CRM until `until` (a later wait wins over an earlier
 * one unless `replace`: a Retry-After is the CRM's word, an estimate only ours).
 */
export async function setCrmWait(
  db: Queryable,
  campaignId: string,
  reason: string,
  until: Date,
  replace = false,
): Promise<void> {
  await db.query(
    `update campaigns set crm_wait_reason = $2,
       crm_wait_until = case when $4::boolean or crm_wait_until is null then $3::timestamptz
         else greatest(crm_wait_until, $3::timestamptz) end
     where id = $1 and status = 'running'`,
    [campaignId, reason, until, replace],
  );
}

export async function clearCrmWait(db: Queryable, campaignId: string): Promise<void> {
  await db.query(
    'update campaigns set crm_wait_reason = null, crm_wait_until = null where id = $1 and crm_wait_until is not null',
    [campaignId],
  );
}

export async function crmWait(db: Queryable, campaignId: string): Promise<{ reason: string; until: Date } | null> {
  const { rows } = await db.query<{ crm_wait_reason: string | null; crm_wait_until: Date | null }>(
    'select crm_wait_reason, crm_wait_until from campaigns where id = $1',
    [campaignId],
  );
  const r = rows[0];
  return r?.crm_wait_reason == null || r.crm_wait_until == null
    ? null
    : { reason: r.crm_wait_reason, until: new Date(r.crm_wait_until) };
}

export function recipientsById(recipients: readonly Recipient[]): Map<string, Recipient> {
  return new Map(recipients.map((r) => [r.id, r]));
}
