/** The anomaly detector's SQL (tables anomaly_runs, anomalies: migration 0050). Private to src/anomalies/. */
import { REFUNDS_CTE } from '../billing/refunds-sql.ts';
import type { Queryable } from '../store/port.ts';

/**
 * Counts per (campaign | segment | overall, metric, bucket) in one statement: sends from the ledger,
 * human opens and clicks (machine ones excluded), bounces, complaints and unsubscribes from the
 * engagement events, and net revenue (refunds subtracted) of conversions — overall for all of them,
 * per campaign and segment through the contact's last human click in the 30 days before (the
 * last-touch rule of the attribution report). Only non-zero buckets come back; grouping sets give
 * the three scopes from one pass. $1 'day' | 'hour', $2 from (inclusive), $3 to (exclusive), $4 the
 * revenue's currency (other currencies' conversions are left out, never summed in).
 */
export const SERIES = `
  with ${REFUNDS_CTE}, facts as (
    select s.campaign_id, 'sends' as metric, date_trunc($1, s.sent_at, 'UTC') as bucket, 1::float8 as value
    from send_ledger s
    where s.sent_at >= $2 and s.sent_at < $3
    union all
    select e.campaign_id,
           case e.type when 'opened' then 'human_opens' when 'clicked' then 'clicks'
                       when 'complained' then 'complaints' when 'unsubscribed' then 'unsubscribes'
                       else 'bounces' end,
           date_trunc($1, e.occurred_at, 'UTC'), 1::float8
    from engagement_events e
    where e.occurred_at >= $2 and e.occurred_at < $3
      and (e.type in ('bounced_hard', 'bounced_soft', 'complained', 'unsubscribed')
           or (e.type in ('opened', 'clicked') and not e.is_machine))
    union all
    select lc.campaign_id, 'revenue', date_trunc($1, c.occurred_at, 'UTC'),
           (c.amount_minor - least(coalesce(rf.refunded, 0), c.amount_minor))::float8
    from billing_conversions c
    left join refunds rf on rf.conversion_id = c.id
    left join lateral (
      select contact_id from identity_links
      where key_kind = 'conversion' and key_value = c.id order by created_at, contact_id limit 1
    ) l on true
    left join lateral (
      select e.campaign_id from engagement_events e
      where e.contact_id = l.contact_id and e.type = 'clicked' and not e.is_machine
        and e.occurred_at <= c.occurred_at and e.occurred_at >= c.occurred_at - interval '30 days'
      order by e.occurred_at desc, e.source_id desc limit 1
    ) lc on true
    where c.occurred_at >= $2 and c.occurred_at < $3 and lower(c.currency) = $4
  ), tagged as (
    select f.campaign_id, f.metric, f.bucket, f.value,
           case when f.campaign_id is null then null
                else coalesce(cp.definition->'audience'->>'segment', cp.definition->'audience'->>'list',
                              cp.definition->'audience'->>'source', '(none)') end as segment
    from facts f left join campaigns cp on cp.id = f.campaign_id
  )
  select case when grouping(campaign_id) = 0 then 'campaign'
              when grouping(segment) = 0 then 'segment' else 'overall' end as scope,
         coalesce(campaign_id, segment, 'all') as key, metric, bucket, sum(value)::float8 as value
  from tagged
  group by grouping sets ((metric, bucket, campaign_id), (metric, bucket, segment), (metric, bucket))
  having (grouping(campaign_id) = 1 or campaign_id is not null) and (grouping(segment) = 1 or segment is not null)`;

export interface SeriesRow {
  scope: 'campaign' | 'segment' | 'overall';
  key: string;
  metric: string;
  bucket: Date;
  value: number;
}

/** Creates the run row at `initial` unless it exists, then locks it: one judge per granularity at a time. */
export async function lockRun(tx: Queryable, granularity: string, initial: Date, at: Date): Promise<Date> {
  await tx.query(
    `insert into anomaly_runs (granularity, last_bucket, ran_at) values ($1, $2, $3) on conflict do nothing`,
    [granularity, initial, at],
  );
  const { rows } = await tx.query<{ last_bucket: Date }>(
    'select last_bucket from anomaly_runs where granularity = $1 for update',
    [granularity],
  );
  return (rows[0] as { last_bucket: Date }).last_bucket;
}

