/** The attribution service's SQL (private to src/attribution). */
import { REFUNDS_CTE } from '../billing/refunds-sql.ts';

/** The group key of a touch `k` joined to its campaign `cp`, by $6 (campaign | channel | link | journey | segment). */
const KEY = `case $6 when 'campaign' then coalesce(k.campaign_id, '(none)')
                   when 'channel' then 'email:' || k.kind
                   when 'link' then coalesce(k.url, '(' || k.kind || ')')
                   when 'journey' then coalesce(cp.definition->>'journeyId', cp.definition->>'journey', '(none)')
                   else coalesce(cp.definition->'audience'->>'segment', cp.definition->'audience'->>'list',
                                 cp.definition->'audience'->>'source', '(none)') end`;

/** Engagement type → touch kind. */
const KIND = `case e.type when 'opened' then 'open' when 'clicked' then 'click' else 'reply' end`;

/**
 * The conversions of [$1, $2) in currency $7 with their net value and resolved contact, and every touch of each
 * in its window ($3 lookback, $4 for human opens; sends with $5). The touches are read per
 * conversion through the (contact_id, occurred_at) index; `offset 0` keeps that lateral from being
 * flattened into a hash join over every touch of the period.
 */
const CONV_AND_TOUCH = `${REFUNDS_CTE}, conv as (
    select c.id, c.occurred_at as ts, c.amount_minor as gross,
           least(coalesce(rf.refunded, 0), c.amount_minor)::bigint as refunded, l.contact_id
    from billing_conversions c
    left join refunds rf on rf.conversion_id = c.id
    left join lateral (
      select contact_id from identity_links
      where key_kind = 'conversion' and key_value = c.id order by created_at, contact_id limit 1
    ) l on true
    where c.occurred_at >= $1 and c.occurred_at < $2 and lower(c.currency) = $7
  ), touch as (
    select v.id as conversion_id, v.gross - v.refunded as net, v.ts as conv_ts, t.*
    from conv v cross join lateral (
      select * from (
        select e.occurred_at as ts, ${KIND} as kind, e.campaign_id, e.url, e.source_id as touch_id
        from engagement_events e
        where e.contact_id = v.contact_id and e.type in ('opened', 'clicked', 'replied') and not e.is_machine
          and e.occurred_at <= v.ts and e.occurred_at >= v.ts - greatest($3::interval, $4::interval)
          and e.occurred_at >= v.ts - case when e.type = 'opened' then $4::interval else $3::interval end
        union all
        select s.sent_at, 'send', s.campaign_id, null, 'send:' || s.campaign_id
        from send_ledger s
        where $5 and s.contact_id = v.contact_id and s.sent_at <= v.ts and s.sent_at >= v.ts - $3::interval
      ) u offset 0
    ) t
  ), collapsed as (
    select t.*, lag(t.ts) over (partition by t.conversion_id, t.kind, t.campaign_id order by t.ts, t.touch_id) as prev
    from touch t
  ), kept as (
    select c.*,
           row_number() over (partition by c.conversion_id order by c.ts, c.kind, c.touch_id) as pos,
           count(*) over (partition by c.conversion_id) as n
    from collapsed c where c.prev is null or c.ts - c.prev > interval '30 minutes'
  )`;

/**
 * The end every report shares: totals over every conversion of the period (attributed: those
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
 * First, last and linear credit computed set-wise in the database: the same conversions, windows,
 * machine exclusion and 30-minute collapse as the in-memory models, grouped by $6. Linear money
 * is split with largest remainders (ties to the earlier touch), so groups sum to the net exactly.
 * $1 from, $2 to, $3 lookback, $4 open lookback (intervals), $5 include sends, $7 currency, $8 model.
 */
export const RULE_REPORT = `
  with ${CONV_AND_TOUCH}, credited as (
    select k.*, ${KEY} as key,
           case $8 when 'first' then (k.pos = 1)::int::float8
                   when 'last' then (k.pos = k.n)::int::float8
                   else 1.0 / k.n end as share,
           case $8 when 'first' then case when k.pos = 1 then k.net else 0 end
                   when 'last' then case when k.pos = k.n then k.net else 0 end
                   else div(k.net, k.n) + case when k.pos <= mod(k.net, k.n) then 1 else 0 end end as minor
    from kept k left join campaigns cp on cp.id = k.campaign_id
    where $8 = 'linear' or ($8 = 'first' and k.pos = 1) or ($8 = 'last' and k.pos = k.n)
  ), rows as (
    select key, sum(share)::float8 as conversions, sum(minor)::bigint as value_minor from credited group by key
  ), attributed as (
    select conversion_id from kept group by conversion_id
  ${reportTail('attributed')}`;

