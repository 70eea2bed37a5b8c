/**
 * SQL of the lists service: definitions, membership writes with their history (one statement per
 * evaluation batch), timers, rebuild progress. Private to src/lists/.
 */
import type { SegmentCondition } from '../core/segments/types.ts';
import type { Queryable } from '../store/port.ts';

export interface ListRow {
  id: string;
  name: string;
  kind: 'static' | 'dynamic';
  definition: SegmentCondition | null;
  dependsOn: string[];
  revision: number;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  rebuild: {
    state: 'running' | 'done' | 'failed' | null;
    done: number;
    total: number;
    changed: number;
    startedAt: Date | null;
    finishedAt: Date | null;
    error: string | null;
  };
}

interface RawListRow {
  id: string;
  name: string;
  kind: 'static' | 'dynamic';
  definition: SegmentCondition | null;
  depends_on: string[];
  revision: number;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
  rebuild_state: ListRow['rebuild']['state'];
  rebuild_done: number;
  rebuild_total: number;
  rebuild_changed: number;
  rebuild_started_at: Date | null;
  rebuild_finished_at: Date | null;
  rebuild_error: string | null;
}

function toList(r: RawListRow): ListRow {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    definition: r.definition,
    dependsOn: r.depends_on,
    revision: Number(r.revision),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deletedAt: r.deleted_at,
    rebuild: {
      state: r.rebuild_state,
      done: Number(r.rebuild_done),
      total: Number(r.rebuild_total),
      changed: Number(r.rebuild_changed),
      startedAt: r.rebuild_started_at,
      finishedAt: r.rebuild_finished_at,
      error: r.rebuild_error,
    },
  };
}

export async function catalogRevision(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ r: string }>(`select coalesce(max(revision), 0)::text as r from lists`);
  return rows[0]?.r ?? '0';
}

/** Live lists (not deleted), for the compiled catalogue. */
export async function liveLists(db: Queryable): Promise<ListRow[]> {
  const { rows } = await db.query<RawListRow>(`select * from lists where deleted_at is null order by id`);
  return rows.map(toList);
}

export async function getList(db: Queryable, id: string): Promise<ListRow | null> {
  const { rows } = await db.query<RawListRow>(`select * from lists where id = $1`, [id]);
  return rows[0] ? toList(rows[0]) : null;
}

export async function insertList(
  db: Queryable,
  l: { id: string; name: string; kind: string; definition: unknown; dependsOn: string[]; inputs: unknown },
  at: Date,
): Promise<boolean> {
  const { rows } = await db.query(
    `insert into lists (id, name, kind, definition, depends_on, inputs, created_at, updated_at)
     values ($1, $2, $3, $4::jsonb, $5::text[], $6::jsonb, $7, $7) on conflict (id) do nothing returning id`,
    [
      l.id,
      l.name,
      l.kind,
      l.definition === null ? null : JSON.stringify(l.definition),
      l.dependsOn,
      JSON.stringify(l.inputs),
      at,
    ],
  );
  return rows.length === 1;
}

export async function updateList(
  db: Queryable,
  l: { id: string; name: string; definition: unknown; dependsOn: string[]; inputs: unknown },
  at: Date,
): Promise<void> {
  await db.query(
    `update lists set name = $2, definition = $3::jsonb, depends_on = $4::text[], inputs = $5::jsonb, updated_at = $6,
       revision = nextval('list_revisions') where id = $1`,
    [
      l.id,
      l.name,
      l.definition === null ? null : JSON.stringify(l.definition),
      l.dependsOn,
      JSON.stringify(l.inputs),
      at,
    ],
  );
}

/**
 * Marks a list deleted and drops its members and timers; its history stays (a member's entry
 * becomes an episode without an exit: nobody left the list, it went away).
 */
export async function deleteList(db: Queryable, id: string, at: Date): Promise<void> {
  await db.query(`update lists set deleted_at = $2, revision = nextval('list_revisions') where id = $1`, [id, at]);
  await db.query(
    `with del as (delete from list_members where list_id = $1 returning *)
     insert into list_episodes (list_id, contact_id, entry_id, entered_at, entry_cause_kind, entry_cause_id)
     select list_id, contact_id, entry_id, entered_at, cause_kind, cause_id from del`,
    [id],
  );
  await db.query(`delete from list_timers where list_id = $1`, [id]);
}

