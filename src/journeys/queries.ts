/**
 * SQL of the journeys service (migration 0026). Private to src/journeys/. Row sets go in as
 * parallel arrays (`unnest`), one statement per set: a dispatcher pass of thousands of runs is a
 * handful of statements, never one per run.
 */
import type { JourneyDefinition, RunStatus } from '../core/journeys/types.ts';
import type { Queryable } from '../store/port.ts';

export interface JourneyRow {
  id: string;
  name: string;
  status: 'active' | 'paused' | 'archived';
  currentVersion: number;
  triggerType: string;
  triggerKey: string | null;
  createdAt: Date;
  updatedAt: Date;
}

interface JourneyDbRow {
  id: string;
  name: string;
  status: JourneyRow['status'];
  current_version: number;
  trigger_type: string;
  trigger_key: string | null;
  created_at: Date;
  updated_at: Date;
}

function toJourney(r: JourneyDbRow): JourneyRow {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    currentVersion: r.current_version,
    triggerType: r.trigger_type,
    triggerKey: r.trigger_key,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function triggerKeyOf(def: JourneyDefinition): string | null {
  const t = def.trigger;
  switch (t.type) {
    case 'list':
      return t.list;
    case 'event':
      return t.tag ?? null;
    case 'date':
      return t.attribute;
    case 'manual':
      return null;
  }
}

/** Saves a new version and points the journey at it (creating the journey at version 1). */
export async function saveVersion(tx: Queryable, id: string, def: JourneyDefinition, at: Date): Promise<number> {
  const { rows } = await tx.query<{ version: number }>(
    `insert into journeys as j (id, name, status, current_version, trigger_type, trigger_key, created_at, updated_at)
     values ($1, $2, 'active', 1, $3, $4, $5, $5)
     on conflict (id) do update set name = excluded.name, current_version = j.current_version + 1,
       trigger_type = excluded.trigger_type, trigger_key = excluded.trigger_key, updated_at = excluded.updated_at
     returning current_version as version`,
    [id, def.name, def.trigger.type, triggerKeyOf(def), at],
  );
  const version = rows[0]!.version;
  await tx.query('insert into journey_versions (journey_id, version, definition, created_at) values ($1, $2, $3, $4)', [
    id,
    version,
    JSON.stringify(def),
    at,
  ]);
  return version;
}

export async function getJourney(db: Queryable, id: string): Promise<JourneyRow | null> {
  const { rows } = await db.query<JourneyDbRow>('select * from journeys where id = $1', [id]);
  return rows[0] === undefined ? null : toJourney(rows[0]);
}

export async function listJourneys(db: Queryable): Promise<JourneyRow[]> {
  const { rows } = await db.query<JourneyDbRow>('select * from journeys order by id');
  return rows.map(toJourney);
}

export async function setStatus(db: Queryable, id: string, status: JourneyRow['status'], at: Date): Promise<boolean> {
  const { rowCount } = await db.query('update journeys set status = $2, updated_at = $3 where id = $1', [
    id,
    status,
    at,
  ]);
  return rowCount === 1;
}

export async function getVersion(db: Queryable, id: string, version: number): Promise<JourneyDefinition | null> {
  const { rows } = await db.query<{ definition: JourneyDefinition }>(
    'select definition from journey_versions where journey_id = $1 and version = $2',
    [id, version],
  );
  return rows[0]?.definition ?? null;
}

/** Active journeys listening on a trigger type (and key, when given), with their current version. */
export async function journeysTriggeredBy(
  db: Queryable,
  type: string,
): Promise<{ id: string; version: number; key: string | null }[]> {
  const { rows } = await db.query<{ id: string; version: number; key: string | null }>(
    `select id, current_version as version, trigger_key as key from journeys
      where status = 'active' and trigger_type = $1`,
    [type],
  );
  return rows;
}

/** Every active journey's current version (goal events are matched against these). */
export async function activeJourneys(db: Queryable): Promise<{ id: string; version: number }[]> {
  const { rows } = await db.query<{ id: string; version: number }>(
    `select id, current_version as version from journeys where status = 'active'`,
  );
  return rows;
}

export interface EntryInput {
  contactId: string;
  contact: { email: string | null; timezone?: string; attributes: Record<string, unknown> };
  /** What made it enter; its `key` makes a redelivered trigger enter nobody twice. */
  trigger: { key: string; [k: string]: unknown };
}

// One statement: re-entry rules decide in the upsert of journey_entries (a contact enters when it
// has no row yet, or its rule allows another entry and the trigger is not the one it last entered
// by); each entered contact gets its run, due now at the start step.
const ENTER = `
  with input as (
    select * from unnest($5::text[], $6::text[], $7::text[], $8::text[]) as x(contact_id, contact, trig, trig_key)
  ), entered as (
    insert into journey_entries as e (journey_id, contact_id, entries, active, last_entered_at, last_trigger)
    select $1, i.contact_id, 1, true, $3, i.trig_key from input i
    on conflict (journey_id, contact_id) do update
      set entries = e.entries + 1, active = true, last_entered_at = excluded.last_entered_at,
        last_trigger = excluded.last_trigger
      where e.last_trigger <> excluded.last_trigger and not e.active
        and ($9::text = 'after-exit'
          or ($9::text = 'after' and e.last_entered_at <= $3 - make_interval(days => $10::int)))
    returning e.contact_id, e.entries
  ), runs as (
    insert into journey_runs (id, journey_id, version, contact_id, entry, status, contact, trigger, started_at,
      updated_at)
    select $1 || ':' || n.contact_id || ':' || n.entries, $1, $2, n.contact_id, n.entries, 'active',
      i.contact::jsonb, i.trig::jsonb, $3, $3
    from entered n join input i on i.contact_id = n.contact_id
    on conflict (id) do nothing
    returning id, contact_id
  ), timers as (
    insert into journey_timers (run_id, journey_id, step_id, due_at) select id, $1, $4, $3 from runs
  )
  select contact_id from runs`;

/** Enters contacts (distinct ids) into a journey version; returns the contacts that entered. */
export async function enterRuns(
  db: Queryable,
  journey: { id: string; version: number; start: string; reentry: JourneyDefinition['reentry'] },
  entries: readonly EntryInput[],
  at: Date,
): Promise<string[]> {
  if (entries.length === 0) return [];
  const mode = journey.reentry?.mode ?? 'never';
  const days = journey.reentry?.mode === 'after' ? journey.reentry.days : 0;
  const { rows } = await db.query<{ contact_id: string }>(ENTER, [
    journey.id,
    journey.version,
    at,
    journey.start,
    entries.map((e) => e.contactId),
    entries.map((e) => JSON.stringify(e.contact)),
    entries.map((e) => JSON.stringify(e.trigger)),
    entries.map((e) => e.trigger.key),
    mode,
    days,
  ]);
  return rows.map((r) => r.contact_id);
}

export interface ClaimedRun {
  id: string;
  journeyId: string;
  version: number;
  contactId: string;
  entry: number;
  stepId: string;
  contact: EntryInput['contact'];
}

// Due timers of active journeys in due order, leased to this dispatcher, with their runs. `skip
// locked` lets two dispatchers claim disjoint sets; an expired lease (its dispatcher died) is
// claimable again. The claimed ids come back as an array so that the timers and runs are then read
// by primary key: joined to the subquery instead, the planner (knowing the limit) hashes it against
// a scan of every timer, and a claim grows with all the runs in flight. journeys is tiny.
const CLAIM = `
  update journey_timers t set lease_until = $2, lease_owner = $3
  from journey_runs r
  where t.run_id = any(array(
    select t2.run_id from journey_timers t2 join journeys j on j.id = t2.journey_id and j.status = 'active'
    where t2.due_at <= $1 and (t2.lease_until is null or t2.lease_until <= $1)
    order by t2.due_at limit $4 for update of t2 skip locked
  )) and r.id = t.run_id
  returning r.id, r.journey_id, r.version, r.contact_id, r.entry, t.step_id, r.contact`;

export async function claimDue(
  db: Queryable,
  now: Date,
  leaseUntil: Date,
  owner: string,
  limit: number,
): Promise<ClaimedRun[]> {
  const { rows } = await db.query<{
    id: string;
    journey_id: string;
    version: number;
    contact_id: string;
    entry: number;
    step_id: string;
    contact: EntryInput['contact'];
  }>(CLAIM, [now, leaseUntil, owner, limit]);
  return rows.map((r) => ({
    id: r.id,
    journeyId: r.journey_id,
    version: r.version,
    contactId: r.contact_id,
    entry: r.entry,
    stepId: r.step_id,
    contact: r.contact,
  }));
}

export interface RunUpdate {
  id: string;
  status: RunStatus;
  stepId: string | null;
  dueAt: Date | null;
  endReason: string | null;
}

// Runs still active: their timer moves to the next step and due time.
const MOVE_TIMERS = `
  update journey_timers t set step_id = x.step_id, due_at = x.due_at::timestamptz, lease_until = null,
    lease_owner = null
  from unnest($2::text[], $3::text[], $4::text[]) as x(id, step_id, due_at)
  where t.run_id = x.id and t.lease_owner = $1`;
// Runs that ended, in one statement: the timers this owner leases go, their runs record how they
// ended, and their entries are freed for re-entry (rules permitting).
const END_RUNS = `
  with x as (
    select * from unnest($2::text[], $3::text[], $4::text[]) as x(id, status, end_reason)
  ), gone as (
    delete from journey_timers t using x where t.run_id = x.id and t.lease_owner = $1 returning t.run_id
  ), ended as (
    update journey_runs r set status = x.status, end_reason = x.end_reason, ended_at = $5, updated_at = $5
    from x join gone g on g.run_id = x.id
    where r.id = x.id and r.status = 'active'
    returning r.journey_id, r.contact_id, r.entry
  ), released as (
    update journey_entries e set active = false from ended n
    where e.journey_id = n.journey_id and e.contact_id = n.contact_id and e.entries = n.entry
  )
  select count(*)::int as held from gone`;

/**
 * Writes the runs' new state; only runs whose timer this owner still leases change (the runs of
 * ended timers it deleted, whose entries are released too). Returns how many timers it held;
 * fewer than given means a lease was lost.
 */
export async function updateRuns(tx: Queryable, owner: string, runs: readonly RunUpdate[], at: Date): Promise<number> {
  const moving = runs.filter((r) => r.status === 'active');
  const ending = runs.filter((r) => r.status !== 'active');
  let held = 0;
  if (moving.length > 0) {
    const { rowCount } = await tx.query(MOVE_TIMERS, [
      owner,
      moving.map((r) => r.id),
      moving.map((r) => r.stepId),
      moving.map((r) => r.dueAt?.toISOString() ?? null),
    ]);
    held += rowCount;
  }
  if (ending.length > 0) {
    const { rows } = await tx.query<{ held: number }>(END_RUNS, [
      owner,
      ending.map((r) => r.id),
      ending.map((r) => r.status),
      ending.map((r) => r.endReason),
      at,
    ]);
    held += rows[0]?.held ?? 0;
  }
  return held;
}

/** Ended runs free their contact for re-entry (rules permitting). */
export async function releaseEntries(tx: Queryable, runIds: readonly string[]): Promise<void> {
  if (runIds.length === 0) return;
  await tx.query(
    `update journey_entries e set active = false from journey_runs r
      where r.id = any($1::text[]) and e.journey_id = r.journey_id and e.contact_id = r.contact_id
        and r.entry = e.entries`,
    [runIds],
  );
}

export interface StepRecord {
  runId: string;
  stepId: string;
  type: string;
  outcome: string;
  streamId: string | null;
}

/** The history rows of a pass; (run, step) is unique, so a replayed step records nothing twice. */
export async function recordSteps(tx: Queryable, steps: readonly StepRecord[], at: Date): Promise<void> {
  if (steps.length === 0) return;
  await tx.query(
    `insert into journey_steps (run_id, step_id, type, outcome, stream_id, at)
     select x.run_id, x.step_id, x.type, x.outcome, x.stream_id, $1
     from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) with ordinality
       as x(run_id, step_id, type, outcome, stream_id, n)
     order by x.n
     on conflict (run_id, step_id) do nothing`,
    [
      at,
      steps.map((s) => s.runId),
      steps.map((s) => s.stepId),
      steps.map((s) => s.type),
      steps.map((s) => s.outcome),
      steps.map((s) => s.streamId),
    ],
  );
}

/** Puts runs back, due later, without moving them (an effect failed; the pass is retried then). */
export async function postponeRuns(db: Queryable, owner: string, ids: readonly string[], dueAt: Date): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `update journey_timers set due_at = $3, lease_until = null, lease_owner = null
      where run_id = any($2::text[]) and lease_owner = $1`,
    [owner, ids, dueAt],
  );
}

