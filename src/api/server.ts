/**
 * The two HTTP servers' common base and the public server. The base owns the one error handler
 * (codes → statuses through http-status.ts), HTTP metrics and the health probes, so both
 * listeners answer errors alike. The public server adds only what the internet must reach:
 * tracking, one-click unsubscribe and webhooks. It never registers an admin route (/v1, /docs,
 * /openapi.json, /metrics); those live on the admin server (admin-server.ts).
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Bus } from '../bus/port.ts';
import { isSwitchyardError } from '../core/errors.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Clock } from '../clock/port.ts';
import type { Db } from '../store/port.ts';
import { registerPublicGuards, type PublicGuardOptions } from './guards/register.ts';
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
  /** Fastify's trustProxy: which peers' X-Forwarded-For names the client (rate limits, audit). */
  trustProxy?: boolean | string;
}

/** Rate limits, headers and body checks of a listener (src/api/guards), on the server's clock. */
export interface Guards<O> {
  options: O;
  clock: Clock;
}

/** Fastify with the shared error handler, HTTP metrics and /healthz, /readyz. */
export function createBaseServer(deps: ServerDeps): FastifyInstance {
  // the pino instance is typed as Logger; Fastify's default instance type expects FastifyBaseLogger
  const app = Fastify({
    loggerInstance: deps.log,
    bodyLimit: deps.bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    ...(deps.trustProxy === undefined ? {} : { trustProxy: deps.trustProxy }),
    // tracking tokens are long and travel in the path; the wildcard routes never hit this, named params might
    routerOptions: { maxParamLength: 2048 },
    // a URL Fastify cannot decode is answered before any route or hook: keep our error shape, never echo it
    frameworkErrors: (err, _request, reply) => {
      void (reply as FastifyReply)
        .status(400)
        .send({ error: 'VALIDATION_FAILED', message: `malformed request URL (${err.code})` });
    },
  }) as unknown as FastifyInstance;

  app.setErrorHandler((err, request, reply) => {
    if (isSwitchyardError(err)) {
      const status = httpStatusFor(err.code);
      if (status >= 500) request.log.error({ err }, 'request failed');
      return reply
        .status(status)
        .send({ error: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) });
    }
    const e = err as { statusCode?: number; validation?: unknown; code?: string; message: string };
    if (e.validation !== undefined) return reply.status(400).send({ error: 'VALIDATION_FAILED', message: e.message });
    if (e.statusCode !== undefined && e.statusCode < 500) {
      return reply
        .status(e.statusCode)
        .send({ error: e.statusCode === 413 ? 'WEBHOOK_PAYLOAD_TOO_LARGE' : 'VALIDATION_FAILED', message: e.message });
    }
    request.log.error({ err }, 'unexpected error');
    return reply.status(500).send({ error: 'INTERNAL', message: 'internal error' });
  });

  // Fastify's own 404 body has no code of ours and echoes the path
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: 'NOT_FOUND', message: `no route for ${request.method} on this listener` }),
  );

  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.http.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.get('/healthz', { schema: { tags: ['system'], summary: 'Liveness: the process is serving' } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    { schema: { tags: ['system'], summary: 'Readiness: store and bus reachable' } },
    async (_req, reply) => {
      const checks: Record<string, string> = {};
      for (const [name, ping] of [
        ['store', () => deps.db.ping()],
        ['bus', () => deps.bus.ping()],
      ] as const) {
        // the code only: a driver's message can name hosts, users or paths, and /readyz is public
        try {
          await ping();
          checks[name] = 'ok';
        } catch (err) {
          checks[name] = isSwitchyardError(err) ? err.code : 'unavailable';
        }
      }
      const ok = Object.values(checks).every((v) => v === 'ok');
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks });
    },
  );
  return app;
}

/** The internet-facing listener: health plus the given public routes (tracking, webhooks). */
export async function createPublicServer(
  deps: ServerDeps & { guards?: Guards<PublicGuardOptions> },
  routes: RouteRegistrar[] = [],
): Promise<FastifyInstance> {
  const app = createBaseServer(deps);
  if (deps.guards) registerPublicGuards(app, deps.guards.options, { clock: deps.guards.clock });
  for (const register of routes) await register(app);
  return app;
}
