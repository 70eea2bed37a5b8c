/**
 * Composition root: reads config once, opens the store, picks adapters, builds services and their
 * bus stages, and hands them to the HTTP server and the workers. The only file in src/ that
 * imports adapters, and the only one that reads process.env.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createServer, type RouteRegistrar } from './api/server.ts';
import { createConsumer, type Consumer, type ConsumerOptions, type Handler } from './bus/consumer.ts';
import type { Bus } from './bus/port.ts';
import { createPostgresLogBus } from './bus/postgres-log/adapter.ts';
import type { Clock } from './clock/port.ts';
import { createSystemClock } from './clock/system.ts';
import { loadConfig, readConfigFile, type Config } from './config.ts';
import { createLogger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { migrate } from './store/migrate.ts';
import { createPgliteDb } from './store/pglite/adapter.ts';
import type { Db } from './store/port.ts';
import { createPostgresDb } from './store/postgres/adapter.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** One consumer group of a stage: what it reads and what it does with each message. */
export interface StageConsumer {
  options: ConsumerOptions;
  handler: Handler<never>;
}
export interface StageDefinition {
  name: string;
  consumers: StageConsumer[];
}

export interface App {
  config: Config;
  log: Logger;
  clock: Clock;
  db: Db;
  bus: Bus;
  metrics: Metrics;
  server: FastifyInstance;
  stages: StageDefinition[];
  /** Builds consumers for the named stages (all when omitted) and starts them. */
  startWorkers(only?: readonly string[]): Consumer[];
  /** Opens the HTTP listener; resolves to the URL it listens on. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface AppOptions {
  clock?: Clock;
  log?: Logger;
  /** An already opened (and migrated) store, e.g. one shared by a test file. */
  db?: Db;
  /** Skip the HTTP server's listener and routes that need it (worker processes still get /metrics only if they listen). */
  withServer?: boolean;
}

/** The one place that reads the process environment. */
export function loadConfigFromProcess(configFile = 'switchyard.config.json'): Config {
  return loadConfig(process.env, readConfigFile(configFile));
}

export async function openStore(config: Config): Promise<Db> {
  return config.store.kind === 'postgres'
    ? createPostgresDb({ url: config.store.url })
    : createPgliteDb({ dataDir: config.store.dataDir });
}

export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const log = options.log ?? createLogger(config.logLevel);
  const clock = options.clock ?? createSystemClock();
  const db = options.db ?? await openStore(config);
  const ownsDb = options.db === undefined;
  try {
    await migrate(db);
  } catch (err) {
    if (ownsDb) await db.close().catch(() => undefined);
    throw err;
  }
  const bus = createPostgresLogBus({ db, clock });
  const metrics = createMetrics({ bus });
  const stages: StageDefinition[] = [];
  const routes: RouteRegistrar[] = [];

  const server = await createServer({ log, db, bus, metrics, version: VERSION, bodyLimit: config.raw.SWITCHYARD_WEBHOOK_MAX_BYTES }, routes);
  const running: Consumer[] = [];

  return {
    config, log, clock, db, bus, metrics, server, stages,
    startWorkers(only) {
      const unknown = (only ?? []).filter((n) => !stages.some((s) => s.name === n));
      if (unknown.length > 0) throw new Error(`unknown stage ${unknown.join(', ')}; stages: ${stages.map((s) => s.name).join(', ')}`);
      const picked = stages.filter((s) => only === undefined || only.includes(s.name));
      const consumers = picked.flatMap((s) => s.consumers.map((c) => createConsumer({ bus, clock, log, metrics: metrics.consumer }, {
        batchSize: config.worker.batchSize, concurrency: config.worker.concurrency, maxAttempts: config.worker.maxAttempts, ...c.options,
      }, c.handler as Handler<unknown>)));
      for (const c of consumers) c.start();
      running.push(...consumers);
      return consumers;
    },
    async listen() {
      return server.listen({ port: config.http.port, host: config.http.host });
    },
    async close() {
      await Promise.all(running.splice(0).map((c) => c.stop()));
      await server.close();
      await bus.close();
      if (ownsDb) await db.close();
    },
  };
}
