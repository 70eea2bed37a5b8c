/**
 * `npm run bench -- lists [--size 1000000] [--changes=200000] [--batch=1000] [--analyse=false]` on PostgreSQL
 * (DATABASE_URL, else 127.0.0.1:5432/test; a private schema dropped at the end): `size` profiles,
 * 100 dynamic lists (one chain 15 deep hanging off `region = west`), then a stream of random
 * attribute changes applied through the profile service (merge, re-evaluation of the touched lists
 * in cascade order, history, outbox, bus). Before the stream, the contacts it touches get
 * memberships consistent with their profiles in all 100 lists (set-up SQL, no events). Figures,
 * each against a baseline of the same run:
 * - changes_per_s at full speed (two appliers, one per lane of contacts), and changes_ratio = that
 *   ÷ the rows/s of a bare batched upsert of the same changed profiles (batches of the same size,
 *   one statement each);
 * - p50_ms / p99_ms from a change accepted (handed to the service) to its last list event
 *   published, under a steady offered load of half the measured rate, through group commit, on
 *   the same contacts with fresh values;
 * - full_eval_ratio: a full evaluation of one new list over every profile, membership, history and
 *   events written, ÷ the bare SQL count(*) of the same predicate.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { createPostgresLogBus } from '../src/bus/postgres-log/adapter.ts';
import { createSystemClock } from '../src/clock/system.ts';
import { compileSql } from '../src/core/segments/sql.ts';
import type { SegmentCondition } from '../src/core/segments/types.ts';
import { createListService } from '../src/lists/service.ts';
import { createProfileService, type ProfileChange } from '../src/profiles/service.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import type { BenchArgs } from './run.ts';
import { mulberry32 } from '../src/connectors/esp/sandbox/prng.ts';

const REGIONS = ['west', 'east', 'north', 'south', 'central', 'emea', 'apac', 'latam'];
const PLANS = ['free', 'pro', 'team', 'enterprise'];

function listDefinitions(): { id: string; definition: SegmentCondition }[] {
  const out: { id: string; definition: SegmentCondition }[] = [];
  out.push({ id: 'west', definition: { attribute: 'region', equals: 'west' } });
  for (let i = 1; i <= 15; i++) {
    const reads = i === 1 ? 'west' : `chain-${i}`.replace(`${i}`, `${i - 1}`);
    out.push({
      id: `chain-${i}`,
      definition: i % 3 === 0 ? { and: [{ inList: reads }, { attribute: 'active', equals: true }] } : { inList: reads },
    });
  }
  const r = mulberry32(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  for (let i = out.length; i < 100; i++) {
    const base: SegmentCondition[] = [
      { attribute: 'region', in: [pick(REGIONS), pick(REGIONS)] },
      { attribute: 'score', range: { gte: Math.floor(r() * 900) } },
      { attribute: 'plan', equals: pick(PLANS) },
      { attribute: 'tier', in: [1 + Math.floor(r() * 5)] },
      { attribute: 'active', equals: r() < 0.5 },
      { attribute: 'company', matches: { startsWith: `co-${Math.floor(r() * 10)}` } },
    ];
    const a = pick(base);
    const b = pick(base);
    let definition: SegmentCondition = r() < 0.5 ? { and: [a, b] } : { or: [a, { not: b }] };
    // a third of them read an earlier list, so cascades also fan out
    if (i > 20 && r() < 0.33) definition = { and: [{ inList: out[Math.floor(r() * (i - 1))]?.id ?? 'west' }, a] };
    out.push({ id: `list-${i}`, definition });
  }
  return out;
}

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const size = args.size ?? 1_000_000;
  const changesN = Number(args.options.changes ?? Math.min(200_000, size));
  const batch = Number(args.options.batch ?? 1000);
  const analyse = args.options.analyse !== 'false';
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_lists_${randomBytes(4).toString('hex')}`;
  const db = await createPostgresDb({ url, schema, maxConnections: 6 });
  const log = pino({ level: 'silent' });
  const clock = createSystemClock();
  try {
    await migrate(db);
    const bus = createPostgresLogBus({ db, clock });
    const lists = createListService({ db, bus, clock, log });
    const profiles = createProfileService({ db, bus, clock, log, lists });

    // seed: set-wise in SQL; ids zero-padded so contact order is numeric order
    const t0 = performance.now();
    await db.query(
      `insert into contact_profiles
         (contact_id, email, warehouse_id, attributes, attribute_versions, created_at, updated_at)
       select lpad(i::text, 8, '0'), 'p' || i || '@example.com', lpad(i::text, 8, '0'),
         jsonb_build_object('region', (array['west','east','north','south','central','emea','apac','latam'])[1 + i % 8],
           'score', (i::int8 * 7919) % 1000, 'plan', (array['free','pro','team','enterprise'])[1 + (i / 8) % 4],
           'tier', 1 + (i / 3) % 5, 'active', i % 3 <> 0, 'company', 'co-' || (i % 97)),
         '{}', now(), now()
       from generate_series(1, $1::int) as i`,
      [size],
    );
    await db.query('analyze contact_profiles');
    const seedMs = performance.now() - t0;
    const defs = listDefinitions();
    for (const d of defs)
      await lists.create({ id: d.id, name: d.id, kind: 'dynamic', definition: d.definition }, { build: false });
    // the chain's members exist before the stream, so moving a contact out of `west` cascades.
    // Set-up only, written directly (no events): west = region west, each link = the link before
    // it, links 3, 6, … also `active` (what listDefinitions says); a rebuild of 16 lists over 1M
    // profiles would take most of the run.
    const tb = performance.now();
    await db.query(
      `insert into list_members (list_id, contact_id, entered_at)
       select l.id, p.contact_id, now() from contact_profiles p
       cross join generate_series(0, 15) as g(n)
       cross join lateral (select case when g.n = 0 then 'west' else 'chain-' || g.n end as id) l
       where p.attributes ->> 'region' = 'west' and (g.n < 3 or (p.attributes -> 'active') = 'true'::jsonb)`,
    );
    const chainBuildMs = performance.now() - tb;

    // the change stream: random attribute of a random contact, times increasing
    const r = mulberry32(42); // seeded, so two runs stream the same changes
    let at = Date.now();
    const makeChange = (n: number): ProfileChange => {
      const id = String(1 + Math.floor(r() * size)).padStart(8, '0');
      const k = Math.floor(r() * 5);
      const attributes: Record<string, unknown> =
        k === 0
          ? { region: REGIONS[Math.floor(r() * REGIONS.length)] }
          : k === 1
            ? { score: Math.floor(r() * 1000) }
            : k === 2
              ? { plan: PLANS[Math.floor(r() * PLANS.length)] }
              : k === 3
                ? { tier: 1 + Math.floor(r() * 5) }
                : { active: r() < 0.5 };
      at += 1;
      return { changeId: `b${n}`, source: 'bench', contactId: id, attributes, at };
    };
    const stream = Array.from({ length: changesN }, (_, n) => makeChange(n));
    // The contacts the stream touches get memberships consistent with their profiles in every list
    // first, as a running system's are (set-up, in dependency order, no events): otherwise a
    // contact's first change also takes it into every list it already matches, and the stream
    // measures list building instead of change handling. The chain is consistent already.
    const touched = [...new Set(stream.map((c) => c.contactId as string))];
    const tc = performance.now();
    for (const d of defs) {
      const pred = compileSql(d.definition, { now: new Date(), firstParam: 3 });
      await db.query(
        `insert into list_members (list_id, contact_id, entered_at)
         select $1, p.contact_id, now() from contact_profiles p
         where p.contact_id = any($2::text[]) and ${pred.sql}
         on conflict do nothing`,
        [d.id, touched, ...pred.params],
      );
    }
    // as autovacuum leaves a running system's tables: analysed (the plans of both the change
    // stream's membership read and a rebuild's member writes depend on these statistics);
    // --analyse=false keeps the bulk-loaded table without statistics (the state before)
    if (analyse) await db.query('analyze list_members');
    const consistentMs = performance.now() - tc;
    const batches: ProfileChange[][] = [];
    for (let i = 0; i < stream.length; i += batch) batches.push(stream.slice(i, i + batch));

    const restamp = (c: ProfileChange, n: number): ProfileChange => {
      at += 1;
      return { ...c, changeId: `${c.changeId}:${n}`, at };
    };

    // throughput: two appliers at full speed (PostgreSQL runs two transactions at once), each
    // taking the changes of its own contacts in batches (a feed partitioned by contact): appliers
    // whose batches share contacts wait for each other's profile locks and run one after the other
    let events = 0;
    const laneBatches = [0, 1].map((lane) => {
      const mine = stream.filter((c) => Number(c.contactId) % 2 === lane);
      const out: ProfileChange[][] = [];
      for (let i = 0; i < mine.length; i += batch) out.push(mine.slice(i, i + batch));
      return out;
    });
    const tRun = performance.now();
    const worker = async (own: ProfileChange[][]) => {
      for (const b of own) {
        const res = await profiles.applyChanges(b.map((c) => restamp(c, 1)));
        events += res.entered + res.exited;
      }
    };
    await Promise.all(laneBatches.map(worker));
    const changesPerS = changesN / ((performance.now() - tRun) / 1000);

    // after the measured stream (so that stream changes real values): the same profiles, bare
    const tBase = performance.now();
    for (const batchChanges of batches) {
      // one row per contact per statement (an upsert cannot touch a row twice): patches merged
      const merged = new Map<string, Record<string, unknown>>();
      for (const c of batchChanges)
        merged.set(c.contactId as string, { ...merged.get(c.contactId as string), ...c.attributes });
      const b = [...merged].map(([contactId, attributes]) => ({ contactId, attributes }));
      await db.query(
        `insert into contact_profiles as p (contact_id, attributes, created_at, updated_at)
         select id, patch::jsonb, now(), now() from unnest($1::text[], $2::text[]) as x(id, patch)
         on conflict (contact_id) do update set attributes = p.attributes || excluded.attributes, updated_at = now()`,
        [b.map((c) => c.contactId), b.map((c) => JSON.stringify(c.attributes))],
      );
    }
    const baseRowsPerS = changesN / ((performance.now() - tBase) / 1000);

    // latency: a steady offered load of half that rate, through group commit
    const latN = Math.min(changesN, Math.round(changesPerS * 10));
    const offered = changesPerS / 2;
    const latencies: number[] = [];
    const pending: Promise<void>[] = [];
    const tLat = performance.now();
    for (let n = 0; n < latN; n++) {
      const due = tLat + (n / offered) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((res) => setTimeout(res, wait));
      // fresh values, so latency covers real transitions and their cascades
      const change = restamp({ ...makeChange(changesN + n), contactId: touched[n % touched.length] as string }, 2);
      const accepted = performance.now();
      pending.push(
        profiles.submit([change]).then(() => {
          latencies.push(performance.now() - accepted);
        }),
      );
    }
    await Promise.all(pending);
    latencies.sort((a, b) => a - b);
    const pct = (p: number) =>
      Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0) * 10) / 10;

    // full evaluation of one new list against a bare count(*) of its predicate
    const fullDef: SegmentCondition = {
      and: [
        { attribute: 'tier', in: [4, 5] },
        { attribute: 'score', range: { gte: 500 } },
      ],
    };
    const sql = compileSql(fullDef, { now: new Date() });
    const tCount = performance.now();
    const counted = await db.query<{ n: number }>(
      `select count(*)::int8 as n from contact_profiles p where ${sql.sql}`,
      sql.params,
    );
    const countMs = performance.now() - tCount;
    await lists.create({ id: 'full-eval', name: 'full-eval', kind: 'dynamic', definition: fullDef }, { build: false });
    const tFull = performance.now();
    // in the service's own chunks (REBUILD_CHUNK), events published before it returns
    const written = await lists.rebuild('full-eval');
    const fullMs = performance.now() - tFull;

    return {
      profiles: size,
      lists: defs.length,
      analysed: analyse,
      chain_depth: 15,
      changes: changesN,
      batch,
      changes_per_s: Math.round(changesPerS),
      baseline_upsert_rows_per_s: Math.round(baseRowsPerS),
      changes_ratio: Math.round((changesPerS / baseRowsPerS) * 1000) / 1000,
      list_events: events,
      latency_changes: latN,
      offered_per_s: Math.round(offered),
      p50_ms: pct(0.5),
      p99_ms: pct(0.99),
      full_eval_members: written,
      full_eval_count: Number(counted.rows[0]?.n),
      full_eval_ms: Math.round(fullMs),
      count_ms: Math.round(countMs),
      full_eval_ratio: Math.round((fullMs / countMs) * 100) / 100,
      seed_ms: Math.round(seedMs),
      chain_build_ms: Math.round(chainBuildMs),
      consistent_setup_ms: Math.round(consistentMs),
    };
  } finally {
    await db.exec(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await db.close();
  }
}
