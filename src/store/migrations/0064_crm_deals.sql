-- The deal poller's view of each CRM deal it has applied (src/billing/deal-poll.ts): whether it is
-- closed-won now, its figures and the vendor's modification stamp. An observation no newer than
-- modified_at changes nothing, so a re-read page (after a crash) or an out-of-order read is a no-op.
-- A deal's revenue rows are its billing_conversions with event_id crm:<crm>:deal:<id> (one per
-- share), and a reversal is one billing_refunds row per share (charge_id <conversion id>:reversal).
create table crm_deals (
  crm           text not null,
  deal_id       text not null,
  won           boolean not null,
  amount_minor  bigint,
  currency      text,
  closed_at     timestamptz,
  account_id    text,
  contact_ids   text[] not null default '{}',
  modified_at   timestamptz not null,          -- the vendor's stamp of the change applied last
  updated_at    timestamptz not null,
  primary key (crm, deal_id)
);

-- a deal's shares are found by their event id when the deal changes
create index billing_conversions_event on billing_conversions (event_id);
