/** The billing service's SQL (private to src/billing). */

export const INSERT_EVENT = `
  insert into billing_events (source_id, type, occurred_at, received_at, object_id, customer_id, object)
  values ($1, $2, $3, $4, $5, $6, $7::jsonb)
  on conflict (source_id) do nothing
  returning source_id`;

// first write wins: a redelivered or backfilled copy of the same invoice/charge changes nothing
export const INSERT_CONVERSION = `
  insert into billing_conversions
    (id, source, customer_id, email, contact_hint, amount_minor, currency, occurred_at, event_id)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
  on conflict (id) do nothing`;

export const INSERT_CHARGE_INVOICE = `
  insert into billing_charge_invoices (charge_id, invoice_id) values ($1, $2) on conflict (charge_id) do nothing`;

// refunded amounts are cumulative on the charge: the larger one is the newer, whatever the order
export const UPSERT_REFUND = `
  insert into billing_refunds (charge_id, conversion_id, refunded_minor, currency, occurred_at)
  values ($1, $2, $3, $4, $5)
  on conflict (charge_id) do update set
    refunded_minor = greatest(billing_refunds.refunded_minor, excluded.refunded_minor),
    occurred_at = greatest(billing_refunds.occurred_at, excluded.occurred_at)`;

// an older event never overwrites a newer snapshot; at the same second a cancellation wins
export const UPSERT_SUBSCRIPTION = `
  insert into billing_subscriptions
    (id, customer_id, status, plan, amount_minor, currency, event_created, updated_at)
  values ($1, $2, $3, $4, $5, $6, $7, $8)
  on conflict (id) do update set
    customer_id = coalesce(excluded.customer_id, billing_subscriptions.customer_id),
    status = excluded.status, plan = coalesce(excluded.plan, billing_subscriptions.plan),
    amount_minor = coalesce(excluded.amount_minor, billing_subscriptions.amount_minor),
    currency = coalesce(excluded.currency, billing_subscriptions.currency),
    event_created = excluded.event_created, updated_at = excluded.updated_at
  where excluded.event_created > billing_subscriptions.event_created
     or (excluded.event_created = billing_subscriptions.event_created and excluded.status = 'canceled')`;

export const INSERT_LINK = `
  insert into identity_links (key_kind, key_value, contact_id, rule, evidence, created_at)
  values ($1, $2, $3, $4, $5::jsonb, $6)
  on conflict do nothing`;

/**
 * Links every conversion that can be resolved and is not yet: deterministic keys first —
 * the contact hint the vendor carried (metadata.sy_contact / client_reference_id), then an existing
 * link of the billing customer, then the exact normalised email of a contact we mailed (send
 * ledger). Conversions are linked under key_kind 'conversion'; customers learn the link too, so
 * their later conversions resolve without an email. Set-wise; safe to run any time (a conversion
 * for an unknown customer simply stays unlinked until its identity appears).
 */
export const RESOLVE_CONVERSIONS = `
  with pending as (
    select c.* from billing_conversions c
    where not exists (select 1 from identity_links l where l.key_kind = 'conversion' and l.key_value = c.id)
  ), by_hint as (
    select p.id, p.customer_id, p.contact_hint as contact_id, 'metadata.sy_contact' as rule,
           jsonb_build_object('contact_hint', p.contact_hint) as evidence, 1 as pref
    from pending p where p.contact_hint is not null
  ), by_customer as (
    select distinct on (p.id) p.id, p.customer_id, l.contact_id, 'billing_customer' as rule,
           jsonb_build_object('customer', p.customer_id, 'via', l.rule) as evidence, 2 as pref
    from pending p join identity_links l on l.key_kind = 'billing_customer' and l.key_value = p.customer_id
    order by p.id, l.created_at, l.contact_id
  ), by_email as (
    select distinct on (p.id) p.id, p.customer_id, s.contact_id, 'email' as rule,
           jsonb_build_object('email_sha256', encode(sha256(convert_to(p.email, 'UTF8')), 'hex')) as evidence,
           3 as pref
    from pending p join send_ledger s on lower(s.email) = p.email
    where p.email is not null
    order by p.id, s.contact_id
  ), chosen as (
    select distinct on (id) * from (
      select * from by_hint union all select * from by_customer union all select * from by_email
    ) x order by id, pref
  ), linked as (
    insert into identity_links (key_kind, key_value, contact_id, rule, evidence, created_at)
    select 'conversion', id, contact_id, rule, evidence, $1 from chosen
    on conflict do nothing
    returning key_value
  ), customers as (
    insert into identity_links (key_kind, key_value, contact_id, rule, evidence, created_at)
    select distinct on (customer_id) 'billing_customer', customer_id, contact_id, rule,
           evidence || jsonb_build_object('learned_from', id), $1
    from chosen where customer_id is not null and rule <> 'billing_customer'
    order by customer_id, pref, id
    on conflict do nothing
    returning key_value
  )
  select (select count(*) from linked)::int as linked, (select count(*) from customers)::int as customers`;

/** Why a conversion is attributed to whom: its links, newest first. */
export const EXPLAIN_CONVERSION = `
  select l.key_kind, l.key_value, l.contact_id, l.rule, l.evidence, l.created_at
  from billing_conversions c
  join identity_links l on (l.key_kind = 'conversion' and l.key_value = c.id)
                        or (l.key_kind = 'billing_customer' and l.key_value = c.customer_id)
  where c.id = $1
  order by l.created_at desc`;

/** A reader's saved position (migration 0052). */
export const SELECT_CURSOR = `
  select since, position, done, pages, objects from billing_sync_cursors where source = $1 and stream = $2`;

// written after the page it describes is applied; a restart (new --since, or after done) resets counts
export const SAVE_CURSOR = `
  insert into billing_sync_cursors (source, stream, since, position, done, pages, objects, updated_at)
  values ($1, $2, $3, $4, $5, $6, $7, $8)
  on conflict (source, stream) do update set
    since = excluded.since, position = excluded.position, done = excluded.done,
    pages = excluded.pages, objects = excluded.objects, updated_at = excluded.updated_at`;