/** No touch of the same kind and campaign as `e` in its window up to 30 minutes before it: the collapse keeps `e`. */
const KEPT_EVENT = `not exists (
        select 1 from engagement_events d
        where d.contact_id = e.contact_id and d.type = e.type and d.campaign_id is not distinct from e.campaign_id
          and not d.is_machine and d.occurred_at <= e.occurred_at
          and d.occurred_at >= e.occurred_at - interval '30 minutes'
          and (d.occurred_at < e.occurred_at or d.source_id < e.source_id)
          and d.occurred_at >= v.ts - case when d.type = 'opened' then $4::interval else $3::interval end)`;

/**
 * First or last touch, shaped like a bare last-touch aggregate so it plans the same way (one
 * parallel hash join of the period's conversions and their contacts' touches, one sort): the
 * newest (oldest) touch in each conversion's window. When the 30-minute collapse drops that
 * touch (a same kind and campaign touch shortly before it; rare), that conversion's kept touch
 * is found by an index probe instead. Same result as RULE_REPORT for every grouping. Same
 * parameters; $8 is unused but kept so both queries take one parameter list.
 */
export function firstLastReport(direction: 'asc' | 'desc'): string {
  return `
  with ${REFUNDS_CTE}, link as (
    select l.key_value as conversion_id, l.contact_id from identity_links l
    where l.key_kind = 'conversion' and not exists (
      select 1 from identity_links o
      where o.key_kind = 'conversion' and o.key_value = l.key_value
        and (o.created_at, o.contact_id) < (l.created_at, l.contact_id))
  ), raw as (
    select distinct on (t.conversion_id) t.* from (
      select c.id as conversion_id, c.occurred_at as conv_ts, e.occurred_at as ts, ${KIND} as kind, e.type,
             e.campaign_id, e.url, e.source_id as touch_id, l.contact_id
      from billing_conversions c
      join link l on l.conversion_id = c.id
      join engagement_events e on e.contact_id = l.contact_id
      where c.occurred_at >= $1 and c.occurred_at < $2 and lower(c.currency) = $7
        and e.type in ('opened', 'clicked', 'replied') and not e.is_machine
        and e.occurred_at <= c.occurred_at and e.occurred_at >= c.occurred_at - greatest($3::interval, $4::interval)
        and e.occurred_at >= c.occurred_at - case when e.type = 'opened' then $4::interval else $3::interval end
      union all
      select c.id, c.occurred_at, s.sent_at, 'send', null, s.campaign_id, null, 'send:' || s.campaign_id, l.contact_id
      from billing_conversions c
      join link l on l.conversion_id = c.id
      join send_ledger s on s.contact_id = l.contact_id
      where $5 and c.occurred_at >= $1 and c.occurred_at < $2 and lower(c.currency) = $7
        and s.sent_at <= c.occurred_at and s.sent_at >= c.occurred_at - $3::interval
    ) t
    order by t.conversion_id, t.ts ${direction}, t.kind ${direction}, t.touch_id ${direction}
  ), checked as (
    select r.*, r.type is null or not exists (
      select 1 from engagement_events d
      where d.contact_id = r.contact_id and d.type = r.type and d.campaign_id is not distinct from r.campaign_id
        and not d.is_machine and d.occurred_at <= r.ts and d.occurred_at >= r.ts - interval '30 minutes'
        and (d.occurred_at < r.ts or d.source_id < r.touch_id)
        and d.occurred_at >= r.conv_ts - case when d.type = 'opened' then $4::interval else $3::interval end
    ) as kept
    from raw r
  ), picked as (
    select r.conversion_id, r.kind, r.campaign_id, r.url from checked r where r.kept
    union all
    select v.conversion_id, p.kind, p.campaign_id, p.url
    from (select r.conversion_id, r.conv_ts as ts, r.contact_id from checked r where not r.kept
    ) v cross join lateral (
      select * from (
        (select e.occurred_at as ts, ${KIND} as kind, e.campaign_id, e.url, e.source_id as touch_id
         from engagement_events e
         where e.contact_id = v.contact_id and e.type in ('opened', 'clicked', 'replied') and not e.is_machine
           and e.occurred_at <= v.ts and e.occurred_at >= v.ts - greatest($3::interval, $4::interval)
           and e.occurred_at >= v.ts - case when e.type = 'opened' then $4::interval else $3::interval end
           and ${KEPT_EVENT}
         order by 1 ${direction}, 2 ${direction}, 5 ${direction} limit 1)
        union all
        (select s.sent_at, 'send', s.campaign_id, null, 'send:' || s.campaign_id
         from send_ledger s
         where $5 and s.contact_id = v.contact_id and s.sent_at <= v.ts and s.sent_at >= v.ts - $3::interval
         order by 1 ${direction}, 5 ${direction} limit 1)
      ) u order by 1 ${direction}, 2 ${direction}, 5 ${direction} limit 1
    ) p
  ), conv as (
    select c.id, c.amount_minor as gross, least(coalesce(rf.refunded, 0), c.amount_minor)::bigint as refunded
    from billing_conversions c left join refunds rf on rf.conversion_id = c.id
    where c.occurred_at >= $1 and c.occurred_at < $2 and lower(c.currency) = $7
  ), rows as (
    select ${KEY.replaceAll('k.', 'p.')} as key,
           count(*)::float8 as conversions, sum(v.gross - v.refunded)::bigint as value_minor
    from picked p join conv v on v.id = p.conversion_id left join campaigns cp on cp.id = p.campaign_id
    where $8::text is not null
    group by 1
  ${reportTail('picked')}`;
}

