-- Journeys: versioned definitions, one run per contact entry, the run history, and the entry
-- record per (journey, contact) that re-entry rules read.

-- The journey itself: the version new entries start on, and whether it takes entries.
create table journeys (
  id              text collate "C" primary key,
  name            text not null,
  status          text not null check (status in ('active', 'paused', 'archived')),
  current_version integer not null,
  trigger_type    text not null,            -- list | event | date | manual (of the current version)
  trigger_key     text,                     -- the list id, event tag or date attribute it listens on
  created_at      timestamptz not null,
  updated_at      timestamptz not null
);
create index journeys_trigger on journeys (trigger_type, trigger_key) where status = 'active';

-- Every version ever saved; a running contact stays on the version it entered on.
create table journey_versions (
  journey_id text collate "C" not null,
  version    integer not null,
  definition jsonb not null,
  created_at timestamptz not null,
  primary key (journey_id, version)
);

-- One row per contact entry: who, on which version, why, and how it ended. Written when a run
-- enters and when it ends; the moves in between touch only its timer.
create table journey_runs (
  id          text collate "C" primary key,   -- <journey>:<contact>:<entry>
  journey_id  text collate "C" not null,
  version     integer not null,
  contact_id  text collate "C" not null,
  entry       integer not null,
  status      text not null check (status in ('active', 'completed', 'goal', 'exited')),
  contact     jsonb not null,                 -- email, timezone and attributes given at entry
  trigger     jsonb not null,                 -- what made it enter (list, click, date, api)
  end_reason  text,
  started_at  timestamptz not null,
  ended_at    timestamptz,
  updated_at  timestamptz not null
);
create index journey_runs_contact on journey_runs (contact_id, started_at);
create index journey_runs_journey on journey_runs (journey_id, status);

-- The durable timer of each active run: the step due next and when. The dispatcher takes due
-- timers set-wise in due order under a lease (`lease_until`/`lease_owner` fence its writes: a
-- dispatcher that lost its lease changes nothing), never one timeout per contact. Narrow rows with
-- free space per page, so a claim (lease columns only, not indexed) is a HOT update.
create table journey_timers (
  run_id      text collate "C" primary key,
  journey_id  text collate "C" not null,
  step_id     text not null,
  due_at      timestamptz not null,
  lease_until timestamptz,
  lease_owner text
) with (fillfactor = 60);
create index journey_timers_due on journey_timers (due_at);

-- The run history ("why did I get this email?"): one row per step a run went through. The key
-- (run, step) is each step's idempotency key: a run replayed after a crash writes nothing twice.
create table journey_steps (
  n         bigserial,                        -- order of writing (a run's history reads in this order)
  run_id    text collate "C" not null,
  step_id   text not null,
  type      text not null,
  outcome   text not null,
  stream_id text,                             -- email steps: the message stream (ledger campaign id)
  at        timestamptz not null,
  primary key (run_id, step_id)
);

-- Entries per (journey, contact), for re-entry rules; `last_trigger` makes a redelivered trigger
-- enter nobody twice.
create table journey_entries (
  journey_id      text collate "C" not null,
  contact_id      text collate "C" not null,
  entries         integer not null,
  active          boolean not null,
  last_entered_at timestamptz not null,
  last_trigger    text not null,
  primary key (journey_id, contact_id)
);

-- Date triggers: the last local day each journey was scanned, so a day is entered once.
create table journey_date_scans (
  journey_id text collate "C" primary key,
  last_day   text not null
);