/** Opens and clicks (human) on the messages of these runs' earlier email steps. */
export async function engagementOf(
  db: Queryable,
  runIds: readonly string[],
): Promise<{ runId: string; stepId: string; type: 'opened' | 'clicked' }[]> {
  if (runIds.length === 0) return [];
  const { rows } = await db.query<{ run_id: string; step_id: string; type: 'opened' | 'clicked' }>(
    `select distinct s.run_id, s.step_id, e.type
       from journey_steps s
       join journey_runs r on r.id = s.run_id
       join engagement_events e on e.campaign_id = s.stream_id and e.contact_id = r.contact_id
      where s.run_id = any($1::text[]) and s.stream_id is not null and not e.is_machine
        and e.type in ('opened', 'clicked')`,
    [runIds],
  );
  return rows.map((r) => ({ runId: r.run_id, stepId: r.step_id, type: r.type }));
}

/** Ends the active runs of these (journey, contact) pairs as goal reached. Returns the run ids. */
export async function endRunsAsGoal(
  tx: Queryable,
  pairs: readonly { journeyId: string; contactId: string; goal: string }[],
  at: Date,
): Promise<string[]> {
  if (pairs.length === 0) return [];
  const { rows } = await tx.query<{ id: string }>(
    `with ended as (
       update journey_runs r set status = 'goal', end_reason = 'goal ' || x.goal, ended_at = $1, updated_at = $1
       from unnest($2::text[], $3::text[], $4::text[]) as x(journey_id, contact_id, goal)
       where r.journey_id = x.journey_id and r.contact_id = x.contact_id and r.status = 'active'
       returning r.id
     ), timers as (delete from journey_timers where run_id in (select id from ended))
     select id from ended`,
    [at, pairs.map((p) => p.journeyId), pairs.map((p) => p.contactId), pairs.map((p) => p.goal)],
  );
  return rows.map((r) => r.id);
}

