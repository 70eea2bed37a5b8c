/** The attribution service's SQL (private to src/attribution). */

/**
 * Conversions in [from, to) with a resolved contact, their gross and net value (refunds of their
 * charges subtracted; a refund names its conversion directly or through the charge's invoice).
 */
import { REFUNDS_CTE } from '../billing/refunds-sql.ts';
export const CONVERSIONS = `
  with ${REFUNDS_CTE}
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
    left join (select unnest($1::text[]) as contact_id) conv on conv.contact_id = e.contact_id
    where e.contact_id is not null and conv.contact_id is null
      and e.type in ('opened', 'clicked', 'replied') and not e.is_machine
      and e.occurred_at >= $2 and e.occurred_at < $3
      and (e.type <> 'opened' or $5)
    union all
    select s.contact_id, s.sent_at, 'send', s.campaign_id, null, 'send:' || s.campaign_id
    from send_ledger s
    left join (select unnest($1::text[]) as contact_id) conv on conv.contact_id = s.contact_id
    where $4 and conv.contact_id is null and s.sent_at >= $2 and s.sent_at < $3
  )
  select t.contact_id, t.ts, t.kind, t.campaign_id, t.url,
         coalesce(c.definition->>'journeyId', c.definition->>'journey') as journey,
         coalesce(c.definition->'audience'->>'segment', c.definition->'audience'->>'list',
                  c.definition->'audience'->>'source') as segment,
         t.touch_id
  from t left join campaigns c on c.id = t.campaign_id
  order by t.contact_id, t.ts, t.kind, t.touch_id
  limit 1000000`;

/**
 * The end both rule reports share: totals over every conversion of the period (attributed: those
 * with a row in `source`, a CTE of conversion ids) and the rows and totals as one result.
 */
function reportTail(source: 'attributed' | 'picked'): string {
  return `), totals as (
    select count(*)::int as conversions, coalesce(sum(gross), 0)::bigint as gross,
           coalesce(sum(refunded), 0)::bigint as refunded,
           count(x.conversion_id)::int as attributed,
           coalesce(sum(gross - refunded) filter (where x.conversion_id is not null), 0)::bigint as attributed_minor
    from conv left join ${source} x on x.conversion_id = conv.id
  )
  select 'row' as kind, key, conversions, value_minor, null::int as n1, null::bigint as n2, null::bigint as n3,
         null::int as n4, null::bigint as n5 from rows
  union all
  select 'totals', null, null, null, conversions, gross, refunded, attributed, attributed_minor from totals`;
}

/**
 * First, last and linear credit computed set-wise in the database (the fast path for large
 * periods): the same conversions, windows, machine exclusion and 30-minute collapse as the
 * in-memory models, grouped by $6 (campaign | channel | link | journey | segment). Linear money
 * is split with largest remainders (ties to the earlier touch), so groups sum to the net exactly.
 * $1 from, $2 to, $3 lookback, $4 open lookback (intervals), $5 include sends, $7 model.
 */
