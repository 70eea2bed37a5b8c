/**
 * SQL of the demo CRM, kept in its own demo_crm_* tables of the Switchyard store. Demo-only, so
 * the tables come from ensureDemoCrmSchema (idempotent DDL), not from a numbered migration, and
 * nothing outside connectors/crm/demo reads them. Writes are set-wise (one statement per batch).
 */
import type { Queryable } from '../../../store/port.ts';

export const DEMO_CRM_SCHEMA = `
  create table if not exists demo_crm_accounts (
    contact_id text primary key,
    engagement_score double precision,
    last_engaged_at timestamptz,
    opted_out boolean not null default false,
    updated_at timestamptz not null
  );
  alter table demo_crm_accounts add column if not exists fields jsonb not null default '{}';
  create table if not exists demo_crm_opt_outs (
    email text primary key,            -- lower-cased
    contact_id text,
    opted_out boolean not null,
    reason text not null,
    recorded_at timestamptz not null
  );
  create table if not exists demo_crm_tasks (
    n bigint generated always as identity primary key,
    contact_id text not null,
    kind text not null,
    title text not null,
    body text not null,
    dedupe_key text unique,            -- nulls never collide: tasks without a key always insert
    created_at timestamptz not null
  );
  -- closed-won deals the demo CRM reports (seeded by the demo or a test: insertDemoDeal)
  create table if not exists demo_crm_deals (
    id text primary key,
    account_id text,
    amount_minor bigint not null,
    currency text not null,
    closed_at timestamptz not null,
    deal_contact_ids text[] not null,
    account_contact_ids text[] not null
  );
  -- the deal poller reads by modification (a demo deal never modified counts as modified when it closed)
  alter table demo_crm_deals add column if not exists won boolean not null default true;
  alter table demo_crm_deals add column if not exists modified_at timestamptz;`;

export interface DemoDeal {
  id: string;
  accountId?: string;
  amountMinor: number;
  currency: string;
  closedAt: Date;
  dealContactIds: string[];
  accountContactIds: string[];
  /** False once the deal left closed-won (default true). */
  won?: boolean;
  /** When the deal last changed (default: its close time). */
  modifiedAt?: Date;
}

export async function insertDemoDeal(db: Queryable, d: DemoDeal): Promise<void> {
  await db.query(
    `insert into demo_crm_deals
       (id, account_id, amount_minor, currency, closed_at, deal_contact_ids, account_contact_ids, won, modified_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (id) do nothing`,
    [
      d.id,
      d.accountId ?? null,
      d.amountMinor,
      d.currency,
      d.closedAt,
      d.dealContactIds,
      d.accountContactIds,
      d.won ?? true,
      d.modifiedAt ?? null,
    ],
  );
}

/**
 * Closes one won deal per contact (id `demo-deal-<contact>`, the contact alone on it and on its
 * account), set-wise; a contact whose deal exists already keeps it as it is.
 */
export async function insertContactDeals(
  db: Queryable,
  deals: readonly { contactId: string; amountMinor: number }[],
  currency: string,
  at: Date,
): Promise<void> {
  await db.query(
    `insert into demo_crm_deals (id, amount_minor, currency, closed_at, deal_contact_ids, account_contact_ids)
     select 'demo-deal-' || x.contact_id, x.amount_minor, $3, $4, array[x.contact_id], array[x.contact_id]
     from unnest($1::text[], $2::bigint[]) as x(contact_id, amount_minor)
     on conflict (id) do nothing`,
    [deals.map((d) => d.contactId), deals.map((d) => d.amountMinor), currency, at],
  );
}

/** Changes a demo deal as a salesperson would (amount, stage), stamping the modification time. */
export async function updateDemoDeal(
  db: Queryable,
  id: string,
  change: { amountMinor?: number; won?: boolean },
  at: Date,
): Promise<void> {
  await db.query(
    `update demo_crm_deals set amount_minor = coalesce($2, amount_minor), won = coalesce($3, won), modified_at = $4
     where id = $1`,
    [id, change.amountMinor ?? null, change.won ?? null, at],
  );
}

// keyset on (modification time, id); coalesce matches the poller's order for never-modified deals
const SELECT_CHANGED_DEALS = `
  select id, account_id, amount_minor::text as amount_minor, currency, closed_at, deal_contact_ids,
         account_contact_ids, won, coalesce(modified_at, closed_at) as modified
  from demo_crm_deals
  where coalesce(modified_at, closed_at) < $1
    and ($2::timestamptz is null or (coalesce(modified_at, closed_at), id) > ($2::timestamptz, $3::text))
  order by coalesce(modified_at, closed_at), id limit $4`;

