/**
 * A send worker process for the fleet governor test: the real composition (createApp on
 * PostgreSQL, the configured ESP, the governor with the test's options, fleet budgets on) running
 * only the send stage, as `switchyard worker --stage send` does. Arguments: <database url>
 * <schema> <governor options as JSON>; the rest comes from the environment. Says 'ready' over IPC,
 * answers 'attempts' with its governor's attempt count per receiving group and the times (epoch ms)
 * and sizes of its admissions, closes on SIGTERM.
 */
import { pino } from 'pino';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { GovernorOptions } from '../../src/deliverability/governor.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';

const [url, schema, governorJson] = process.argv.slice(2);
if (url === undefined || schema === undefined || governorJson === undefined)
  throw new Error('usage: fleet-send-worker.ts <database url> <schema> <governor options json>');
const db = await createPostgresDb({ url, schema, maxConnections: 4 });
const app = await createApp(loadConfig(process.env), {
  db,
  log: pino({ level: 'silent' }),
  governor: JSON.parse(governorJson) as GovernorOptions,
});
// what the governor admitted and when: the send stage calls these on this same object
const admitted: [number, number][] = [];
const { acquireMany, tryAcquireMany } = app.governor;
app.governor.acquireMany = async (n, key, signal) => {
  const got = await acquireMany(n, key, signal);
  if (got > 0) admitted.push([Date.now(), got]);
  return got;
};
app.governor.tryAcquireMany = (n, key) => {
  const got = tryAcquireMany(n, key);
  if (got > 0) admitted.push([Date.now(), got]);
  return got;
};
app.startWorkers(['send']);
process.on('message', (m: unknown) => {
  if (m !== 'attempts') return;
  const groups = app.governor.status().receivingGroups.map((g) => [g.scope.receivingGroup, g.attempts]);
  process.send?.({ attempts: Object.fromEntries(groups), admitted });
});
process.send?.('ready');
process.once('SIGTERM', () => {
  void (async () => {
    await app.close();
    await db.close();
    process.exit(0);
  })();
});
