-- The sandbox ESP's simulated events still to come (delivered, opened, clicked, ...), one row per
-- accepted message: a restarted process emits them as the one that accepted the message would
-- have. `stage` is the next batch of events to emit, due at `due_at`; a flush claims due rows
-- (claimed_until) so two processes never emit the same row, then advances or deletes them.
create table sandbox_events (
  provider_message_id text collate "C" primary key,
  accepted_at   timestamptz not null,
  message_id    text not null,
  email         text not null,
  correlation   jsonb not null,
  flags         integer not null,
  url           text,
  stage         integer not null,
  due_at        timestamptz not null,
  claimed_until timestamptz
);
create index sandbox_events_due on sandbox_events (due_at);