export async function selectChangedDeals(
  db: Queryable,
  until: Date,
  after: { modifiedAt: Date; id: string } | undefined,
  limit: number,
): Promise<Array<DemoDeal & { won: boolean; modifiedAt: Date }>> {
  const { rows } = await db.query<{
    id: string;
    account_id: string | null;
    amount_minor: string;
    currency: string;
    closed_at: Date;
    deal_contact_ids: string[];
    account_contact_ids: string[];
    won: boolean;
    modified: Date;
  }>(SELECT_CHANGED_DEALS, [until, after?.modifiedAt ?? null, after?.id ?? null, limit]);
  return rows.map((r) => ({
    id: r.id,
    ...(r.account_id === null ? {} : { accountId: r.account_id }),
    amountMinor: Number(r.amount_minor),
    currency: r.currency,
    closedAt: r.closed_at,
    dealContactIds: [...r.deal_contact_ids].sort(),
    accountContactIds: [...r.account_contact_ids].sort(),
    won: r.won,
    modifiedAt: r.modified,
  }));
}

// keyset on (closed_at, id): the cursor is the last deal's pair
const SELECT_DEALS = `
  select id, account_id, amount_minor::text as amount_minor, currency, closed_at, deal_contact_ids, account_contact_ids
  from demo_crm_deals
  where won and closed_at >= $1 and ($2::timestamptz is null or (closed_at, id) > ($2::timestamptz, $3::text))
  order by closed_at, id limit $4`;

export async function selectDeals(
  db: Queryable,
  since: Date,
  after: { closedAt: Date; id: string } | undefined,
  limit: number,
): Promise<DemoDeal[]> {
  const { rows } = await db.query<{
    id: string;
    account_id: string | null;
    amount_minor: string;
    currency: string;
    closed_at: Date;
    deal_contact_ids: string[];
    account_contact_ids: string[];
  }>(SELECT_DEALS, [since, after?.closedAt ?? null, after?.id ?? null, limit]);
  return rows.map((r) => ({
    id: r.id,
    ...(r.account_id === null ? {} : { accountId: r.account_id }),
    amountMinor: Number(r.amount_minor),
    currency: r.currency,
    closedAt: new Date(r.closed_at),
    dealContactIds: [...r.deal_contact_ids].sort(),
    accountContactIds: [...r.account_contact_ids].sort(),
  }));
}

export interface AccountState {
  contactId: string;
  engagementScore?: number;
  lastEngagedAt?: Date;
  optedOut: boolean;
  /** Fields set by updateFields. */
  fields: Record<string, unknown>;
}

interface AccountRow {
  contact_id: string;
  engagement_score: number | null;
  last_engaged_at: Date | null;
  opted_out: boolean;
  fields: Record<string, unknown>;
}

function toAccountState(row: AccountRow): AccountState {
  return {
    contactId: row.contact_id,
    ...(row.engagement_score === null ? {} : { engagementScore: row.engagement_score }),
    ...(row.last_engaged_at === null ? {} : { lastEngagedAt: new Date(row.last_engaged_at) }),
    optedOut: row.opted_out,
    fields: row.fields,
  };
}

const SELECT_ACCOUNTS = `
  select contact_id, engagement_score, last_engaged_at, opted_out, fields
  from demo_crm_accounts where contact_id = any($1::text[])`;

export async function selectAccounts(db: Queryable, contactIds: string[]): Promise<AccountState[]> {
  const { rows } = await db.query<AccountRow>(SELECT_ACCOUNTS, [contactIds]);
  return rows.map(toAccountState);
}

// Last writer by engagement time wins: a late, older update never regresses the score.
const UPSERT_ENGAGEMENT = `
  insert into demo_crm_accounts (contact_id, engagement_score, last_engaged_at, updated_at)
  select u.contact_id, u.score, u.at::timestamptz, $4
  from unnest($1::text[], $2::float8[], $3::text[]) as u(contact_id, score, at)
  on conflict (contact_id) do update
    set engagement_score = excluded.engagement_score, last_engaged_at = excluded.last_engaged_at,
        updated_at = excluded.updated_at
    where demo_crm_accounts.last_engaged_at is null
       or demo_crm_accounts.last_engaged_at <= excluded.last_engaged_at`;

/** One row per contact (the caller dedupes: ON CONFLICT cannot touch a row twice). */
export async function upsertEngagement(
  db: Queryable,
  updates: { contactId: string; score: number; lastEngagedAt: Date }[],
  now: Date,
): Promise<void> {
  await db.query(UPSERT_ENGAGEMENT, [
    updates.map((u) => u.contactId),
    updates.map((u) => u.score),
    updates.map((u) => u.lastEngagedAt.toISOString()),
    now,
  ]);
}

