-- Messages written in the same transaction as the state they announce (ingest: the stored events
-- and the suppressions they caused). Published right after the commit; if the process dies in
-- between, or the bus refuses, the outbox relay publishes them later. Publishing is idempotent per
-- (topic, message id), so a message published twice (published, then the delete was lost) is one.
create table bus_outbox (
  seq        bigserial primary key,
  topic      text collate "C" not null,
  msg_id     text collate "C" not null,
  msg_key    text,
  payload    text not null,
  created_at timestamptz not null
);
