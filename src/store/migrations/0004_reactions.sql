-- Normalised engagement events, deduplicated by source id (a redelivered webhook is a no-op).
create table engagement_events (
  source_id    text primary key,
  type         text not null,
  provider     text not null,
  occurred_at  timestamptz not null,
  received_at  timestamptz not null,
  email        text,
  message_id   text,
  campaign_id  text,
  contact_id   text,
  is_machine   boolean not null default false,
  reason       text,
  url          text,
  raw          jsonb
);
create index engagement_events_contact on engagement_events (contact_id, occurred_at) where contact_id is not null;
create index engagement_events_campaign on engagement_events (campaign_id, type) where campaign_id is not null;
