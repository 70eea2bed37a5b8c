-- Campaigns, the send ledger (the idempotency record of the blast), suppression and consent.

create table campaigns (
  id              text primary key,
  name            text not null,
  status          text not null default 'draft',   -- draft | running | paused | cancelled | completed | failed
  status_reason   text,
  definition      jsonb not null,
  priority        text not null default 'bulk',    -- transactional | triggered | bulk
  -- select stage progress: resume position in the warehouse and next chunk number
  select_after    text,
  select_seq      integer not null default 0,
  select_done     boolean not null default false,
  selected        integer not null default 0,
  rejected        integer not null default 0,
  created_at      timestamptz not null,
  started_at      timestamptz,
  finished_at     timestamptz,
  updated_at      timestamptz not null
);

-- chunks that passed the comply stage (their recipients all have ledger rows)
create table campaign_chunks (
  campaign_id text not null,
  seq         integer not null,
  recipients  integer not null,
  primary key (campaign_id, seq)
);

-- One row per (campaign, contact): inserted set-wise when the chunk is complied, updated
-- set-wise when handed to the ESP. States: queued → rendered (ESP call under way) → sent →
-- delivered | bounced; or suppressed / capped / failed / cancelled / unknown (outcome of an
-- interrupted ESP call not known; never resent automatically).
create table send_ledger (
  campaign_id     text not null,
  contact_id      text not null,
  email           text not null,
  state           text not null,
  reason          text,
  chunk           integer not null,
  message_id      text,
  esp             text,
  esp_message_id  text,
  attempts        integer not null default 0,
  last_error      text,
  due_at          timestamptz,
  sent_at         timestamptz,
  updated_at      timestamptz not null,
  primary key (campaign_id, contact_id)
);
create index send_ledger_state on send_ledger (campaign_id, state);
-- frequency caps: recent sends per contact across campaigns
create index send_ledger_contact_sent on send_ledger (contact_id, sent_at) where sent_at is not null;
create index send_ledger_message on send_ledger (message_id) where message_id is not null;

-- Addresses nobody may mail (lower-cased). Checked at selection and right before each ESP call.
create table suppressions (
  email       text primary key,
  reason      text not null,             -- unsubscribed | complained | bounced_hard | bounced_soft | manual | erased
  source      text not null,             -- where it came from (one_click, webhook.sendgrid, cli, …)
  contact_id  text,
  campaign_id text,
  created_at  timestamptz not null
);

-- Latest consent state per contact (the full audit trail comes with the consent ledger).
create table consents (
  contact_id  text primary key,
  status      text not null,             -- granted | denied
  basis       text,                      -- express | implied | soft_opt_in | legitimate_interest
  source      text not null,
  updated_at  timestamptz not null
);
