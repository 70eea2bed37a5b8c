-- postgres-log bus: an append-only log per topic, one cursor per consumer group, range leases for
-- in-flight batches, per-message retry rows only for messages that failed or whose lease expired.
-- Publishing takes a per-topic advisory lock so commit order equals seq order within a topic,
-- which is what lets a group cursor skip nothing.

create table bus_messages (
  seq          bigserial primary key,
  topic        text not null,
  msg_id       text not null,
  msg_key      text,
  payload      jsonb not null,
  published_at timestamptz not null,
  unique (topic, msg_id)
);
-- range reads: "next N messages of topic after cursor"
create index bus_messages_topic_seq on bus_messages (topic, seq);

create table bus_groups (
  group_name text not null,
  topic      text not null,
  ordered    boolean not null default false,
  -- highest seq handed out to a consumer (leased); everything above is pending
  cursor     bigint not null default 0,
  created_at timestamptz not null default now(),
  primary key (group_name, topic)
);

-- one row per fetched range; deleted on settle. An expired lease is turned into retry rows.
create table bus_leases (
  id          bigserial primary key,
  group_name  text not null,
  topic       text not null,
  from_seq    bigint not null,
  to_seq      bigint not null,
  lease_until timestamptz not null
);
create index bus_leases_group on bus_leases (group_name, topic, lease_until);

-- messages awaiting redelivery (failed, or their range lease expired), and retried dead letters
create table bus_retries (
  group_name      text not null,
  topic           text not null,
  seq             bigint not null,
  attempts        integer not null,
  visible_at      timestamptz not null,
  leased          boolean not null default false,
  first_failed_at timestamptz,
  last_error      text,
  primary key (group_name, topic, seq)
);
create index bus_retries_due on bus_retries (group_name, topic, visible_at);

create table dead_letters (
  id              bigserial primary key,
  stage           text not null,
  topic           text,
  seq             bigint,
  msg_id          text,
  msg_key         text,
  payload         jsonb,
  code            text not null,
  message         text not null,
  attempts        integer not null default 0,
  first_failed_at timestamptz not null,
  last_failed_at  timestamptz not null,
  retried_at      timestamptz,
  created_at      timestamptz not null default now()
);
create index dead_letters_stage on dead_letters (stage, id);
