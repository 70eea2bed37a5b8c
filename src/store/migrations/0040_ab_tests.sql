-- A/B tests (docs/ab-tests.md): the phase of a campaign's test, the decision once made, and the
-- cell each test contact was dealt (stored at first deal, so a re-read chunk sends the same cell).
alter table campaigns add column ab_phase text
  check (ab_phase is null or ab_phase in ('testing', 'remainder', 'done'));
alter table campaigns add column ab_test_sent_at timestamptz;
alter table campaigns add column ab_decision jsonb;

create table ab_assignments (
  campaign_id text not null,
  contact_id  text not null,
  cell        smallint not null,
  assigned_at timestamptz not null,
  primary key (campaign_id, contact_id)
);
