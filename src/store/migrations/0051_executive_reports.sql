-- Executive reports (docs/attribution.md, Executive reports): per report the newest scheduled time
-- already claimed (so a restart neither skips nor repeats one), and one row per (report, scheduled
-- time) claimed before it is built; `sent_at` is set once every recipient's email was queued, so a
-- run that died in between is finished by the next tick (its emails are idempotent per recipient).
-- The PDF is kept for `GET /v1/reports/:name/runs/:at/pdf`.
create table report_schedules (
  name              text primary key,
  last_scheduled_at timestamptz not null
);

create table report_runs (
  name         text not null,
  scheduled_at timestamptz not null,
  trigger      text not null check (trigger in ('schedule', 'manual')),
  claimed_at   timestamptz not null,
  sent_at      timestamptz,
  recipients   integer not null default 0,
  pdf          bytea,
  primary key (name, scheduled_at)
);
create index report_runs_unsent on report_runs (claimed_at) where sent_at is null;
