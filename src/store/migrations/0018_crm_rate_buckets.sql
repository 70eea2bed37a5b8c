-- CRM request budgets shared by every process: one token bucket per CRM account (e.g.
-- 'hubspot:<portal>'), taken and refilled by a single atomic UPDATE … RETURNING, so N processes
-- together never exceed the vendor's burst limit. `tokens` may go below zero when the vendor
-- answered 429 with Retry-After: every process then waits until it has refilled.
create table crm_rate_buckets (
  name         text collate "C" primary key,
  tokens       double precision not null,
  -- whether the last take was granted (read back by the taker in the same statement)
  last_granted boolean not null default false,
  updated_at   timestamptz not null
);

-- CRM tasks created with a dedupe key: a redelivered request returns the first task's id.
create table crm_task_keys (
  crm        text collate "C" not null,
  dedupe_key text collate "C" not null,
  task_id    text not null,
  created_at timestamptz not null,
  primary key (crm, dedupe_key)
);