/** Moves a journey's active runs from one version to another (explicit migration); returns how many moved. */
export async function moveRuns(
  db: Queryable,
  journeyId: string,
  from: number,
  to: number,
  stepIds: readonly string[],
  at: Date,
): Promise<{ moved: number; stayed: number }> {
  // a run whose current step does not exist in the target version stays where it is
  const { rowCount } = await db.query(
    `update journey_runs r set version = $3, updated_at = $4 from journey_timers t
      where r.journey_id = $1 and r.version = $2 and r.status = 'active' and t.run_id = r.id
        and t.step_id = any($5::text[])`,
    [journeyId, from, to, at, stepIds],
  );
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from journey_runs where journey_id = $1 and version = $2 and status = 'active'`,
    [journeyId, from],
  );
  return { moved: rowCount, stayed: rows[0]!.n };
}

export interface RunRow {
  id: string;
  journeyId: string;
  version: number;
  contactId: string;
  entry: number;
  status: RunStatus;
  stepId: string | null;
  dueAt: Date | null;
  trigger: Record<string, unknown>;
  endReason: string | null;
  startedAt: Date;
  endedAt: Date | null;
}

export interface HistoryRow {
  runId: string;
  stepId: string;
  type: string;
  outcome: string;
  streamId: string | null;
  at: Date;
}

/** A contact's runs (newest first) and their history rows in order. */
export async function runsOfContact(
  db: Queryable,
  contactId: string,
  limit: number,
): Promise<{ runs: RunRow[]; steps: HistoryRow[] }> {
  const { rows } = await db.query<{
    id: string;
    journey_id: string;
    version: number;
    contact_id: string;
    entry: number;
    status: RunStatus;
    step_id: string | null;
    due_at: Date | null;
    trigger: Record<string, unknown>;
    end_reason: string | null;
    started_at: Date;
    ended_at: Date | null;
  }>(
    `select r.id, r.journey_id, r.version, r.contact_id, r.entry, r.status, t.step_id, t.due_at, r.trigger,
       r.end_reason, r.started_at, r.ended_at
     from journey_runs r left join journey_timers t on t.run_id = r.id
     where r.contact_id = $1 order by r.started_at desc, r.id limit $2`,
    [contactId, limit],
  );
  const runs = rows.map((r) => ({
    id: r.id,
    journeyId: r.journey_id,
    version: r.version,
    contactId: r.contact_id,
    entry: r.entry,
    status: r.status,
    stepId: r.step_id,
    dueAt: r.due_at,
    trigger: r.trigger,
    endReason: r.end_reason,
    startedAt: r.started_at,
    endedAt: r.ended_at,
  }));
  const { rows: steps } = await db.query<{
    run_id: string;
    step_id: string;
    type: string;
    outcome: string;
    stream_id: string | null;
    at: Date;
  }>(
    'select run_id, step_id, type, outcome, stream_id, at from journey_steps where run_id = any($1::text[]) order by n',
    [runs.map((r) => r.id)],
  );
  return {
    runs,
    steps: steps.map((s) => ({
      runId: s.run_id,
      stepId: s.step_id,
      type: s.type,
      outcome: s.outcome,
      streamId: s.stream_id,
      at: s.at,
    })),
  };
}

/** Run counts per status and current step of one journey. */
export async function runCounts(
  db: Queryable,
  journeyId: string,
): Promise<{ version: number; status: string; stepId: string | null; n: number }[]> {
  const { rows } = await db.query<{ version: number; status: string; step_id: string | null; n: number }>(
    `select r.version, r.status, t.step_id, count(*)::int as n
       from journey_runs r left join journey_timers t on t.run_id = r.id
      where r.journey_id = $1 group by 1, 2, 3 order by 1, 2, 3`,
    [journeyId],
  );
  return rows.map((r) => ({ version: r.version, status: r.status, stepId: r.step_id, n: r.n }));
}

/** The latest address the ledger holds per contact (a contact we mailed, e.g. one who clicked). */
export async function ledgerEmails(db: Queryable, contactIds: readonly string[]): Promise<Map<string, string>> {
  if (contactIds.length === 0) return new Map();
  const { rows } = await db.query<{ contact_id: string; email: string }>(
    `select distinct on (contact_id) contact_id, email from send_ledger
      where contact_id = any($1::text[]) order by contact_id, updated_at desc`,
    [contactIds],
  );
  return new Map(rows.map((r) => [r.contact_id, r.email]));
}

/** Claims a date-trigger scan of `day` for a journey; false when that day was scanned already. */
export async function claimDateScan(db: Queryable, journeyId: string, day: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into journey_date_scans as s (journey_id, last_day) values ($1, $2)
     on conflict (journey_id) do update set last_day = excluded.last_day where s.last_day < excluded.last_day`,
    [journeyId, day],
  );
  return rowCount === 1;
}

