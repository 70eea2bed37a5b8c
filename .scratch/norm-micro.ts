import { normalize } from '../src/connectors/esp/sendgrid/normalize.ts';
import { jsonNestingExceeds } from '../src/core/json-depth.ts';
const UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';
const ts = Math.floor(Date.now() / 1000);
const events = Array.from({ length: 100 }, (_, k) => { const type = k % 50 === 0 ? 'unsubscribe' : k % 7 === 0 ? 'click' : k % 3 === 0 ? 'open' : 'delivered'; return { email: `u${k}@bench.example.com`, timestamp: ts, event: type, sg_event_id: `r-1-${k}`, 'smtp-id': `<m${k}@bench.example.com>`, sg_message_id: `sg${k}.filter0001`, sy_campaign: 'cmp', sy_contact: `c${k}`, sy_msg: `cmp:c${k}`, bench_sent_ms: Date.now(), ...(type === 'open' || type === 'click' ? { useragent: UA, ip: '203.0.113.7' } : {}), ...(type === 'click' ? { url: 'https://demo.example.com/pricing' } : {}) }; });
const body = Buffer.from(JSON.stringify(events));
const N = Number(process.argv[2] ?? 3000);
function time(label: string, f: () => void) { for (let i = 0; i < 200; i++) f(); const t = performance.now(); for (let i = 0; i < N; i++) f(); console.log(label, ((performance.now() - t) * 1000 / N / 100).toFixed(2), 'µs/event'); }
time('parse', () => JSON.parse(body.toString('utf8')));
time('nesting', () => jsonNestingExceeds(body, 32));
time('normalize', () => normalize(JSON.parse(body.toString('utf8'))));
time('stringify raw', () => { for (const e of events) JSON.stringify(e); });
