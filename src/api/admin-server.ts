/**
 * The admin server: /v1 (campaigns, deliverability, review, suppressions, dead letters, keys,
 * audit, dashboard), the dashboard's page at /, the API description (/openapi.json, /docs),
 * /metrics and the health probes. It binds to 127.0.0.1 unless configured otherwise; every /v1
 * route declares a scope and needs an API key or a dashboard session (access-control.ts). Shares
 * the error handler and health probes with the public server.
 */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { AuditLog } from '../access/audit.ts';
import type { KeyService } from '../access/keys.ts';
import type { DashboardSessions } from './dashboard/sessions.ts';
import { BEARER_SCHEME, installAccessControl } from './access-control.ts';
import { registerAccessRoutes } from './routes/access.ts';
import { withPublicListenerPaths } from './public-openapi.ts';
import { registerDeadLetterRoutes } from './routes/dead-letters.ts';
import { registerAdminGuards, type AdminGuardOptions } from './guards/register.ts';
import { createBaseServer, type Guards, type RouteRegistrar, type ServerDeps } from './server.ts';

export interface AdminServerDeps extends ServerDeps {
  keys: KeyService;
  audit: AuditLog;
  /** When set, /metrics requires this bearer token (Prometheus `authorization`). */
  metricsToken?: string;
  /** Host/Origin/content-type checks, rate limits, headers; app.ts always passes them. */
  guards?: Guards<AdminGuardOptions>;
  /** Dashboard sessions: a session cookie authenticates as its key (access-control.ts). */
  sessions?: DashboardSessions;
}

export async function createAdminServer(
  deps: AdminServerDeps,
  routes: RouteRegistrar[] = [],
): Promise<FastifyInstance> {
  const app = createBaseServer(deps);
  // guards first: a refused browser request or a flood costs no key check (docs/security.md)
  if (deps.guards) await registerAdminGuards(app, deps.guards.options, { clock: deps.guards.clock });
  // before any route, so the onRoute check sees every /v1 route
  installAccessControl(app, {
    keys: deps.keys,
    audit: deps.audit,
    ...(deps.metricsToken === undefined ? {} : { metricsToken: deps.metricsToken }),
    ...(deps.sessions === undefined ? {} : { sessions: deps.sessions }),
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Switchyard admin API',
        version: deps.version,
        description:
          'Email-marketing orchestration: campaigns, reactions, dead letters, keys, audit. Every /v1 route '
          + 'needs `Authorization: Bearer KEY` whose role grants the scope the route names.',
      },
      components: {
        securitySchemes: {
          [BEARER_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            description: 'API key from `switchyard keys create` or POST /v1/keys (sy_…)',
          },
        },
      },
    },
    // the public listener's routes live on another Fastify instance; list them too (public-openapi.ts)
    // only the openapi form is ever built here (the options above), never swagger 2.0
    transformObject: (doc) => ('openapiObject' in doc ? withPublicListenerPaths(doc.openapiObject) : doc.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['system'],
        summary: 'Prometheus metrics (bearer scrape token when SWITCHYARD_METRICS_TOKEN is set)',
      },
    },
    async (_req, reply) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    },
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  registerDeadLetterRoutes({ bus: deps.bus })(app);
  registerAccessRoutes({ keys: deps.keys, audit: deps.audit })(app);
  for (const register of routes) await register(app);
  return app;
}
