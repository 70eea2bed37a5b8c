-- Contact profiles: what the CRM said about each contact (the enrichment a blast needs), kept so
-- that a blast reads them set-wise from the store instead of asking the CRM chunk by chunk.
-- `found` false records that the CRM does not know the contact (so a warm cache asks nothing);
-- `fetched_at` ages a profile out (SWITCHYARD_CRM_PROFILE_MAX_AGE_MS); a CRM change event sets
-- `invalidated_at`, and the next blast that needs the profile fetches it again.
create table crm_profiles (
  contact_id       text collate "C" primary key,
  crm              text collate "C" not null,
  crm_id           text collate "C",
  found            boolean not null,
  account_status   text,
  tier             text,
  owner            jsonb,
  opted_out        boolean not null default false,
  engagement_score double precision,
  fields           jsonb not null default '{}',
  fetched_at       timestamptz not null,
  invalidated_at   timestamptz
);
-- change events name the CRM's record id: resolve it to the contact through this index
create index crm_profiles_crm_id on crm_profiles (crm, crm_id) where crm_id is not null;

-- CRM change events that matched no profile (a contact no blast has read yet, or not ours),
-- kept with the reason instead of failing the message.
create table crm_profile_unmatched (
  source      text collate "C" not null,
  event_id    text collate "C" not null,
  crm_id      text,
  reason      text not null,
  recorded_at timestamptz not null,
  primary key (source, event_id)
);

-- A running campaign held back by its CRM (rate limit, outage): why and until when it expects
-- to go on; shown in the campaign's status and cleared when its selection moves again.
alter table campaigns add column crm_wait_reason text;
alter table campaigns add column crm_wait_until timestamptz;
