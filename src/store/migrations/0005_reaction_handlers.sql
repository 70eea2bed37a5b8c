-- Reaction handlers: engagement score and its coalesced CRM outbox, suppression propagation to
-- every connected system, the stand-in warehouse export and compliance log, and the reply
-- review queue. See docs/reactions.md.

-- One row per contact. raw_score is the decayed sum of event weights as of raw_at (the newest
-- event time applied); the 0–100 score is derived from it (src/core/engagement-score.ts).
create table contact_engagement (
  contact_id      text primary key,
  raw_score       double precision not null,
  raw_at          timestamptz not null,
  last_engaged_at timestamptz not null,
  updated_at      timestamptz not null
);

-- Bus message ids of reaction batches already applied to contact_engagement, so a redelivered
-- message never counts twice (written in the same transaction as the scores).
create table engagement_applied_batches (
  message_id text primary key,
  applied_at timestamptz not null
);

-- Scores waiting to be written to the CRM. due_at is fixed by the first pending change, so one
-- contact's changes within the coalescing window go out as one update; revision tells the
-- flusher whether the row changed while its CRM call was in flight.
create table crm_engagement_outbox (
  contact_id      text primary key,
  score           double precision not null,
  last_engaged_at timestamptz not null,
  due_at          timestamptz not null,
  revision        integer not null default 1
);
create index crm_engagement_outbox_due on crm_engagement_outbox (due_at);

-- Per (address, connected system): has the suppression reached it yet?
-- status: pending (will be tried at next_attempt_at) | confirmed | failed (gave up; operator).
create table suppression_propagations (
  email           text not null,
  system          text not null,
  reason          text not null,
  contact_id      text,
  status          text not null default 'pending',
  attempts        integer not null default 0,
  next_attempt_at timestamptz not null,
  last_error      text,
  confirmed_at    timestamptz,
  created_at      timestamptz not null,
  updated_at      timestamptz not null,
  primary key (email, system)
);
-- the propagation loop reads only due pending rows
create index suppression_propagations_due on suppression_propagations (next_attempt_at) where status = 'pending';

-- Stand-in for the customer's warehouse suppression table (the warehouse sink writes here
-- until a real warehouse writer exists). One row per address.
create table suppression_export (
  email       text primary key,
  reason      text not null,
  contact_id  text,
  exported_at timestamptz not null
);

-- Append-only log of suppressions handed to the compliance system (audit trail stand-in).
create table compliance_suppression_log (
  id         bigint generated always as identity primary key,
  email      text not null,
  reason     text not null,
  contact_id text,
  logged_at  timestamptz not null
);
create index compliance_suppression_log_email on compliance_suppression_log (email);

-- Replies that automation did not act on alone: a person claims one and resolves it.
create table review_items (
  id          text primary key,
  source_id   text not null unique,
  contact_id  text,
  campaign_id text,
  intent      text not null,
  confidence  double precision not null,
  excerpt     text not null,
  status      text not null default 'open',   -- open | claimed | resolved
  claimed_by  text,
  resolution  text,                           -- unsubscribe | create_task | ignore
  created_at  timestamptz not null,
  updated_at  timestamptz not null
);
create index review_items_status on review_items (status, created_at);
