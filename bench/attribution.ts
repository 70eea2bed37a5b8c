/**
 * Attribution at scale: `npm run bench -- attribution --size 10000000` puts N touchpoints
 * (engagement_events: 70 % clicks, 30 % opens of which a tenth are machine opens) over N/10
 * contacts and 50 campaigns, and N/100 conversions (100k at 10M) each linked to a contact, into
 * PostgreSQL (private schema, generated set-wise with generate_series, dropped afterwards), then
 * times the attribution report (by campaign, 30-day lookback) for each model, and a bare SQL
 * last-touch aggregate over the same rows as the baseline (docs/attribution.md says how each model
 * reads its data). Last line: seconds_by_model, seconds_total, last_touch_ratio.
 * With BENCH_ATTR_SCHEMA=bench_attr_NAME it loads into that schema once and keeps it for the next run.
 */
import { randomBytes } from 'node:crypto';
import { createAttributionService } from '../src/attribution/service.ts';
import { createBillingService } from '../src/billing/service.ts';
import { createSystemClock } from '../src/clock/system.ts';
import type { ReportModel } from '../src/core/attribution/journeys.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import type { Db } from '../src/store/port.ts';
import type { BenchArgs } from './run.ts';

const MODELS: ReportModel[] = [
  'last',
  'first',
  'linear',
  'time-decay',
  'u-shape',
  'w-shape',
  'full-path',
  'markov',
  'shapley',
];

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const touches = args.size ?? 1_000_000;
  const contacts = Math.max(10, Math.floor(touches / 10));
  const conversions = Math.max(1, Math.floor(touches / 100));
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  // BENCH_ATTR_SCHEMA keeps the loaded rows for the next run with the same name (iterating on queries)
  const kept = process.env.BENCH_ATTR_SCHEMA;
  if (kept !== undefined && !/^bench_attr_[a-z0-9_]+$/.test(kept)) throw new Error('BENCH_ATTR_SCHEMA: bench_attr_…');
  const schema = kept ?? `bench_attr_${randomBytes(4).toString('hex')}`;
  const db = await createPostgresDb({ url, schema, maxConnections: 4 });
  const log = (s: string) => process.stderr.write(`${new Date().toISOString()} ${s}\n`);
  try {
    await migrate(db);
    const loadStart = performance.now();
    const present = await db.query<{ n: number }>('select count(*)::int as n from billing_conversions');
    if ((present.rows[0]?.n ?? 0) === 0) await load(db, touches, contacts, conversions, log);
    else log(`reusing the rows in ${schema}`);
    const loadSeconds = (performance.now() - loadStart) / 1000;
    log(`loaded in ${loadSeconds.toFixed(1)} s`);

    // the baseline: a bare SQL last-touch aggregate (no hygiene, no refunds, no rounding)
    const baseStart = performance.now();
    const base = await db.query<{ n: number }>(
      `select count(*)::int as n from (
         select x.campaign_id, count(*), sum(x.amount_minor) from (
           select distinct on (c.id) c.id, e.campaign_id, c.amount_minor
           from billing_conversions c
           join identity_links l on l.key_kind = 'conversion' and l.key_value = c.id
           join engagement_events e on e.contact_id = l.contact_id
             and e.occurred_at <= c.occurred_at and e.occurred_at >= c.occurred_at - interval '30 days'
           order by c.id, e.occurred_at desc
         ) x group by 1) y`,
    );
    const baselineSeconds = (performance.now() - baseStart) / 1000;
    log(`baseline last touch ${baselineSeconds.toFixed(2)} s (${base.rows[0]?.n} campaigns)`);

    const clock = createSystemClock();
    const billing = createBillingService({ db, clock });
    const attribution = createAttributionService({ db, billing });
    // untimed: opens the pool's connections and runs the first identity pass, as a running server has
    await attribution.report({
      from: new Date('2000-01-01'),
      to: new Date('2000-01-02'),
      model: 'last',
      groupBy: 'campaign',
    });
    const secondsByModel: Record<string, number> = {};
    const attributed: Record<string, number> = {};
    for (const model of MODELS) {
      const t0 = performance.now();
      const r = await attribution.report({
        from: new Date('2026-01-01'),
        to: new Date('2026-03-02'),
        model,
        groupBy: 'campaign',
      });
      secondsByModel[model] = Number(((performance.now() - t0) / 1000).toFixed(3));
      attributed[model] = r.totals.attributedConversions;
      const sum = r.rows.reduce((s, x) => s + x.valueMinor, 0);
      if (sum !== r.totals.attributedMinor) throw new Error(`${model}: rows sum ${sum} != ${r.totals.attributedMinor}`);
      log(`${model}: ${secondsByModel[model]} s, ${r.totals.attributedConversions} conversions attributed`);
    }
    const secondsTotal = Object.values(secondsByModel).reduce((a, b) => a + b, 0);
    return {
      touches,
      conversions,
      contacts,
      load_seconds: Number(loadSeconds.toFixed(1)),
      baseline_last_touch_seconds: Number(baselineSeconds.toFixed(3)),
      seconds_by_model: secondsByModel,
      seconds_total: Number(secondsTotal.toFixed(3)),
      last_touch_ratio: Number(((secondsByModel.last as number) / baselineSeconds).toFixed(2)),
      attributed_conversions: attributed,
    };
  } finally {
    if (kept === undefined) await db.exec(`drop schema if exists ${schema} cascade`).catch(() => {});
    await db.close();
  }
}

