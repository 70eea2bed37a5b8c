-- Where each warehouse profile feed stands: the keyset position (updated_at, key) of the last
-- row applied, and likewise for its deletes query, so a restart resumes without a gap or a repeat.
create table profile_source_watermarks (
  source      text collate "C" primary key,
  updated_at  timestamptz,
  last_key    text collate "C",
  deleted_at  timestamptz,
  deleted_key text collate "C",
  polled_at   timestamptz not null
);

-- A campaign whose audience is a list reads the members frozen when it started, in contact order.
create table campaign_list_audiences (
  campaign_id text collate "C" not null,
  contact_id  text collate "C" not null,
  primary key (campaign_id, contact_id)
);
create table campaign_list_frozen (
  campaign_id text collate "C" primary key,
  list_id     text collate "C" not null,
  members     bigint not null,
  frozen_at   timestamptz not null
);
