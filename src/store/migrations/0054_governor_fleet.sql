-- The deliverability governor's rate budgets shared by every send process (issue 20): one token
-- bucket per rated scope (provider p:…, receiving group g:…, sending domain d:…), from which each
-- process leases blocks of tokens with one set-wise INSERT … ON CONFLICT DO UPDATE per lease, so
-- N workers together keep each configured rate. The row also carries the scope's AIMD rate and
-- hard hold: a process whose own AIMD changed the rate writes it with the clock time of the
-- change (`rate_at`, the version a later change must beat); every other process adopts the row's
-- rate on its next lease. Times are epoch ms of the injected clock, passed in (never now()).
create table governor_fleet_budgets (
  scope_key  text collate "C" primary key,
  tokens     double precision not null,
  -- msgs/s the bucket refills at: the fleet's current AIMD rate (or the configured fixed rate)
  rate       double precision not null,
  burst      double precision not null,
  rate_at    double precision not null,
  held_until double precision not null default 0,
  -- bumped on every rate change, for operators and tests to see the versioned updates
  version    bigint not null default 0,
  -- the last lease's request and grant, read back by the leaser in the same statement
  wanted     double precision not null default 0,
  granted    double precision not null default 0,
  updated_at double precision not null,
  -- when the first lease created the row (empty): a fleet's admitted total since then is at most
  -- rate × elapsed, which the multi-process test measures against
  created_at double precision not null
);
