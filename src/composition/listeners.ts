/**
 * The two HTTP listeners from their configuration slices: each gets its guards (rate limits,
 * browser checks, JSON depth), body limit and trusted proxies; the admin one also its API keys,
 * audit log and optional /metrics token.
 */
import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../access/audit.ts';
import type { KeyService } from '../access/keys.ts';
import type { DashboardSessions } from '../api/dashboard/sessions.ts';
import { createAdminServer } from '../api/admin-server.ts';
import { adminGuardOptions, publicGuardOptions } from '../api/guards/register.ts';
import { createPublicServer, type RouteRegistrar, type ServerDeps } from '../api/server.ts';
import type { Clock } from '../clock/port.ts';
import type { Config } from '../config.ts';

export interface ListenerDeps extends Omit<ServerDeps, 'bodyLimit' | 'trustProxy'> {
  clock: Clock;
  keys: KeyService;
  audit: AuditLog;
  sessions: DashboardSessions;
}

export async function createListeners(
  config: Pick<Config, 'http' | 'admin'>,
  deps: ListenerDeps,
  routes: { public: RouteRegistrar[]; admin: RouteRegistrar[] },
): Promise<{ publicServer: FastifyInstance; adminServer: FastifyInstance }> {
  const { http, admin } = config;
  const { clock, keys, audit, sessions, ...serverDeps } = deps;
  const publicServer = await createPublicServer(
    {
      ...serverDeps,
      bodyLimit: http.bodyLimitBytes,
      guards: { options: publicGuardOptions(http), clock },
      ...(http.trustProxy === undefined ? {} : { trustProxy: http.trustProxy }),
    },
    routes.public,
  );
  const adminServer = await createAdminServer(
    {
      ...serverDeps,
      bodyLimit: admin.bodyLimitBytes,
      keys,
      audit,
      sessions,
      guards: { options: adminGuardOptions(admin), clock },
      ...(admin.trustProxy === undefined ? {} : { trustProxy: admin.trustProxy }),
      ...(admin.metricsToken === undefined ? {} : { metricsToken: admin.metricsToken }),
    },
    routes.admin,
  );
  return { publicServer, adminServer };
}
