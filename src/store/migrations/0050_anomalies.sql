-- The anomaly detector (docs/attribution.md, Anomalies): one row per granularity holding the last
-- bucket judged, locked and moved in the transaction that stores that bucket's anomalies, so a
-- restart neither skips a bucket nor judges one twice; and the flagged points, one per (series,
-- bucket). `notified_at` stays null until the alert email was queued on the transactional lane.
create table anomaly_runs (
  granularity text primary key check (granularity in ('day', 'hour')),
  last_bucket timestamptz not null,
  ran_at      timestamptz not null
);

create table anomalies (
  id          text primary key,
  granularity text not null check (granularity in ('day', 'hour')),
  scope       text not null check (scope in ('campaign', 'segment', 'overall')),
  scope_key   text not null,
  metric      text not null,
  bucket      timestamptz not null,
  value       float8 not null,
  baseline    float8 not null,
  score       float8 not null,
  direction   text not null check (direction in ('high', 'low')),
  performance text not null check (performance in ('under', 'over')),
  detected_at timestamptz not null,
  notified_at timestamptz,
  unique (granularity, scope, scope_key, metric, bucket)
);
create index anomalies_bucket on anomalies (bucket desc, id);
create index anomalies_unnotified on anomalies (granularity, bucket) where notified_at is null;