export interface StoredProfile {
  email: string | null;
  attributes: Record<string, unknown>;
  lastClickByTag: Map<string, number>;
  campaigns: { campaignId: string; sentAt: number; opened: boolean }[];
  lists: Set<string>;
}

// Read-only reads of the lists service's profile tables (no locks: a run only reads them), one
// statement per table for the whole pass.
const PROFILES = `
  select contact_id, email, attributes::text as attributes from contact_profiles where contact_id = any($1::text[])`;
const CLICKS = `
  select contact_id, tag, (extract(epoch from last_at) * 1000)::float8 as at_ms
  from profile_click_tags where contact_id = any($1::text[])`;
const CAMPAIGNS = `
  select c.id as contact_id, r.campaign_id, (extract(epoch from r.sent_at) * 1000)::float8 as sent_ms, r.opened
  from unnest($1::text[]) as c(id)
  cross join lateral (
    select pc.campaign_id, pc.sent_at, pc.opened from profile_campaigns pc
    where pc.contact_id = c.id order by pc.sent_at desc, pc.campaign_id desc limit $2
  ) r`;
const MEMBERSHIPS = 'select list_id, contact_id from list_members where contact_id = any($1::text[])';

/** Stored profiles of these contacts (absent ids have none). */
export async function storedProfiles(
  db: Queryable,
  ids: readonly string[],
  lookback: number,
): Promise<Map<string, StoredProfile>> {
  const out = new Map<string, StoredProfile>();
  if (ids.length === 0) return out;
  const { rows } = await db.query<{ contact_id: string; email: string | null; attributes: string }>(PROFILES, [ids]);
  if (rows.length === 0) return out;
  for (const r of rows)
    out.set(r.contact_id, {
      email: r.email,
      attributes: JSON.parse(r.attributes) as Record<string, unknown>,
      lastClickByTag: new Map(),
      campaigns: [],
      lists: new Set(),
    });
  const known = rows.map((r) => r.contact_id);
  const [clicks, campaigns, members] = await Promise.all([
    db.query<{ contact_id: string; tag: string; at_ms: number }>(CLICKS, [known]),
    db.query<{ contact_id: string; campaign_id: string; sent_ms: number; opened: boolean }>(CAMPAIGNS, [
      known,
      lookback,
    ]),
    db.query<{ list_id: string; contact_id: string }>(MEMBERSHIPS, [known]),
  ]);
  for (const c of clicks.rows) out.get(c.contact_id)?.lastClickByTag.set(c.tag, c.at_ms);
  for (const c of campaigns.rows)
    out.get(c.contact_id)?.campaigns.push({ campaignId: c.campaign_id, sentAt: c.sent_ms, opened: c.opened });
  for (const m of members.rows) out.get(m.contact_id)?.lists.add(m.list_id);
  return out;
}

