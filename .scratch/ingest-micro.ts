import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPostgresLogBus } from '../src/bus/postgres-log/adapter.ts';
import { createSystemClock } from '../src/clock/system.ts';
import { createIngest } from '../src/reactions/ingest.ts';
import { normalize } from '../src/connectors/esp/sendgrid/normalize.ts';

const schema = `micro_${Date.now()}`;
const db = await createPostgresDb({ url: 'postgres://postgres@127.0.0.1:5432/test', schema, maxConnections: 12 });
await migrate(db);
if (process.env.ALTER) await db.exec(process.env.ALTER);
const clock = createSystemClock();
const times: string[] = [];
function wrap(q: any) { const orig = q.query.bind(q); q.query = async (sql: string, params?: unknown[]) => { const t = performance.now(); try { return await orig(sql, params); } finally { times.push(`${sql.trim().slice(0, 40).replace(/\s+/g, ' ')}: ${(performance.now() - t).toFixed(1)}`); } }; }
wrap(db);
const origTx = db.transaction.bind(db);
(db as any).transaction = (fn: any) => { const t = performance.now(); return origTx(async (tx: any) => { wrap(tx); return fn(tx); }).finally(() => times.push(`tx total ${(performance.now() - t).toFixed(1)}`)); };

const bus = createPostgresLogBus({ db, clock });
const ingest = createIngest({ db, bus, clock });
const n = Number(process.argv[2] ?? 2000);
let run = 0;
function body() {
  run++;
  const ts = Math.floor(Date.now() / 1000);
  return Array.from({ length: n }, (_, k) => ({ email: `u${k}@bench.example.com`, timestamp: ts, event: k % 3 === 0 ? 'open' : 'delivered', sg_event_id: `${schema}-${run}-${k}`, 'smtp-id': `<m${k}@x>`, sg_message_id: `sg${k}.filter0001`, sy_campaign: 'c', sy_contact: `c${k}`, sy_msg: `c:c${k}`, bench_sent_ms: Date.now(), useragent: 'Mozilla/5.0', ip: '203.0.113.7' }));
}
for (let i = 0; i < 8; i++) {
  const b = JSON.parse(JSON.stringify(body()));
  const t0 = performance.now();
  const r = normalize(b);
  const t1 = performance.now();
  const res = await ingest(r.events);
  const t2 = performance.now();
  console.log(times.join(' | ')); times.length = 0;
  console.log(`normalize ${(t1 - t0).toFixed(1)} ms, ingest ${(t2 - t1).toFixed(1)} ms`, res);
}
await db.exec(`drop schema ${schema} cascade`);
await db.close();