/**
 * The journeys for the in-memory rule models (time-decay, U, W, full path, positions): one row
 * per attributed conversion with its kept touches' group keys and times (epoch ms) in order, and
 * the totals row. Same parameters as RULE_REPORT without $8.
 */
export const JOURNEYS = `
  with ${CONV_AND_TOUCH}, keyed as (
    select k.conversion_id, k.net, k.conv_ts, k.pos, k.ts, ${KEY} as key
    from kept k left join campaigns cp on cp.id = k.campaign_id
  ), journeys as (
    select conversion_id, net, conv_ts, array_agg(key order by pos) as keys,
           array_agg(floor(extract(epoch from ts) * 1000)::float8 order by pos) as ts
    from keyed group by conversion_id, net, conv_ts
  ), attributed as (
    select conversion_id from journeys
  ${journeyTail(
    'journeys',
    `'j' as kind, keys, ts, floor(extract(epoch from conv_ts) * 1000)::float8 as conv_ts, net as value,
     1::bigint as count`,
  )}`;

/**
 * Shapley's input aggregated in the database: one row per distinct set of group keys among the
 * attributed journeys, with how many converted and their net value. Same parameters as JOURNEYS.
 */
export const SHAPLEY_SETS = `
  with ${CONV_AND_TOUCH}, journeys as (
    select k.conversion_id, k.net, array_agg(distinct ${KEY} order by ${KEY}) as keys
    from kept k left join campaigns cp on cp.id = k.campaign_id
    group by k.conversion_id, k.net
  ), sets as (
    select keys, count(*)::bigint as conversions, sum(net)::bigint as value from journeys group by keys
  ), attributed as (
    select conversion_id from journeys
  ${journeyTail(
    'sets',
    `'s' as kind, keys, null::float8[] as ts, null::float8 as conv_ts, value, conversions as count`,
  )}`;

/**
 * The first-order Markov chain's counts aggregated in the database (paths of 50 campaigns are
 * nearly all distinct, so only the transitions shrink them): the transitions between group keys
 * of the converting journeys (consecutive repeats collapsed) and of the non-converting contacts'
 * touches in [$1 − $3, $2) (opens included, sends with $5), and per last key the conversions,
 * their net value and the nulls. kind 'edge' (a → b, a null for start), 'conv' (a, n, value),
 * 'null' (a, n). Same parameters as JOURNEYS.
 */