/**
 * Makes the profile-date index (migration 0044) watch a date attribute, filling it from the stored
 * profiles when the attribute is new. Profile writes wait for the fill (a share lock, once per new
 * attribute), so no change slips between the fill's snapshot and the trigger that takes over.
 */
export async function watchDateAttribute(tx: Queryable, attribute: string): Promise<void> {
  const { rowCount } = await tx.query(
    'insert into journey_date_attributes (attribute) values ($1) on conflict (attribute) do nothing',
    [attribute],
  );
  if (rowCount === 0) return;
  await tx.exec('lock table contact_profiles in share mode');
  await tx.query(
    `insert into journey_profile_dates (attribute, contact_id, value, month_day, timezone)
     select $1, p.contact_id, x.value, (extract(month from x.value) * 100 + extract(day from x.value))::smallint,
       coalesce(nullif(p.attributes ->> 'timezone', ''), nullif(p.attributes ->> 'time_zone', ''))
     from contact_profiles p cross join lateral (select journey_date_of(p.attributes ->> $1) as value) x
     where x.value is not null
     on conflict (attribute, contact_id) do nothing`,
    [attribute],
  );
}

export interface DateCandidate {
  contactId: string;
  value: string;
  timezone: string | null;
}

/** Contacts whose watched date matches one of these month-day keys (yearly) or dates (one-off). */
export async function dateCandidates(
  db: Queryable,
  attribute: string,
  keys: { monthDays: number[] } | { dates: string[] },
): Promise<DateCandidate[]> {
  const { rows } = await db.query<{ contact_id: string; value: string; timezone: string | null }>(
    'monthDays' in keys
      ? `select contact_id, to_char(value, 'YYYY-MM-DD') as value, timezone from journey_profile_dates
          where attribute = $1 and month_day = any($2::smallint[])`
      : `select contact_id, to_char(value, 'YYYY-MM-DD') as value, timezone from journey_profile_dates
          where attribute = $1 and value = any($2::date[])`,
    [attribute, 'monthDays' in keys ? keys.monthDays : keys.dates],
  );
  return rows.map((r) => ({ contactId: r.contact_id, value: r.value, timezone: r.timezone }));
}

