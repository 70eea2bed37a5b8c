-- Running processes (server `start` and `worker`), each heartbeating on its clock. A process whose
-- heartbeat is older than the configured threshold is dead: a live one deletes its row and hands
-- its bus leases back at once instead of waiting for them to expire.
create table process_instances (
  id           text collate "C" primary key,
  pid          integer not null,
  host         text not null,
  role         text not null,
  stages       text[] not null default '{}',
  started_at   timestamptz not null,
  heartbeat_at timestamptz not null
);

-- who holds a range lease, and who holds a leased retry row (null: held by a process that
-- registered no instance, e.g. a test's bus; such leases only expire)
alter table bus_leases add column instance_id text collate "C";
create index bus_leases_instance on bus_leases (instance_id) where instance_id is not null;
alter table bus_retries add column leased_by text collate "C";
create index bus_retries_leased_by on bus_retries (leased_by) where leased_by is not null;

-- What a sweep recovered from a stopped process: one row per stopped instance, for status reports.
create table process_recoveries (
  id           bigserial primary key,
  instance_id  text collate "C" not null,
  recovered_by text collate "C" not null,
  recovered_at timestamptz not null,
  last_heartbeat_at timestamptz not null,
  leases       integer not null,
  messages     integer not null,
  -- [{topic, group, leases, messages}]
  detail       jsonb not null
);
create index process_recoveries_at on process_recoveries (recovered_at);
