-- Every state-changing admin request (and key changes made by the CLI on the store), append-only
-- and hash-chained: hash = SHA-256 over prev_hash and the row's canonical text
-- (src/core/audit-chain.ts). Appends take an advisory lock inside their transaction, so two
-- writers never link to the same predecessor. The trigger refuses UPDATE and DELETE; a database
-- owner can still bypass it, which is what the chain is for: GET /v1/audit/verify names the first
-- row that no longer matches.
create table audit_log (
  id           bigserial primary key,
  at           timestamptz not null,
  actor_key_id text collate "C",
  actor_name   text not null,
  role         text,
  action       text not null,
  target       jsonb not null,
  source_ip    text,
  outcome      integer not null,
  prev_hash    text not null,
  hash         text not null unique
);
create index audit_log_actor on audit_log (actor_key_id, id);

create function audit_log_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit_log is append-only';
end $$;
create trigger audit_log_no_change before update or delete on audit_log
  for each row execute function audit_log_append_only();
