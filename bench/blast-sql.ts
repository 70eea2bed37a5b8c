/**
 * Diagnostics for `npm run bench -- blast` (bench/README.md ## blast, pii_ratio): per-statement wall
 * time seen by a process (BENCH_SQL_TIMES=1; the server has no pg_stat_statements preloaded), and the
 * server's side of a leg: WAL written (pg_stat_wal) and the CPU of PostgreSQL's processes (/proc).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Db, Queryable } from '../src/store/port.ts';

type Times = Map<string, { calls: number; ms: number }>;

function labelOf(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim().slice(0, 70);
}

function timedQueryable<Q extends Queryable>(q: Q, times: Times): Q {
  const query = q.query.bind(q);
  return Object.assign(Object.create(q) as Q, {
    async query(sql: string, params?: readonly unknown[]) {
      const t0 = performance.now();
      try {
        return await query(sql, params);
      } finally {
        const label = labelOf(sql);
        const t = times.get(label) ?? { calls: 0, ms: 0 };
        t.calls++;
        t.ms += performance.now() - t0;
        times.set(label, t);
      }
    },
  });
}

/** `db` with every statement's wall time summed by its text (transactions' statements included). */
export function timedDb(db: Db): { db: Db; report(top?: number): string } {
  const times: Times = new Map();
  const wrapped = timedQueryable(db, times);
  const transaction = db.transaction.bind(db);
  Object.assign(wrapped, {
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => transaction((tx) => fn(timedQueryable(tx, times))),
    listen: db.listen.bind(db),
    ping: db.ping.bind(db),
    close: db.close.bind(db),
    exec: db.exec.bind(db),
  });
  return {
    db: wrapped,
    report(top = 12) {
      return [...times.entries()]
        .sort((a, b) => b[1].ms - a[1].ms)
        .slice(0, top)
        .map(([label, t]) => `    ${(t.ms / 1000).toFixed(1)} s ${t.calls}× ${label}`)
        .join('\n');
    },
  };
}

/** CPU (ms) of every live process named postgres, by pid. */
function postgresCpu(): Map<number, number> {
  const out = new Map<number, number>();
  const tick = 10; // USER_HZ 100: one jiffy is 10 ms
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('postgres')) continue;
      const f = stat.slice(close + 2).split(' ');
      out.set(Number(d), (Number(f[11]) + Number(f[12])) * tick);
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

export interface ServerSample {
  wal: { records: number; fpi: number; bytes: number };
  cpu: Map<number, number>;
}

export async function serverSample(db: Queryable): Promise<ServerSample> {
  const { rows } = await db.query<{ r: string; f: string; b: string }>(
    'select wal_records::text as r, wal_fpi::text as f, wal_bytes::text as b from pg_stat_wal',
  );
  return {
    wal: { records: Number(rows[0]!.r), fpi: Number(rows[0]!.f), bytes: Number(rows[0]!.b) },
    cpu: postgresCpu(),
  };
}

/** What the server did between two samples: WAL and PostgreSQL's CPU (backends that ended meanwhile are missed). */
export function serverDelta(a: ServerSample, b: ServerSample): string {
  let cpu = 0;
  for (const [pid, ms] of b.cpu) cpu += ms - (a.cpu.get(pid) ?? 0);
  return (
    `WAL ${((b.wal.bytes - a.wal.bytes) / 1e6).toFixed(0)} MB, ${b.wal.records - a.wal.records} records, `
    + `${b.wal.fpi - a.wal.fpi} full-page images; PostgreSQL CPU ${(cpu / 1000).toFixed(1)} s`
  );
}
