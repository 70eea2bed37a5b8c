-- The deliverability governor's circuit breakers shared by every send process (issue 20): one row
-- per campaign (c:…) or sending domain (d:…) whose breaker ever left `closed`. A process whose
-- breaker changes phase (opened, escalated, half-open, closed, an operator's resume) writes its
-- state; `since` (the clock time of that transition, epoch ms) is the version: a row is replaced
-- only by a newer transition, and every process adopts rows newer than its own state, so a pause
-- raised in one process stops the whole fleet within one sync interval.
create table governor_fleet_breakers (
  scope_key         text collate "C" primary key,
  phase             text not null check (phase in ('closed', 'open', 'half_open')),
  reason            text,
  since             double precision not null,
  -- null when it never opened
  opened_at         double precision,
  requires_operator boolean not null,
  updated_at        timestamptz not null
);
create index governor_fleet_breakers_since on governor_fleet_breakers (since);