/** Live lists that read `id`. */
export async function readersOf(db: Queryable, id: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select id from lists where deleted_at is null and $1 = any(depends_on) order by id`,
    [id],
  );
  return rows.map((r) => r.id);
}

/** Rebuild chunks of one list that run at once, each on its own connection. */
export const REBUILD_LANES = 2;

/**
 * Serialises rebuild chunks of a list with incremental evaluations of it (advisory): a chunk
 * holds its lane's key exclusively and an evaluation every lane's key shared, so the chunks of
 * different lanes run together and none of them beside an evaluation.
 */
export async function lockListsShared(db: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `select count(pg_advisory_xact_lock_shared(hashtext('list:' || x || '#' || lane)))
     from unnest($1::text[]) x, generate_series(0, $2::int - 1) lane`,
    [ids, REBUILD_LANES],
  );
}
export async function lockListExclusive(db: Queryable, id: string, lane: number): Promise<void> {
  await db.query(`select pg_advisory_xact_lock(hashtext('list:' || $1::text || '#' || $2::int))`, [id, lane]);
}

export interface Transition {
  listId: string;
  contactId: string;
  entered: boolean;
  causeKind: string;
  causeId: string;
  /** An exit's membership row as the evaluation read it (`ctid`); null or absent: found by key. */
  row?: string | null;
}

/** Transitions per `list.entered` / `list.exited` message (the bus row and the outbox row are per message). */
export const TRANSITIONS_PER_MESSAGE = 1000;

/**
 * The outbox rows of the transitions in CTE `hist` (id, list_id, contact_id, entered, cause_kind,
 * cause_id): per kind, in history order, one message per TRANSITIONS_PER_MESSAGE whose payload is
 * `payload`, a JSON expression over the message's rows `g`; `p` names the parameters (entered
 * topic, exited topic, created_at).
 */
function outboxOf(p: { entered: string; exited: string; createdAt: string }, payload: string): string {
  return `
  g as (
    select h.*, (row_number() over (partition by h.entered order by h.id) - 1) / ${TRANSITIONS_PER_MESSAGE} as part
    from hist h
  ),
  ob as (
    insert into bus_outbox (topic, msg_id, msg_key, payload, created_at)
    select case when entered then ${p.entered} else ${p.exited} end, 'list:' || min(id), null,
      ${payload}::text, ${p.createdAt}
    from g group by entered, part
    returning seq, msg_id
  )`;
}

/** outboxOf with whole transitions as elements (`p.atText`: the time as text). */
function outboxOfHistory(p: { entered: string; exited: string; atText: string; createdAt: string }): string {
  return outboxOf(
    p,
    `json_build_object('transitions', json_agg(json_build_object('id', id, 'listId', list_id,
        'contactId', contact_id, 'at', ${p.atText}::text,
        'cause', json_build_object('kind', cause_kind, 'id', cause_id)) order by id))`,
  );
}

/**
 * outboxOf for a rebuild chunk: each message carries the list, time and cause once (`p.listId`,
 * `p.atText`, `p.causeId`; kind `rebuild`) and its elements only id and contact, the payload
 * rebuildMessages builds (decision 0038).
 */
function compactOutboxOfHistory(p: {
  entered: string;
  exited: string;
  listId: string;
  atText: string;
  causeId: string;
  createdAt: string;
}): string {
  return outboxOf(
    p,
    `json_build_object('listId', ${p.listId}::text, 'at', ${p.atText}::text,
        'cause', json_build_object('kind', 'rebuild', 'id', ${p.causeId}::text),
        'transitions', json_agg(json_build_object('id', id, 'contactId', contact_id) order by id))`,
  );
}

/** The outbox rows a transitions statement wrote: message id → outbox seq. */
export type OutboxSeqs = ReadonlyMap<string, number>;

function outboxSeqs(row: { msg_ids: string[] | null; seqs: (number | string)[] | null } | undefined): OutboxSeqs {
  const ids = row?.msg_ids ?? [];
  const seqs = row?.seqs ?? [];
  return new Map(ids.map((id, i) => [id, Number(seqs[i])]));
}

// one statement: members added (each carrying its entry) and removed (each closing its episode),
// and their events' outbox rows (payload built here, not sent as parameters); transition ids are
// taken in input order, so they ascend with it. An exit deletes the row version the evaluation read
// (a TID scan: no probe of the key's index, whose pages a batch's scattered exits mostly miss);
// one whose row is unknown or is no longer there is deleted by key.
function writeTransitionsSql(outbox: boolean): string {
  return `
  with t as materialized (
    select t.*, nextval('list_transition_ids') as id
    from unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[], $6::tid[])
      with ordinality as t(list_id, contact_id, entered, cause_kind, cause_id, row, n)
  ),
  ins as (
    insert into list_members (list_id, contact_id, entered_at, entry_id, cause_kind, cause_id)
    select list_id, contact_id, $7, id, cause_kind, cause_id from t where entered on conflict do nothing
  ),
  del_read as (
    delete from list_members m using t
    where not t.entered and t.row is not null and m.ctid = t.row
      and m.list_id = t.list_id and m.contact_id = t.contact_id
    returning m.list_id, m.contact_id, m.entry_id, m.entered_at, m.cause_kind, m.cause_id,
      t.id as exit_id, t.cause_kind as exit_kind, t.cause_id as exit_cause, t.n
  ),
  del_key as (
    delete from list_members m using t
    where not t.entered and t.n not in (select n from del_read)
      and m.list_id = t.list_id and m.contact_id = t.contact_id
    returning m.list_id, m.contact_id, m.entry_id, m.entered_at, m.cause_kind, m.cause_id,
      t.id as exit_id, t.cause_kind as exit_kind, t.cause_id as exit_cause
  ),
  ep as (
    insert into list_episodes
    select list_id, contact_id, entry_id, entered_at, cause_kind, cause_id, exit_id, $7, exit_kind, exit_cause
    from (
      select list_id, contact_id, entry_id, entered_at, cause_kind, cause_id, exit_id, exit_kind, exit_cause
      from del_read
      union all select * from del_key
    ) del
  ),
  hist as (select id, list_id, contact_id, entered, cause_kind, cause_id from t)${
    outbox ? `,${outboxOfHistory({ entered: '$9', exited: '$10', atText: '$8', createdAt: '$7' })}` : ''
  }
  select (select array_agg(id order by n) from t) as ids,
    ${outbox ? '(select array_agg(msg_id) from ob)' : 'null::text[]'} as msg_ids,
    ${outbox ? '(select array_agg(seq) from ob)' : 'null::int8[]'} as seqs`;
}
const WRITE_TRANSITIONS = writeTransitionsSql(true);
const WRITE_TRANSITIONS_NO_OUTBOX = writeTransitionsSql(false);

/**
 * Writes transitions (the caller checked each is real under the profile lock) with the outbox
 * rows of their messages (`outbox` false: none, the caller publishes them in its transaction);
 * returns each one's history id, in input order, and the outbox seqs.
 */
export async function writeTransitions(
  db: Queryable,
  ts: readonly Transition[],
  at: Date,
  topics: { entered: string; exited: string },
  outbox = true,
): Promise<{ ids: number[]; outbox: OutboxSeqs }> {
  if (ts.length === 0) return { ids: [], outbox: new Map() };
  const { rows } = await db.query<{ ids: (number | string)[] | null; msg_ids: string[] | null; seqs: number[] | null }>(
    outbox ? WRITE_TRANSITIONS : WRITE_TRANSITIONS_NO_OUTBOX,
    [
      ts.map((t) => t.listId),
      ts.map((t) => t.contactId),
      ts.map((t) => t.entered),
      ts.map((t) => t.causeKind),
      ts.map((t) => t.causeId),
      ts.map((t) => t.row ?? null),
      at,
      ...(outbox ? [at.toISOString(), topics.entered, topics.exited] : []),
    ],
  );
  return { ids: (rows[0]?.ids ?? []).map(Number), outbox: outboxSeqs(rows[0]) };
}

/** Sets (due not null) or clears (null) the re-check timer of each (list, contact). */
export async function writeTimers(
  db: Queryable,
  timers: readonly { listId: string; contactId: string; dueAt: Date | null }[],
): Promise<void> {
  const set = timers.filter((t) => t.dueAt !== null);
  const clear = timers.filter((t) => t.dueAt === null);
  if (set.length > 0) {
    await db.query(
      `insert into list_timers (list_id, contact_id, due_at)
       select * from unnest($1::text[], $2::text[], $3::timestamptz[])
       on conflict (list_id, contact_id) do update set due_at = excluded.due_at`,
      [set.map((t) => t.listId), set.map((t) => t.contactId), set.map((t) => t.dueAt)],
    );
  }
  if (clear.length > 0) {
    await db.query(
      `delete from list_timers t using unnest($1::text[], $2::text[]) as x(list_id, contact_id)
       where t.list_id = x.list_id and t.contact_id = x.contact_id`,
      [clear.map((t) => t.listId), clear.map((t) => t.contactId)],
    );
  }
}

/** Takes up to `limit` due timers (removing them; the evaluation sets the next ones). */
export async function takeDueTimers(
  db: Queryable,
  now: Date,
  limit: number,
): Promise<{ listId: string; contactId: string }[]> {
  const { rows } = await db.query<{ list_id: string; contact_id: string }>(
    `delete from list_timers where (list_id, contact_id) in (
       select list_id, contact_id from list_timers where due_at <= $1 order by due_at limit $2 for update skip locked)
     returning list_id, contact_id`,
    [now, limit],
  );
  return rows.map((r) => ({ listId: r.list_id, contactId: r.contact_id }));
}

export async function isMember(db: Queryable, listId: string, contactId: string): Promise<boolean> {
  const { rows } = await db.query(`select 1 from list_members where list_id = $1 and contact_id = $2`, [
    listId,
    contactId,
  ]);
  return rows.length === 1;
}

export async function memberPage(
  db: Queryable,
  listId: string,
  after: string | null,
  limit: number,
): Promise<{ contactId: string; enteredAt: Date }[]> {
  const { rows } = await db.query<{ contact_id: string; entered_at: Date }>(
    `select contact_id, entered_at from list_members where list_id = $1 and ($2::text is null or contact_id > $2)
     order by contact_id limit $3`,
    [listId, after, limit],
  );
  return rows.map((r) => ({ contactId: r.contact_id, enteredAt: r.entered_at }));
}

export async function memberCount(db: Queryable, listId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int8 as n from list_members where list_id = $1`, [
    listId,
  ]);
  return Number(rows[0]?.n ?? 0);
}