const UPSERT_OPT_OUTS = `
  insert into demo_crm_opt_outs (email, contact_id, opted_out, reason, recorded_at)
  select o.email, o.contact_id, o.opted_out, o.reason, $5
  from unnest($1::text[], $2::text[], $3::bool[], $4::text[]) as o(email, contact_id, opted_out, reason)
  on conflict (email) do update
    set contact_id = coalesce(excluded.contact_id, demo_crm_opt_outs.contact_id),
        opted_out = excluded.opted_out, reason = excluded.reason, recorded_at = excluded.recorded_at`;

const MARK_ACCOUNTS_OPTED_OUT = `
  insert into demo_crm_accounts (contact_id, opted_out, updated_at)
  select a.contact_id, a.opted_out, $3 from unnest($1::text[], $2::bool[]) as a(contact_id, opted_out)
  on conflict (contact_id) do update set opted_out = excluded.opted_out, updated_at = excluded.updated_at`;

/** One item per email and per contact (the caller dedupes). Both statements in one transaction. */
export async function upsertOptOuts(
  db: Queryable,
  byEmail: { email: string; contactId: string | null; optedOut: boolean; reason: string }[],
  byContact: { contactId: string; optedOut: boolean }[],
  now: Date,
): Promise<void> {
  await db.query(UPSERT_OPT_OUTS, [
    byEmail.map((o) => o.email),
    byEmail.map((o) => o.contactId),
    byEmail.map((o) => o.optedOut),
    byEmail.map((o) => o.reason),
    now,
  ]);
  if (byContact.length > 0) {
    await db.query(MARK_ACCOUNTS_OPTED_OUT, [byContact.map((c) => c.contactId), byContact.map((c) => c.optedOut), now]);
  }
}

const INSERT_TASK = `
  insert into demo_crm_tasks (contact_id, kind, title, body, dedupe_key, created_at)
  values ($1, $2, $3, $4, $5, $6)
  on conflict (dedupe_key) do nothing
  returning 'task_' || n as id`;
const SELECT_TASK_BY_KEY = `select 'task_' || n as id from demo_crm_tasks where dedupe_key = $1`;

export async function insertTask(
  db: Queryable,
  task: { contactId: string; kind: string; title: string; body: string; dedupeKey?: string },
  now: Date,
): Promise<string> {
  const { rows } = await db.query<{ id: string }>(INSERT_TASK, [
    task.contactId,
    task.kind,
    task.title,
    task.body,
    task.dedupeKey ?? null,
    now,
  ]);
  if (rows[0] !== undefined) return rows[0].id;
  const existing = await db.query<{ id: string }>(SELECT_TASK_BY_KEY, [task.dedupeKey]);
  return existing.rows[0]?.id ?? '';
}

export interface DemoTask {
  id: string;
  contactId: string;
  kind: string;
  title: string;
  body: string;
  createdAt: Date;
}

const SELECT_TASKS = `
  select 'task_' || n as id, contact_id, kind, title, body, created_at
  from demo_crm_tasks where contact_id = $1 order by n`;

export async function selectTasks(db: Queryable, contactId: string): Promise<DemoTask[]> {
  const { rows } = await db.query<{
    id: string;
    contact_id: string;
    kind: string;
    title: string;
    body: string;
    created_at: Date;
  }>(SELECT_TASKS, [contactId]);
  return rows.map((r) => ({
    id: r.id,
    contactId: r.contact_id,
    kind: r.kind,
    title: r.title,
    body: r.body,
    createdAt: new Date(r.created_at),
  }));
}

/**
 * Erases what the demo CRM holds about these addresses: the opt-out rows and, for the contacts
 * they name, the account state and tasks. Returns the addresses that were held.
 */
export async function eraseByEmail(tx: Queryable, emails: readonly string[]): Promise<string[]> {
  const { rows } = await tx.query<{ email: string; contact_id: string | null }>(
    'delete from demo_crm_opt_outs where email = any($1::text[]) returning email, contact_id',
    [emails],
  );
  const contacts = rows.map((r) => r.contact_id).filter((c): c is string => c !== null);
  if (contacts.length > 0) {
    await tx.query('delete from demo_crm_accounts where contact_id = any($1::text[])', [contacts]);
    await tx.query('delete from demo_crm_tasks where contact_id = any($1::text[])', [contacts]);
  }
  return rows.map((r) => r.email);
}

// Fields a journey set: merged over what the account holds (null clears one by storing null).
const UPSERT_FIELDS = `
  insert into demo_crm_accounts as a (contact_id, fields, updated_at) values ($1, $2::jsonb, $3)
  on conflict (contact_id) do update set fields = a.fields || excluded.fields, updated_at = excluded.updated_at`;

export async function upsertFields(
  db: Queryable,
  contactId: string,
  fields: Record<string, unknown>,
  now: Date,
): Promise<void> {
  await db.query(UPSERT_FIELDS, [contactId, JSON.stringify(fields), now]);
}
