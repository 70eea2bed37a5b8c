-- Data-subject requests (law.md §11). One row per request, one step per connected system, every
-- change appended to dsr_events (who, what, when, system, result). The subject's identities live
-- in dsr_subjects only while the request needs them: erasure deletes that row when it completes,
-- so what stays is the keyed hash of the normalised address.
create table dsr_requests (
  id                 text collate "C" primary key,
  external_id        text collate "C",
  type               text not null,
  subject_hash       text collate "C" not null,
  jurisdiction       text not null,
  channel            text not null,
  status             text not null,
  received_at        timestamptz not null,
  due_at             timestamptz not null,
  extended_due_at    timestamptz,
  escalate_at        timestamptz not null,
  deadline_rule      text not null,
  verify_expires_at  timestamptz,
  verified_at        timestamptz,
  completed_at       timestamptz,
  result             text,
  reason             text,
  callback_url       text,
  joined_count       integer not null default 0,
  created_at         timestamptz not null default now()
);
create unique index dsr_requests_external on dsr_requests (external_id) where external_id is not null;
-- a duplicate (same subject and type while one is open) joins the open one: enforced here
create unique index dsr_requests_open on dsr_requests (subject_hash, type)
  where status in ('pending_verification', 'in_progress');
create index dsr_requests_status on dsr_requests (status, escalate_at);

create table dsr_subjects (
  request_id text collate "C" primary key references dsr_requests (id),
  identities jsonb not null
);

create table dsr_steps (
  request_id      text collate "C" not null references dsr_requests (id),
  system          text collate "C" not null,
  status          text not null,
  attempts        integer not null default 0,
  next_attempt_at timestamptz,
  lease_until     timestamptz,
  evidence        jsonb,
  last_error      text,
  updated_at      timestamptz not null,
  primary key (request_id, system)
);
-- the runner's claim: due steps of running requests
create index dsr_steps_due on dsr_steps (next_attempt_at) where status in ('pending', 'retry');

create table dsr_events (
  id         bigserial primary key,
  request_id text collate "C" not null,
  at         timestamptz not null,
  system     text,
  event      text not null,
  detail     jsonb not null default '{}'
);
create index dsr_events_request on dsr_events (request_id, id);

-- The exceptions queue: the only thing a person looks at.
create table dsr_exceptions (
  id          bigserial primary key,
  request_id  text collate "C" not null references dsr_requests (id),
  system      text collate "C" not null default '',
  kind        text not null,
  reason      text not null,
  opened_at   timestamptz not null,
  resolved_at timestamptz,
  resolved_by text,
  note        text
);
create unique index dsr_exceptions_open on dsr_exceptions (request_id, system, kind) where resolved_at is null;

-- Access/portability bundles (JSON and HTML), downloadable by a signed, expiring link.
create table dsr_bundles (
  request_id text collate "C" primary key references dsr_requests (id),
  json       jsonb not null,
  html       text not null,
  created_at timestamptz not null,
  expires_at timestamptz not null
);

-- Legal holds: a subject under hold is not erased (its steps go to the exceptions queue instead).
create table dsr_legal_holds (
  subject_hash text collate "C" primary key,
  reason       text not null,
  placed_at    timestamptz not null
);

-- Status callbacks still to deliver (signed); retried with backoff by the runner.
create table dsr_callbacks (
  id            bigserial primary key,
  request_id    text collate "C" not null,
  url           text not null,
  body          jsonb not null,
  attempts      integer not null default 0,
  next_attempt_at timestamptz not null,
  delivered_at  timestamptz,
  last_error    text
);
create index dsr_callbacks_due on dsr_callbacks (next_attempt_at) where delivered_at is null;