export interface HistoryRow {
  id: number;
  listId: string;
  contactId: string;
  entered: boolean;
  at: Date;
  cause: { kind: string; id: string };
}

export async function history(
  db: Queryable,
  filter: { listId?: string; contactId?: string },
  limit: number,
): Promise<HistoryRow[]> {
  const { rows } = await db.query<{
    id: number;
    list_id: string;
    contact_id: string;
    entered: boolean;
    at: Date;
    cause_kind: string;
    cause_id: string;
  }>(
    `select * from list_history where ($1::text is null or list_id = $1) and ($2::text is null or contact_id = $2)
     order by id desc limit $3`,
    [filter.listId ?? null, filter.contactId ?? null, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    listId: r.list_id,
    contactId: r.contact_id,
    entered: r.entered,
    at: r.at,
    cause: { kind: r.cause_kind, id: r.cause_id },
  }));
}

/** Rough number of profiles for a progress bar (the planner's estimate, else a count). */
export async function profileEstimate(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select coalesce((select reltuples from pg_class where oid = 'contact_profiles'::regclass), -1)::float8 as n`,
  );
  const n = Number(rows[0]?.n ?? -1);
  if (n >= 0) return Math.round(n);
  const c = await db.query<{ n: number }>(`select count(*)::int8 as n from contact_profiles`);
  return Number(c.rows[0]?.n ?? 0);
}

/** The upper contact id of the next rebuild chunk after `after` (null: the rest fits in one chunk). */
export async function chunkUpperBound(db: Queryable, after: string, size: number): Promise<string | null> {
  const { rows } = await db.query<{ contact_id: string }>(
    `select contact_id from contact_profiles where contact_id > $1 order by contact_id offset $2 limit 1`,
    [after, size - 1],
  );
  return rows[0]?.contact_id ?? null;
}

/**
 * Upper contact ids of rebuild chunks of about `size` profiles, ascending, read from the planner's
 * histogram of the profiles' key (none without statistics): one catalogue read instead of an
 * index walk of `size` keys per chunk (a third of a full evaluation's statements at 1M). The
 * histogram is of a sample at the last analyse, so chunks are only about `size`; the range past its
 * last bound (profiles added since) is cut by chunkUpperBound.
 */
export async function chunkBoundsFromStatistics(db: Queryable, size: number): Promise<string[]> {
  const { rows } = await db.query<{ b: string[] | null; n: number }>(
    `select s.histogram_bounds::text::text[] as b, c.reltuples::float8 as n
     from pg_class c join pg_namespace ns on ns.oid = c.relnamespace
     join pg_stats s on s.schemaname = ns.nspname and s.tablename = c.relname and s.attname = 'contact_id'
     where c.oid = 'contact_profiles'::regclass`,
  );
  const b = rows[0]?.b ?? [];
  const n = Number(rows[0]?.n ?? 0);
  if (b.length < 2 || !(n > 0)) return [];
  const step = Math.max(1, Math.round(size / (n / (b.length - 1))));
  const out: string[] = [];
  for (let i = step; i < b.length; i += step) {
    const x = b[i] as string;
    if (out.length === 0 || x > (out[out.length - 1] as string)) out.push(x);
  }
  const last = b[b.length - 1] as string;
  if (out[out.length - 1] !== last) out.push(last);
  return out;
}

/** Contact ids of a chunk (the time-relative rebuild evaluates them in memory). */
export async function chunkIds(db: Queryable, after: string, upper: string | null): Promise<string[]> {
  const { rows } = await db.query<{ contact_id: string }>(
    `select contact_id from contact_profiles where contact_id > $1 and ($2::text is null or contact_id <= $2)
     order by contact_id`,
    [after, upper],
  );
  return rows.map((r) => r.contact_id);
}

// a rebuild chunk's outbox rows: parameters as rebuildChunk passes them
const REBUILD_OUTBOX = compactOutboxOfHistory({
  entered: '$7',
  exited: '$8',
  listId: '$1',
  atText: '$6',
  causeId: '$5',
  createdAt: '$4',
});

/**
 * One rebuild chunk evaluated in SQL, in one statement: the contacts of (after, upper] the
 * predicate takes and the list's members there are compared with a full join (a hash or merge
 * join of two sets, not a membership probe per profile); the differences enter or exit, with their
 * history rows and their messages' outbox rows, the payload built here rather than sent back and
 * forth. Returns the transitions in history id order (entries, then exits) and the outbox seqs.
 * The exits are deleted by key (`= any(array)`) and take their ids as they are deleted, with no join
 * of the deleted rows to the differences: while the list's statistics say it is empty (a new list,
 * an analysed table), a join was planned as a nested loop over every member per difference.
 * `predicate` is compiled SQL whose parameters start at $9 (with outbox rows; else at $6). The
 * bounds are parameters, not a subquery: the planner then knows the chunk is a small range of the
 * profiles' key.
 */
export async function rebuildChunk(
  db: Queryable,
  c: {
    listId: string;
    after: string;
    upper: string | null;
    at: Date;
    rebuildId: string;
    topics: { entered: string; exited: string };
    /** False: no outbox rows (the caller publishes the messages in the chunk's transaction). */
    outbox: boolean;
  },
  predicate: { sql: string; params: readonly unknown[] },
): Promise<{ transitions: { id: number; contactId: string; entered: boolean }[]; outbox: OutboxSeqs }> {
  const { rows } = await db.query<{
    entry_ids: number[] | null;
    entry_contacts: string[] | null;
    exit_ids: number[] | null;
    exit_contacts: string[] | null;
    msg_ids: string[] | null;
    seqs: number[] | null;
  }>(
    `with w as (
       select p.contact_id from contact_profiles p
       where p.contact_id > $2 and ($3::text is null or p.contact_id <= $3) and ${predicate.sql}
     ),
     h as (
       select m.contact_id from list_members m
       where m.list_id = $1 and m.contact_id > $2 and ($3::text is null or m.contact_id <= $3)
     ),
     t as (
       select coalesce(w.contact_id, h.contact_id) as contact_id, w.contact_id is not null as want
       from w full join h on h.contact_id = w.contact_id
       where w.contact_id is null or h.contact_id is null
     ),
     tn as materialized (
       select s.contact_id, s.want, case when s.want then nextval('list_transition_ids') end as id
       from (select * from t order by contact_id) s
     ),
     ins as (
       insert into list_members (list_id, contact_id, entered_at, entry_id, cause_kind, cause_id)
       select $1, contact_id, $4, id, 'rebuild', $5 from tn where want
     ),
     del as (
       delete from list_members m
       where m.list_id = $1 and m.contact_id > $2 and ($3::text is null or m.contact_id <= $3)
         and m.contact_id = any(array(select contact_id from tn where not want))
       returning m.contact_id, m.entry_id, m.entered_at, m.cause_kind, m.cause_id,
         nextval('list_transition_ids') as exit_id
     ),
     ep as (
       insert into list_episodes
       select $1, contact_id, entry_id, entered_at, cause_kind, cause_id, exit_id, $4, 'rebuild', $5 from del
     ),
     hist as (
       select id, $1::text as list_id, contact_id, true as entered, 'rebuild'::text as cause_kind, $5::text as cause_id
       from tn where want
       union all
       select exit_id, $1::text, contact_id, false, 'rebuild'::text, $5::text from del
     )${c.outbox ? `,${REBUILD_OUTBOX}` : ''}
     -- entries and exits as JSON arrays, which the client parses natively: node-postgres parses an
     -- array column element by element in JavaScript (a third of the rebuild's main-thread time)
     select e.ids as entry_ids, e.contacts as entry_contacts, x.ids as exit_ids, x.contacts as exit_contacts,
       ${c.outbox ? '(select array_agg(msg_id) from ob)' : 'null::text[]'} as msg_ids,
       ${c.outbox ? '(select array_agg(seq) from ob)' : 'null::int8[]'} as seqs
     from (select json_agg(id) as ids, json_agg(contact_id) as contacts from tn where want) e,
       (select json_agg(exit_id) as ids, json_agg(contact_id) as contacts from del) x`,
    [
      c.listId,
      c.after,
      c.upper,
      c.at,
      c.rebuildId,
      ...(c.outbox ? [c.at.toISOString(), c.topics.entered, c.topics.exited] : []),
      ...predicate.params,
    ],
  );
  const r = rows[0];
  const transitions: { id: number; contactId: string; entered: boolean }[] = [];
  for (const [ids, contacts, entered] of [
    [r?.entry_ids, r?.entry_contacts, true],
    [r?.exit_ids, r?.exit_contacts, false],
  ] as const) {
    if (ids == null || contacts == null) continue;
    for (let i = 0; i < ids.length; i++)
      transitions.push({ id: ids[i] as number, contactId: contacts[i] as string, entered });
  }
  // sorted here rather than by ordered aggregates in the statement (a sort each): each kind is
  // numbered as it is written and entries before exits, so this is one pass
  if (transitions.some((t, i) => i > 0 && t.id < (transitions[i - 1] as { id: number }).id))
    transitions.sort((a, b) => a.id - b.id);
  return { transitions, outbox: outboxSeqs(r) };
}

/** Adds a finished chunk to a running rebuild's progress (chunks of two lanes finish in either order). */
export async function addRebuildProgress(db: Queryable, id: string, done: number, changed: number): Promise<void> {
  await db.query(
    `update lists set rebuild_done = rebuild_done + $2, rebuild_changed = rebuild_changed + $3 where id = $1`,
    [id, done, changed],
  );
}

export async function setRebuildState(
  db: Queryable,
  id: string,
  s: { state: string; done: number; total: number; changed: number; at: Date; error?: string | null; start?: boolean },
): Promise<void> {
  await db.query(
    `update lists set rebuild_state = $2, rebuild_done = $3, rebuild_total = $4, rebuild_changed = $5,
       rebuild_started_at = case when $7 then $6 else rebuild_started_at end,
       rebuild_finished_at = case when $2 = 'running' then null else $6 end, rebuild_error = $8
     where id = $1`,
    [id, s.state, s.done, s.total, s.changed, s.at, s.start === true, s.error ?? null],
  );
}

/** Preview of a definition: how many profiles match and a sample (contact order). */
export async function previewCount(
  db: Queryable,
  predicate: { sql: string; params: readonly unknown[] },
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int8 as n from contact_profiles p where ${predicate.sql}`,
    predicate.params,
  );
  return Number(rows[0]?.n ?? 0);
}
export async function previewSample(
  db: Queryable,
  predicate: { sql: string; params: readonly unknown[] },
  limit: number,
): Promise<{ contactId: string; email: string | null }[]> {
  const { rows } = await db.query<{ contact_id: string; email: string | null }>(
    `select p.contact_id, p.email from contact_profiles p where ${predicate.sql}
     order by p.contact_id limit ${Number(limit)}`,
    predicate.params,
  );
  return rows.map((r) => ({ contactId: r.contact_id, email: r.email }));
}
