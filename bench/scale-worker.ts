/**
 * A send-stage worker process for `npm run bench -- scale`: `switchyard worker --stage send` as
 * deployed on NATS + PostgreSQL, with the bench's sandbox ESP made latency-bound: each batch is
 * answered after a fixed delay, as an HTTP ESP answers a batch request. Arguments: <database url>
 * <schema> <nats url> <subject prefix> <latency ms>. Runs until SIGTERM, then closes cleanly.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createPostgresDb } from '../src/store/postgres/adapter.ts';
import { latencyBoundSandbox, SCALE_GOVERNOR, scaleEnv } from './scale-setup.ts';

const [url, schema, natsUrl, prefix, latency] = process.argv.slice(2);
if (url === undefined || schema === undefined || natsUrl === undefined || prefix === undefined)
  throw new Error('usage: scale-worker.ts <database url> <schema> <nats url> <prefix> <latency ms>');
const db = await createPostgresDb({ url, schema, maxConnections: 8 });
const app = await createApp(loadConfig(scaleEnv(natsUrl, prefix)), {
  db,
  log: pino({ level: 'silent' }),
  esp: latencyBoundSandbox(Number(latency ?? 200)),
  governor: SCALE_GOVERNOR,
});
app.startWorkers(['send']);
process.send?.('ready');
process.once('SIGTERM', () => {
  void (async () => {
    await app.close();
    await db.close();
    await sleep(0);
    process.exit(0);
  })();
});
