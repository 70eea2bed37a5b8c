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

-- One row per contact entry. The timer is the row itself: `due_at` of an active run is when the
-- dispatcher next advances it (taken set-wise by due time, never one timeout per contact).
-- `lease_until`/`lease_owner` fence a dispatcher's claim: its writes apply only while it holds it.
create table journey_runs (
  id          text collate "C" primary key,   -- <journey>:<contact>:<entry>
  journey_id  text collate "C" not null,
  version     integer not null,
  contact_id  text collate "C" not null,
  entry       integer not null,
  status      text not null check (status in ('active', 'completed', 'goal', 'exited')),
  step_id     text,                           -- the step due next (active runs)
  due_at      timestamptz,
  lease_until timestamptz,
  lease_owner text,
  contact     jsonb not null,                 -- email, timezone and attributes given at entry
  trigger     jsonb not null,                 -- what made it enter (list, event, date, api)
  end_reason  text,
  started_at  timestamptz not null,
  ended_at    timestamptz,
  updated_at  timestamptz not null
);
-- the dispatcher's scan: due active runs in due order
create index journey_runs_due on journey_runs (due_at) where status = 'active';
create index journey_runs_contact on journey_runs (contact_id, started_at);
create index journey_runs_journey on journey_runs (journey_id, status);

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
