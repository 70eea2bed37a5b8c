/**
 * The HTTP server: health, readiness, metrics, OpenAPI + docs UI, dead letters, and whatever
 * route plugins app.ts hands in (campaigns, webhooks, tracking). Handlers stay thin; errors are
 * mapped to HTTP here only, from their code.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import { Type } from '@sinclair/typebox';
import type { Bus } from '../bus/port.ts';
import { isSwitchyardError } from '../core/errors.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Db } from '../store/port.ts';
import { httpStatusFor } from './http-status.ts';

export type RouteRegistrar = (app: FastifyInstance) => void | Promise<void>;

export interface ServerDeps {
  log: Logger;
  db: Db;
  bus: Bus;
  metrics: Metrics;
  version: string;
  /** Largest request body (webhook batches can be large). */
  bodyLimit: number;
}

export async function createServer(deps: ServerDeps, routes: RouteRegistrar[] = []): Promise<FastifyInstance> {
  // the pino instance is typed as Logger; Fastify's default instance type expects FastifyBaseLogger
  const app = Fastify({ loggerInstance: deps.log, bodyLimit: deps.bodyLimit, logController: new LogController({ disableRequestLogging: true }) }) as unknown as FastifyInstance;
  await app.register(swagger, {
    openapi: {
      info: { title: 'Switchyard API', version: deps.version, description: 'Email-marketing orchestration: campaigns, reactions, dead letters, health.' },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler((err, request, reply) => {
    if (isSwitchyardError(err)) {
      const status = httpStatusFor(err.code);
      if (status >= 500) request.log.error({ err }, 'request failed');
      return reply.status(status).send({ error: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) });
    }
    const e = err as { statusCode?: number; validation?: unknown; code?: string; message: string };
    if (e.validation !== undefined) return reply.status(400).send({ error: 'VALIDATION_FAILED', message: e.message });
    if (e.statusCode !== undefined && e.statusCode < 500) {
      return reply.status(e.statusCode).send({ error: e.statusCode === 413 ? 'WEBHOOK_PAYLOAD_TOO_LARGE' : 'VALIDATION_FAILED', message: e.message });
    }
    request.log.error({ err }, 'unexpected error');
    return reply.status(500).send({ error: 'INTERNAL', message: 'internal error' });
  });

  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.http.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  app.get('/healthz', { schema: { tags: ['system'], summary: 'Liveness: the process is serving' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['system'], summary: 'Readiness: store and bus reachable' } }, async (_req, reply) => {
    const checks: Record<string, string> = {};
    for (const [name, ping] of [['store', () => deps.db.ping()], ['bus', () => deps.bus.ping()]] as const) {
      try { await ping(); checks[name] = 'ok'; } catch (err) { checks[name] = (err as Error).message; }
    }
    const ok = Object.values(checks).every((v) => v === 'ok');
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks });
  });

  app.get('/metrics', { schema: { tags: ['system'], summary: 'Prometheus metrics', hide: false } }, async (_req, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/v1/dead-letters', {
    schema: {
      tags: ['dead letters'], summary: 'List dead letters, newest first',
      querystring: Type.Object({ stage: Type.Optional(Type.String()), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })), includeRetried: Type.Optional(Type.Boolean()) }),
    },
  }, async (req) => {
    const q = req.query as { stage?: string; limit?: number; includeRetried?: boolean };
    return { deadLetters: await deps.bus.deadLetters.list(q) };
  });

  app.post('/v1/dead-letters/retry', {
    schema: { tags: ['dead letters'], summary: 'Requeue dead letters to their stage', body: Type.Object({ ids: Type.Array(Type.Integer(), { minItems: 1, maxItems: 10_000 }) }) },
  }, async (req) => ({ retried: await deps.bus.deadLetters.retry((req.body as { ids: number[] }).ids) }));

  for (const register of routes) await register(app);
  return app;
}
