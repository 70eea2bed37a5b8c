-- What the NATS JetStream bus keeps beside the broker (src/bus/nats/). The broker's own
-- de-duplication (Nats-Msg-Id) lasts only its duplicate window (minutes); a chunk re-published
-- by a select step re-run hours later, or an outbox row relayed after a long outage, must still
-- be a duplicate, so each (topic, id) is reserved here before it is published and confirmed once
-- the broker stored it. A reservation never confirmed (its publisher died in between) is taken
-- over once older than the broker's window, when the broker can no longer hold the first copy.
create table bus_nats_ids (
  topic       text collate "C" not null,
  msg_id      text collate "C" not null,
  reserved_at timestamptz not null,
  confirmed   boolean not null default false,
  primary key (topic, msg_id)
);
create index bus_nats_ids_reserved on bus_nats_ids (reserved_at);

-- The broker counts every delivery; Switchyard's attempt count leaves out deliveries that were
-- put back unattempted (a paused campaign's chunk, the tail of an ordered batch) and needs the
-- first failure time for a dead letter. Rows exist only for messages that failed or were put
-- back, written on that (rare) path and read only for redelivered messages.
create table bus_nats_redeliveries (
  group_name      text collate "C" not null,
  topic           text collate "C" not null,
  seq             bigint not null,
  releases        integer not null default 0,
  first_failed_at timestamptz,
  primary key (group_name, topic, seq)
);