/** When a date journey was last scanned (null: never). */
export async function lastDateScan(db: Queryable, journeyId: string): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>(
    'select last_scan_at as at from journey_date_scans where journey_id = $1',
    [journeyId],
  );
  return rows[0]?.at ?? null;
}

export async function recordDateScan(tx: Queryable, journeyId: string, at: Date): Promise<void> {
  await tx.query(
    `insert into journey_date_scans as s (journey_id, last_day, last_scan_at) values ($1, $2, $3)
     on conflict (journey_id) do update set last_day = excluded.last_day, last_scan_at = excluded.last_scan_at
     where s.last_scan_at is null or s.last_scan_at < excluded.last_scan_at`,
    [journeyId, at.toISOString().slice(0, 10), at],
  );
}

/** Records (journey, contact, occurrence) firings; returns only the new ones (a repeat fires nothing). */
export async function recordDateFirings(
  tx: Queryable,
  journeyId: string,
  firings: readonly { contactId: string; occurrence: string }[],
  at: Date,
): Promise<{ contactId: string; occurrence: string }[]> {
  if (firings.length === 0) return [];
  const { rows } = await tx.query<{ contact_id: string; occurrence: string }>(
    `insert into journey_date_fired (journey_id, contact_id, occurrence, fired_at)
     select $1, x.contact_id, x.occurrence, $4 from unnest($2::text[], $3::text[]) as x(contact_id, occurrence)
     on conflict do nothing
     returning contact_id, occurrence`,
    [journeyId, firings.map((f) => f.contactId), firings.map((f) => f.occurrence), at],
  );
  return rows.map((r) => ({ contactId: r.contact_id, occurrence: r.occurrence }));
}

/** The outcome recorded for one step of a run (null: no such history row). */
export async function stepOutcome(db: Queryable, runId: string, stepId: string): Promise<string | null> {
  const { rows } = await db.query<{ outcome: string }>(
    'select outcome from journey_steps where run_id = $1 and step_id = $2',
    [runId, stepId],
  );
  return rows[0]?.outcome ?? null;
}

/** Rewrites the outcome of one step (an effect that completes after the run moved on: CRM updates). */
export async function setStepOutcome(db: Queryable, runId: string, stepId: string, outcome: string): Promise<void> {
  await db.query('update journey_steps set outcome = $3 where run_id = $1 and step_id = $2', [runId, stepId, outcome]);
}