export const RULE_REPORT = `
  with ${REFUNDS_CTE}, conv as (
    select c.id, c.occurred_at as ts, c.amount_minor as gross,
           least(coalesce(rf.refunded, 0), c.amount_minor)::bigint as refunded, l.contact_id
    from billing_conversions c
    left join refunds rf on rf.conversion_id = c.id
    left join lateral (
      select contact_id from identity_links
      where key_kind = 'conversion' and key_value = c.id order by created_at, contact_id limit 1
    ) l on true
    where c.occurred_at >= $1 and c.occurred_at < $2
  ), touch as (
    select v.id as conversion_id, v.gross - v.refunded as net, e.occurred_at as ts,
           case e.type when 'opened' then 'open' when 'clicked' then 'click' else 'reply' end as kind,
           e.campaign_id, e.url, e.source_id as touch_id
    from conv v join engagement_events e on e.contact_id = v.contact_id
    where e.type in ('opened', 'clicked', 'replied') and not e.is_machine
      and e.occurred_at <= v.ts
      and e.occurred_at >= v.ts - case when e.type = 'opened' then $4::interval else $3::interval end
    union all
    select v.id, v.gross - v.refunded, s.sent_at, 'send', s.campaign_id, null, 'send:' || s.campaign_id
    from conv v join send_ledger s on s.contact_id = v.contact_id
    where $5 and s.sent_at is not null and s.sent_at <= v.ts and s.sent_at >= v.ts - $3::interval
  ), collapsed as (
    select t.*, lag(t.ts) over (partition by t.conversion_id, t.kind, t.campaign_id order by t.ts, t.touch_id) as prev
    from touch t
  ), kept as (
    select c.*,
           row_number() over (partition by c.conversion_id order by c.ts, c.kind, c.touch_id) as pos,
           count(*) over (partition by c.conversion_id) as n
    from collapsed c where c.prev is null or c.ts - c.prev > interval '30 minutes'
  ), credited as (
    select k.*,
           case $6 when 'campaign' then coalesce(k.campaign_id, '(none)')
                   when 'channel' then 'email:' || k.kind
                   when 'link' then coalesce(k.url, '(' || k.kind || ')')
                   when 'journey' then coalesce(cp.definition->>'journeyId', cp.definition->>'journey', '(none)')
                   else coalesce(cp.definition->'audience'->>'segment', cp.definition->'audience'->>'list',
                                 cp.definition->'audience'->>'source', '(none)') end as key,
           case $7 when 'first' then (k.pos = 1)::int::float8
                   when 'last' then (k.pos = k.n)::int::float8
                   else 1.0 / k.n end as share,
           case $7 when 'first' then case when k.pos = 1 then k.net else 0 end
                   when 'last' then case when k.pos = k.n then k.net else 0 end
                   else div(k.net, k.n) + case when k.pos <= mod(k.net, k.n) then 1 else 0 end end as minor
    from kept k left join campaigns cp on cp.id = k.campaign_id
    where $7 = 'linear' or ($7 = 'first' and k.pos = 1) or ($7 = 'last' and k.pos = k.n)
  ), rows as (
    select key, sum(share)::float8 as conversions, sum(minor)::bigint as value_minor from credited group by key
  ), attributed as (
    select conversion_id from kept group by conversion_id
  ${reportTail('attributed')}`;

/**
 * First or last touch for groupings whose key depends only on the touch's kind and campaign
 * (campaign, channel, journey, segment): there the 30-minute collapse can never change the key of
 * the first or last touch, so one DISTINCT ON per conversion replaces the window functions of
 * RULE_REPORT. Same parameters; \$7 is unused but kept so both queries take one parameter list.
 */
export function firstLastReport(direction: 'asc' | 'desc'): string {
  const head = RULE_REPORT.slice(0, RULE_REPORT.indexOf('  ), collapsed as ('));
  return `${head}
  ), picked as (
    select distinct on (t.conversion_id) t.conversion_id, t.net, t.kind, t.campaign_id, t.url
    from touch t
    order by t.conversion_id, t.ts ${direction}, t.kind ${direction}, t.touch_id ${direction}
  ), rows as (
    select case $6 when 'campaign' then coalesce(p.campaign_id, '(none)')
                   when 'channel' then 'email:' || p.kind
                   when 'link' then coalesce(p.url, '(' || p.kind || ')')
                   when 'journey' then coalesce(cp.definition->>'journeyId', cp.definition->>'journey', '(none)')
                   else coalesce(cp.definition->'audience'->>'segment', cp.definition->'audience'->>'list',
                                 cp.definition->'audience'->>'source', '(none)') end as key,
           count(*)::float8 as conversions, sum(p.net)::bigint as value_minor
    from picked p left join campaigns cp on cp.id = p.campaign_id
    where $7::text is not null
    group by 1
  ${reportTail('picked')}`;
}

/** Net revenue (minor units, refunds subtracted) per resolved contact among $1, of conversions since $2. */
export const NET_REVENUE_BY_CONTACT = `
  with ${REFUNDS_CTE}
  select l.contact_id, sum(c.amount_minor - least(coalesce(rf.refunded, 0), c.amount_minor))::float8 as net
  from billing_conversions c
  join lateral (
    select contact_id from identity_links
    where key_kind = 'conversion' and key_value = c.id order by created_at, contact_id limit 1
  ) l on true
  left join refunds rf on rf.conversion_id = c.id
  where l.contact_id = any($1::text[]) and c.occurred_at >= $2
  group by l.contact_id`;
