-- Chunks waiting for their contacts' send time (schedule stage). The dispatcher publishes due
-- rows to their topic, then deletes them; a crash in between republishes an id the bus dedups.
create table staged_chunks (
  id        text primary key,
  topic     text not null,
  due_at    timestamptz not null,
  payload   jsonb not null
);
create index staged_chunks_due on staged_chunks (due_at);
