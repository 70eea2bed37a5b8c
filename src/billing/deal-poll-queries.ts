/**
 * The deal poller's SQL (private to src/billing): deal states (crm_deals, migration 0064) and the
 * revenue rows a deal stands for — its shares in billing_conversions (event_id = the deal's
 * `crm:<crm>:deal:<id>`) and, while it is reversed, one billing_refunds row per share. Every
 * statement takes a page's arrays (unnest), never one row at a time.
 */

/** Serialises appliers of one CRM's deals (two pollers: the later read never undoes the newer). */
export const LOCK_DEALS = `select pg_advisory_xact_lock(hashtext('crm_deals:' || $1))`;

export const SELECT_HELD = `
  select deal_id, won, modified_at from crm_deals where crm = $1 and deal_id = any($2::text[])`;

// a deal back in closed-won (or changed while won) is not reversed any more
export const DELETE_REVERSALS = `
  delete from billing_refunds r using billing_conversions c
  where c.event_id = any($1::text[]) and r.conversion_id = c.id and r.charge_id = c.id || ':reversal'`;

/** Shares of these deals that the new split no longer has (a contact left, an amount moved), and their links. */
export const DELETE_STALE_SHARES = `
  with gone as (
    delete from billing_conversions where event_id = any($1::text[]) and not (id = any($2::text[])) returning id
  )
  delete from identity_links l using gone where l.key_kind = 'conversion' and l.key_value = gone.id`;

// a deal's latest amount, currency, close date and account replace the share's (unlike Stripe's first write)
export const UPSERT_SHARES = `
  insert into billing_conversions
    (id, source, customer_id, email, contact_hint, amount_minor, currency, occurred_at, event_id)
  select id, 'crm', customer_id, null, contact_hint, amount_minor, currency, occurred_at, event_id
  from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[])
    as v(id, customer_id, contact_hint, amount_minor, currency, occurred_at, event_id)
  on conflict (id) do update set
    customer_id = excluded.customer_id, contact_hint = excluded.contact_hint, amount_minor = excluded.amount_minor,
    currency = excluded.currency, occurred_at = excluded.occurred_at, event_id = excluded.event_id`;

/** A deal moved out of closed-won: each of its shares is refunded in full, at the time it moved. */
export const INSERT_REVERSALS = `
  insert into billing_refunds (charge_id, conversion_id, refunded_minor, currency, occurred_at)
  select c.id || ':reversal', c.id, c.amount_minor, c.currency, v.at
  from billing_conversions c
  join unnest($1::text[], $2::timestamptz[]) as v(event_id, at) on c.event_id = v.event_id
  on conflict (charge_id) do update set refunded_minor = excluded.refunded_minor, occurred_at = excluded.occurred_at`;

export const UPSERT_STATES = `
  insert into crm_deals
    (crm, deal_id, won, amount_minor, currency, closed_at, account_id, contact_ids, modified_at, updated_at)
  select $1, v.deal_id, v.won, v.amount_minor, v.currency, v.closed_at, v.account_id,
         array(select jsonb_array_elements_text(v.contacts::jsonb)), v.modified_at, $2
  from unnest($3::text[], $4::boolean[], $5::bigint[], $6::text[], $7::timestamptz[], $8::text[], $9::text[],
              $10::timestamptz[])
    as v(deal_id, won, amount_minor, currency, closed_at, account_id, contacts, modified_at)
  on conflict (crm, deal_id) do update set
    won = excluded.won, amount_minor = coalesce(excluded.amount_minor, crm_deals.amount_minor),
    currency = coalesce(excluded.currency, crm_deals.currency),
    closed_at = coalesce(excluded.closed_at, crm_deals.closed_at),
    account_id = case when excluded.won then excluded.account_id else crm_deals.account_id end,
    contact_ids = case when excluded.won then excluded.contact_ids else crm_deals.contact_ids end,
    modified_at = excluded.modified_at, updated_at = excluded.updated_at
  where crm_deals.modified_at < excluded.modified_at`;

/** One audit event per applied change (crm:<crm>:deal:<id>@<stamp>), beside Stripe's in billing_events. */
export const INSERT_DEAL_EVENTS = `
  insert into billing_events (source_id, type, occurred_at, received_at, object_id, customer_id, object)
  select source_id, type, occurred_at, $1, object_id, null, object::jsonb
  from unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])
    as v(source_id, type, occurred_at, object_id, object)
  on conflict (source_id) do nothing`;

/** Deals of this CRM the poller holds, among these ids (the closed-date backfill leaves them alone). */
export const SELECT_HELD_IDS = `select deal_id from crm_deals where crm = $1 and deal_id = any($2::text[])`;