/**
 * The rows, set-wise. The touches go into engagement_events without its indexes (dropped first,
 * rebuilt after): one sort per index instead of 10M random index inserts.
 */
async function load(db: Db, touches: number, contacts: number, conversions: number, log: (s: string) => void) {
  const loadStart = performance.now();
  const idx = await db.query<{ name: string; def: string; pk: boolean }>(
    `select i.relname as name, pg_get_indexdef(x.indexrelid) as def, x.indisprimary as pk
     from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
     where t.relname = 'engagement_events' and t.relnamespace = current_schema()::regnamespace`,
  );
  for (const i of idx.rows) {
    await db.exec(i.pk ? `alter table engagement_events drop constraint ${i.name}` : `drop index ${i.name}`);
  }
  // 60 days of touches before 2026-03-01; conversions in the last 30 of them
  await db.query(
    `insert into engagement_events
         (source_id, type, provider, occurred_at, received_at, contact_id, campaign_id, url, is_machine)
       select 'b' || g, case when g % 10 < 7 then 'clicked' else 'opened' end, 'bench',
              timestamptz '2026-01-01' + (hashint8(g) % 5184000 + 5184000) % 5184000 * interval '1 second',
              timestamptz '2026-03-01', 'c' || (g % $2), 'cmp' || (hashint8(g * 7) % 50 + 50) % 50,
              case when g % 10 < 7 then 'https://x.example/' || g % 20 end, g % 10 = 9
       from generate_series(1, $1::bigint) g`,
    [touches, contacts],
  );
  for (const i of idx.rows) {
    await db.exec(i.pk ? `alter table engagement_events add constraint ${i.name} primary key (source_id)` : i.def);
  }
  log(`touches loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);
  // every 10th contact converts once
  await db.query(
    `insert into billing_conversions (id, source, customer_id, amount_minor, currency, occurred_at, event_id)
       select 'conv' || g, 'sql', 'cust' || g, 1000 + g % 9000, 'usd',
              timestamptz '2026-01-31' + (hashint8(g * 3) % 2592000 + 2592000) % 2592000 * interval '1 second', 'bench'
       from generate_series(1, $1::bigint) g`,
    [conversions],
  );
  await db.query(
    `insert into identity_links (key_kind, key_value, contact_id, rule, evidence, created_at)
       select 'conversion', 'conv' || g, 'c' || ((g * 10) % $2), 'bench', '{}', now()
       from generate_series(1, $1::bigint) g`,
    [conversions, contacts],
  );
  await db.exec('analyze');
}