export async function advanceRun(tx: Queryable, granularity: string, lastBucket: Date, at: Date): Promise<void> {
  await tx.query('update anomaly_runs set last_bucket = $2, ran_at = $3 where granularity = $1', [
    granularity,
    lastBucket,
    at,
  ]);
}

export interface AnomalyInsert {
  id: string;
  granularity: string;
  scope: string;
  key: string;
  metric: string;
  bucket: Date;
  value: number;
  baseline: number;
  score: number;
  direction: string;
  performance: string;
}

/** Stores the anomalies set-wise; returns the ids that were new (a repeat of one (series, bucket) is a no-op). */
export async function insertAnomalies(tx: Queryable, items: readonly AnomalyInsert[], at: Date): Promise<string[]> {
  if (items.length === 0) return [];
  const { rows } = await tx.query<{ id: string }>(
    `insert into anomalies (id, granularity, scope, scope_key, metric, bucket, value, baseline, score, direction,
                            performance, detected_at)
     select x.*, $12::timestamptz from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
       $6::timestamptz[], $7::float8[], $8::float8[], $9::float8[], $10::text[], $11::text[]) as x
     on conflict do nothing
     returning id`,
    [
      items.map((i) => i.id),
      items.map((i) => i.granularity),
      items.map((i) => i.scope),
      items.map((i) => i.key),
      items.map((i) => i.metric),
      items.map((i) => i.bucket),
      items.map((i) => i.value),
      items.map((i) => i.baseline),
      items.map((i) => i.score),
      items.map((i) => i.direction),
      items.map((i) => i.performance),
      at,
    ],
  );
  return rows.map((r) => r.id);
}

export interface AnomalyRow {
  id: string;
  granularity: 'day' | 'hour';
  scope: 'campaign' | 'segment' | 'overall';
  scope_key: string;
  metric: string;
  bucket: Date;
  value: number;
  baseline: number;
  score: number;
  direction: 'high' | 'low';
  performance: 'under' | 'over';
  detected_at: Date;
  notified_at: Date | null;
}

/** Newest first, filtered; $6 limit. Null filters match everything. */
export async function listAnomalies(
  db: Queryable,
  f: { from: Date | null; to: Date | null; scope: string | null; metric: string | null; granularity: string | null },
  limit: number,
): Promise<AnomalyRow[]> {
  const { rows } = await db.query<AnomalyRow>(
    `select * from anomalies
     where ($1::timestamptz is null or bucket >= $1) and ($2::timestamptz is null or bucket < $2)
       and ($3::text is null or scope = $3) and ($4::text is null or metric = $4)
       and ($5::text is null or granularity = $5)
     order by bucket desc, abs(score) desc, id limit $6`,
    [f.from, f.to, f.scope, f.metric, f.granularity, limit],
  );
  return rows;
}

/** The (granularity, bucket) groups that still owe an alert email, oldest first. */
export async function unnotifiedGroups(db: Queryable, limit: number): Promise<{ granularity: string; bucket: Date }[]> {
  const { rows } = await db.query<{ granularity: string; bucket: Date }>(
    `select granularity, bucket from anomalies where notified_at is null
     group by granularity, bucket order by bucket, granularity limit $1`,
    [limit],
  );
  return rows;
}

export async function anomaliesOfGroup(db: Queryable, granularity: string, bucket: Date): Promise<AnomalyRow[]> {
  const { rows } = await db.query<AnomalyRow>(
    `select * from anomalies where granularity = $1 and bucket = $2 order by abs(score) desc, id`,
    [granularity, bucket],
  );
  return rows;
}

export async function markNotified(db: Queryable, granularity: string, bucket: Date, at: Date): Promise<void> {
  await db.query(
    'update anomalies set notified_at = $3 where granularity = $1 and bucket = $2 and notified_at is null',
    [granularity, bucket, at],
  );
}
