/**
 * A send-stage worker process for `npm run bench -- blast --send-workers=N`: the way Switchyard is
 * deployed at volume (one process per stage, `switchyard worker --stage send`), with the bench's
 * sandbox ESP (events off) and lifted account rate, or SMTP to the bench's sink (then it writes the
 * messages the server accepted to a file, for the bare nodemailer leg). Arguments: <database url>
 * <schema> [<smtp host:port> <accepted file> [commit window]].
 * BENCH_PII_AT_REST=0 runs the baseline of `pii_ratio` (ledger addresses unsealed).
 * Runs until SIGTERM, then closes cleanly and prints its peak RSS (MB) and CPU time (ms, from ready) on stdout.
 */
import { pino } from 'pino';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import { writeFileSync } from 'node:fs';
import type { OutboundMessage } from '../src/connectors/esp/port.ts';
import { BENCH_ENV, BENCH_GOVERNOR, keptSmtp, silentSandbox } from './blast-setup.ts';
import { timedDb } from './blast-sql.ts';

const [url, schema, smtpAt, acceptedFile, window] = process.argv.slice(2);
if (url === undefined || schema === undefined)
  throw new Error('usage: blast-worker.ts <database url> <schema> [<smtp host:port> <accepted file> [window]]');
const db = await createPostgresDb({ url, schema, maxConnections: 8 });
// BENCH_SQL_TIMES=1: the statements' summed wall time, printed on stderr at the end
const timed = process.env.BENCH_SQL_TIMES === '1' ? timedDb(db) : undefined;
const accepted: OutboundMessage[] = [];
const esp =
  smtpAt === undefined
    ? silentSandbox
    : keptSmtp(
        { host: smtpAt.slice(0, smtpAt.lastIndexOf(':')), port: Number(smtpAt.slice(smtpAt.lastIndexOf(':') + 1)) },
        window ? Number(window) : undefined,
        accepted,
      );
const app = await createApp(loadConfig(BENCH_ENV), {
  db: timed?.db ?? db,
  log: pino({ level: 'silent' }),
  esp,
  governor: BENCH_GOVERNOR,
  // the pii_ratio baseline: the parent runs one blast with ledger addresses unsealed
  piiAtRest: process.env.BENCH_PII_AT_REST !== '0',
  // BENCH_GOVERNOR_FLEET=off: per-process budgets, the baseline for the fleet leases' cost
  governorFleet: process.env.BENCH_GOVERNOR_FLEET !== 'off',
});
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 100);
const cpu0 = process.cpuUsage();
app.startWorkers(['send']);
process.send?.('ready');
process.once('SIGTERM', () => {
  void (async () => {
    clearInterval(sampler);
    await app.close();
    await db.close();
    // CPU up to here: writing the accepted messages for the bare leg is the bench's, not the pipeline's
    const cpu = process.cpuUsage(cpu0);
    if (timed !== undefined) process.stderr.write(`  send worker ${process.pid} statements:\n${timed.report()}\n`);
    if (acceptedFile !== undefined) writeFileSync(acceptedFile, accepted.map((m) => `${JSON.stringify(m)}\n`).join(''));
    process.stdout.write(`${Math.round(peak / 1e6)} ${Math.round((cpu.user + cpu.system) / 1000)}\n`);
    process.exit(0);
  })();
});
