-- Revenue in: verified billing events (deduplicated by event id), the conversions and refunds they
-- apply, subscriptions, and the identity links that join a billing customer to a contact.
-- Application is order-independent: a refund may arrive before its invoice (it waits in
-- billing_refunds keyed by the conversion it undoes), refund amounts are cumulative maxima, and a
-- subscription keeps the state of the newest event.

create table billing_events (
  source_id    text primary key,          -- stripe:<event id>
  type         text not null,
  occurred_at  timestamptz not null,
  received_at  timestamptz not null,
  object_id    text,
  customer_id  text,
  object       jsonb not null
);

-- One conversion per Stripe invoice / one-off charge / CRM deal / warehouse row.
create table billing_conversions (
  id            text primary key,          -- stripe:invoice:in_…, stripe:charge:ch_…, crm:deal:…, sql:…
  source        text not null,             -- stripe | crm | sql
  customer_id   text,                      -- billing customer (stripe:cus_…) or CRM account
  email         text,                      -- normalised, when the event carried one
  contact_hint  text,                      -- metadata.sy_contact / client_reference_id
  amount_minor  bigint not null,
  currency      text not null,
  occurred_at   timestamptz not null,
  event_id      text not null
);
create index billing_conversions_time on billing_conversions (occurred_at);

-- Which invoice a charge paid, so a refund of that charge reverses the invoice's conversion.
create table billing_charge_invoices (
  charge_id   text primary key,
  invoice_id  text not null
);

-- Cumulative refunded amount per charge (Stripe's amount_refunded): the newest maximum wins.
create table billing_refunds (
  charge_id       text primary key,
  conversion_id   text not null,
  refunded_minor  bigint not null,
  currency        text not null,
  occurred_at     timestamptz not null
);
create index billing_refunds_conversion on billing_refunds (conversion_id);

create table billing_subscriptions (
  id             text primary key,
  customer_id    text,
  status         text not null,
  plan           text,
  amount_minor   bigint,
  currency       text,
  event_created  timestamptz not null,     -- the event whose snapshot this is; older events never overwrite
  updated_at     timestamptz not null
);

-- Identity graph edges: a key (billing customer, email, CRM contact, CRM account) resolved to a
-- contact, with the rule that made the link and its evidence, so every merge is explainable.
create table identity_links (
  key_kind     text not null,             -- billing_customer | crm_contact | crm_account
  key_value    text not null,
  contact_id   text not null,
  rule         text not null,             -- metadata.sy_contact | email | crm_id | fallback:<name>
  evidence     jsonb not null,
  created_at   timestamptz not null,
  primary key (key_kind, key_value, contact_id)
);
create index identity_links_contact on identity_links (contact_id);
