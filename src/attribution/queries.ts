/** The attribution service's SQL (private to src/attribution). */

/**
 * Conversions in [from, to) with a resolved contact, their gross and net value (refunds of their
 * charges subtracted; a refund names its conversion directly or through the charge's invoice).
 */
export const CONVERSIONS = `
  with refunds as (
    select coalesce('stripe:invoice:' || ci.invoice_id, r.conversion_id) as conversion_id,
           sum(r.refunded_minor)::bigint as refunded
    from billing_refunds r left join billing_charge_invoices ci on ci.charge_id = r.charge_id
    group by 1
  )
  select c.id, c.occurred_at, c.amount_minor, c.currency,
         least(coalesce(rf.refunded, 0), c.amount_minor)::bigint as refunded_minor,
         l.contact_id
  from billing_conversions c
  left join refunds rf on rf.conversion_id = c.id
  left join lateral (
    select contact_id from identity_links
    where key_kind = 'conversion' and key_value = c.id order by created_at, contact_id limit 1
  ) l on true
  where c.occurred_at >= $1 and c.occurred_at < $2
  order by c.occurred_at, c.id`;

/**
 * The touches of the given contacts between $2 and $3 (the earliest lookback start and the last
 * conversion): human opens, clicks and replies (machine opens and clicks excluded), and with $4
 * the sends. Each with its campaign's journey and segment. Ordered by (contact, ts, kind, id).
 */
export const TOUCHES = `
  with t as (
    select e.contact_id, e.occurred_at as ts,
           case e.type when 'opened' then 'open' when 'clicked' then 'click' else 'reply' end as kind,
           e.campaign_id, e.url, e.source_id as touch_id
    from engagement_events e
    where e.contact_id = any($1::text[]) and e.type in ('opened', 'clicked', 'replied') and not e.is_machine
      and e.occurred_at >= $2 and e.occurred_at <= $3
    union all
    select s.contact_id, s.sent_at, 'send', s.campaign_id, null, 'send:' || s.campaign_id
    from send_ledger s
    where $4 and s.contact_id = any($1::text[]) and s.sent_at is not null and s.sent_at >= $2 and s.sent_at <= $3
  )
  select t.contact_id, t.ts, t.kind, t.campaign_id, t.url,
         coalesce(c.definition->>'journeyId', c.definition->>'journey') as journey,
         coalesce(c.definition->'audience'->>'segment', c.definition->'audience'->>'list',
                  c.definition->'audience'->>'source') as segment,
         t.touch_id
  from t left join campaigns c on c.id = t.campaign_id
  order by t.contact_id, t.ts, t.kind, t.touch_id`;

/** Contacts with a touch in the period and no conversion in it: the non-converting paths (Markov nulls). */
export const NON_CONVERTING_TOUCHES = `
  with t as (
    select e.contact_id, e.occurred_at as ts,
           case e.type when 'opened' then 'open' when 'clicked' then 'click' else 'reply' end as kind,
           e.campaign_id, e.url, e.source_id as touch_id
    from engagement_events e
    where e.contact_id is not null and not (e.contact_id = any($1::text[]))
      and e.type in ('opened', 'clicked', 'replied') and not e.is_machine
      and e.occurred_at >= $2 and e.occurred_at < $3
      and (e.type <> 'opened' or $5)
    union all
    select s.contact_id, s.sent_at, 'send', s.campaign_id, null, 'send:' || s.campaign_id
    from send_ledger s
    where $4 and not (s.contact_id = any($1::text[])) and s.sent_at >= $2 and s.sent_at < $3
  )
  select t.contact_id, t.ts, t.kind, t.campaign_id, t.url,
         coalesce(c.definition->>'journeyId', c.definition->>'journey') as journey,
         coalesce(c.definition->'audience'->>'segment', c.definition->'audience'->>'list',
                  c.definition->'audience'->>'source') as segment,
         t.touch_id
  from t left join campaigns c on c.id = t.campaign_id
  order by t.contact_id, t.ts, t.kind, t.touch_id
  limit 1000000`;
