-- Switchyard's own profile of each contact, so lists are evaluated without asking the CRM or the
-- warehouse. `attributes` holds the values as the sources sent them (unknown fields kept);
-- `attribute_versions` holds, per attribute, the source time (ms) and optional version of the
-- value held, so an older or repeated change of that attribute changes nothing.
create table contact_profiles (
  contact_id         text collate "C" primary key,
  email              text,
  crm_id             text collate "C",
  warehouse_id       text collate "C",
  attributes         jsonb not null default '{}',
  attribute_versions jsonb not null default '{}',
  created_at         timestamptz not null,
  updated_at         timestamptz not null
);
create index contact_profiles_email on contact_profiles (lower(email)) where email is not null;
create index contact_profiles_crm_id on contact_profiles (crm_id) where crm_id is not null;
create index contact_profiles_warehouse_id on contact_profiles (warehouse_id) where warehouse_id is not null;

-- Engagement from Switchyard's own reaction events. The latest human click per tag (the '*' tag
-- for any click): a "clicked tag X in the last N days" condition needs only the latest one.
create table profile_click_tags (
  contact_id text collate "C" not null,
  tag        text collate "C" not null,
  last_at    timestamptz not null,
  primary key (contact_id, tag)
);

-- Campaigns sent to each contact and whether they were opened (for "opened k of the last n").
create table profile_campaigns (
  contact_id  text collate "C" not null,
  campaign_id text collate "C" not null,
  sent_at     timestamptz not null,
  opened      boolean not null default false,
  primary key (contact_id, campaign_id)
);
-- the segment SQL reads a contact's last n sends in this order (newest first, then campaign id)
create index profile_campaigns_recent on profile_campaigns (contact_id, sent_at desc, campaign_id desc);

-- Engagement aggregates per contact (counts of our own events; the source ids already counted are
-- remembered so a redelivered reaction batch counts nothing twice).
create table profile_engagement (
  contact_id      text collate "C" primary key,
  sent            integer not null default 0,
  opened          integer not null default 0,
  clicked         integer not null default 0,
  replied         integer not null default 0,
  bounced         integer not null default 0,
  unsubscribed    integer not null default 0,
  last_engaged_at timestamptz
);
create table profile_events_seen (
  source_id text collate "C" primary key,
  seen_at   timestamptz not null
);
