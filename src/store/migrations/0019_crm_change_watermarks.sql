-- Where each CRM change poll stands (e.g. 'salesforce:Contact:updates'): the SystemModstamp and
-- Id of the last record published. The next poll reads strictly after (modstamp, last_id), so a
-- restart resumes without losing or repeating a change, even among records with equal stamps.
create table crm_change_watermarks (
  stream     text collate "C" primary key,
  modstamp   timestamptz not null,
  last_id    text collate "C" not null,
  updated_at timestamptz not null
);
