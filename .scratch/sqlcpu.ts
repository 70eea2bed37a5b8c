// measures backend CPU (from /proc) per row for insert variants
import pg from 'pg';
import { readFileSync } from 'node:fs';
const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
await c.connect();
const pid = (await c.query('select pg_backend_pid() as p')).rows[0].p;
const cpu = () => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
const schema = `sqlcpu_${Date.now()}`;
await c.query(`create schema ${schema}; set search_path = ${schema}`);
const variant = process.argv[2] ?? 'base';
const collate = variant.includes('C') ? 'collate "C"' : '';
const rawType = variant.includes('text') ? 'text' : 'jsonb';
await c.query(`create table ev (source_id text ${collate} primary key, type text not null, provider text not null, occurred_at timestamptz not null, received_at timestamptz not null, email text, message_id text, campaign_id text ${collate}, contact_id text ${collate}, is_machine boolean not null default false, reason text, url text, raw ${rawType});
`);
if (!variant.includes('noidx')) await c.query(`create index ev_contact on ev (contact_id, occurred_at) where contact_id is not null;
create index ev_campaign on ev (campaign_id, type) where campaign_id is not null;`);
if (variant.includes('unlogged')) await c.query('alter table ev set unlogged');
const n = 2000; const rounds = Number(process.argv[3] ?? 30);
const sql = `insert into ev (source_id, type, provider, occurred_at, received_at, email, message_id, campaign_id, contact_id, is_machine, reason, url, raw)
  select x.source_id, x.type, x.provider, x.occurred_at, $13, x.email, x.message_id, x.campaign_id, x.contact_id, x.is_machine, x.reason, x.url, x.raw::${rawType}
  from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[], $10::text[], $11::text[], $12::text[])
  as x(source_id, type, provider, occurred_at, email, message_id, campaign_id, contact_id, is_machine, reason, url, raw)
  on conflict (source_id) do nothing returning source_id`;
let total = 0; let wall = 0;
for (let r = 0; r < rounds; r++) {
  const ids = Array.from({ length: n }, (_, k) => `sendgrid:r${Date.now().toString(36)}-${r}-${k}`).sort();
  const raws = ids.map((id, k) => JSON.stringify({ email: `u${k}@bench.example.com`, timestamp: 1765000000, event: 'open', sg_event_id: id, 'smtp-id': `<m${k}@bench.example.com>`, sg_message_id: `sg${k}.filter0001`, sy_campaign: 'cmp_bench_reactions', sy_contact: `c${k}`, sy_msg: `cmp_bench_reactions:c${k}`, bench_sent_ms: Date.now(), useragent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15', ip: '203.0.113.7' }));
  const params = [ids, ids.map(() => 'opened'), ids.map(() => 'sendgrid'), ids.map(() => new Date().toISOString()), ids.map((_, k) => `u${k}@bench.example.com`), ids.map((_, k) => `m${k}@bench.example.com`), ids.map(() => 'cmp_bench_reactions'), ids.map((_, k) => `c${Math.floor(Math.random() * 200000)}`), ids.map(() => false), ids.map(() => null), ids.map(() => null), raws, new Date()];
  if (variant.includes('noraw')) params[11] = ids.map(() => null);
  const c0 = cpu(); const t0 = performance.now();
  await c.query(sql, params);
  wall += performance.now() - t0; total += cpu() - c0;
}
console.log(variant, `backend cpu ${(1000 * total / (n * rounds)).toFixed(1)} µs/row, wall ${(1000 * wall / (n * rounds)).toFixed(1)} µs/row`);
await c.query(`drop schema ${schema} cascade`);
await c.end();