export const MARKOV_COUNTS = `
  with ${CONV_AND_TOUCH}, keyed as (
    select k.conversion_id, k.net, k.pos, ${KEY} as key
    from kept k left join campaigns cp on cp.id = k.campaign_id
  ), steps as (
    select key, lag(key) over (partition by conversion_id order by pos) as prev,
           lead(key) over (partition by conversion_id order by pos) as next, net
    from keyed
  ), nt as (
    select e.contact_id, e.occurred_at as ts, ${KIND} as kind, e.campaign_id, e.url, e.source_id as touch_id
    from engagement_events e
    where e.contact_id is not null and e.type in ('opened', 'clicked', 'replied') and not e.is_machine
      and e.occurred_at >= $1::timestamptz - $3::interval and e.occurred_at < $2
      and not exists (select 1 from conv where conv.contact_id = e.contact_id)
    union all
    select s.contact_id, s.sent_at, 'send', s.campaign_id, null, 'send:' || s.campaign_id
    from send_ledger s
    where $5 and s.sent_at >= $1::timestamptz - $3::interval and s.sent_at < $2
      and not exists (select 1 from conv where conv.contact_id = s.contact_id)
  ), nsteps as (
    select x.key, lag(x.key) over w as prev, lead(x.key) over w as next
    from (select k.*, ${KEY} as key from nt k left join campaigns cp on cp.id = k.campaign_id) x
    window w as (partition by x.contact_id order by x.ts, x.kind, x.touch_id)
  ), nagg as (
    select prev, key, next is null as last, count(*)::float8 as n from nsteps
    where prev is distinct from key or next is null
    group by 1, 2, 3
  ), rows as (
    select 'edge' as kind, prev as a, key as b, sum(n)::float8 as n, null::bigint as value from (
      select prev, key, count(*)::float8 as n from steps where prev is distinct from key group by 1, 2
      union all
      select prev, key, n from nagg where prev is distinct from key
    ) x group by prev, key
    union all
    select 'conv', key, null, count(*)::float8, sum(net)::bigint from steps where next is null group by key
    union all
    select 'null', key, null, sum(n)::float8, null from nagg where last group by key
  ), attributed as (
    select conversion_id from keyed group by conversion_id
  ), totals as (
    select count(*)::int as conversions, coalesce(sum(gross), 0)::bigint as gross,
           coalesce(sum(refunded), 0)::bigint as refunded,
           count(x.conversion_id)::int as attributed,
           coalesce(sum(gross - refunded) filter (where x.conversion_id is not null), 0)::bigint as attributed_minor
    from conv left join attributed x on x.conversion_id = conv.id
  )
  select kind, a, b, n, value, null::int as n1, null::bigint as n2, null::bigint as n3, null::int as n4,
         null::bigint as n5 from rows
  union all
  select 'totals', null, null, null, null, conversions, gross, refunded, attributed, attributed_minor from totals`;

/**
 * The end of JOURNEYS and SHAPLEY_SETS: the rows of `rows` as (kind, keys, ts, conv_ts, value,
 * count) given by `columns`, then the totals over every conversion of the period (attributed:
 * those in the CTE `attributed`).
 */
function journeyTail(rows: string, columns: string): string {
  return `), totals as (
    select count(*)::int as conversions, coalesce(sum(gross), 0)::bigint as gross,
           coalesce(sum(refunded), 0)::bigint as refunded,
           count(x.conversion_id)::int as attributed,
           coalesce(sum(gross - refunded) filter (where x.conversion_id is not null), 0)::bigint as attributed_minor
    from conv left join attributed x on x.conversion_id = conv.id
  )
  select ${columns}, null::int as n1, null::bigint as n2, null::bigint as n3, null::int as n4, null::bigint as n5
  from ${rows}
  union all
  select 'totals', null, null, null, null, null, conversions, gross, refunded, attributed, attributed_minor
  from totals`;
}

/** Net revenue (minor units, refunds subtracted) per resolved contact among $1 of conversions since $2 in $3. */
export const NET_REVENUE_BY_CONTACT = `
  with ${REFUNDS_CTE}
  select l.contact_id, sum(c.amount_minor - least(coalesce(rf.refunded, 0), c.amount_minor))::float8 as net
  from billing_conversions c
  join lateral (
    select contact_id from identity_links
    where key_kind = 'conversion' and key_value = c.id order by created_at, contact_id limit 1
  ) l on true
  left join refunds rf on rf.conversion_id = c.id
  where l.contact_id = any($1::text[]) and c.occurred_at >= $2 and lower(c.currency) = $3
  group by l.contact_id`;

/** Conversions of [$1, $2) in other currencies than $3 (not summed into a report): count and net per currency. */
export const OTHER_CURRENCIES = `
  with ${REFUNDS_CTE}
  select lower(c.currency) as currency, count(*)::int as conversions,
         sum(c.amount_minor - least(coalesce(rf.refunded, 0), c.amount_minor))::bigint as net
  from billing_conversions c left join refunds rf on rf.conversion_id = c.id
  where c.occurred_at >= $1 and c.occurred_at < $2 and lower(c.currency) <> $3
  group by 1 order by 1`;
