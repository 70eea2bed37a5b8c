-- The deliverability governor's per-scope state (provider, receiving group, sending domain,
-- campaign): rates, breaker states and the windowed counters behind its percentages, so a restart
-- does not forget a paused breaker or start every rate over. One row per scope key, replaced
-- set-wise every few seconds by the process that holds the governor (last writer wins when
-- several do); the state is the governor's own JSON, read back only by it.
create table governor_state (
  scope_key  text collate "C" primary key,
  state      jsonb not null,
  updated_at timestamptz not null
);
-- idle scopes are pruned by age on every save
create index governor_state_updated on governor_state (updated_at);
