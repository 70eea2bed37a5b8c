/**
 * Authentication, authorisation and audit for the admin server, as three Fastify hooks:
 * - onRoute: every /v1 route must declare `config.scope` (registration throws otherwise, so a
 *   new route cannot be forgotten) and gets the bearer scheme in its OpenAPI security;
 * - onRequest: a route with a scope needs `Authorization: Bearer KEY` whose role grants it
 *   (401 UNAUTHENTICATED, 403 FORBIDDEN); /metrics needs the scrape token when one is set;
 * - onSend: every POST/PUT/PATCH/DELETE that got past the guards, refused ones (401, 403, 4xx)
 *   included, is appended to the audit log before the response leaves, so a client never sees a
 *   success that was not recorded.
 * Decisions are by the matched route's declared scope, not by URL text, so encoding tricks that
 * still match a route still need its scope. A request without a bearer key may instead carry a
 * dashboard session cookie (src/api/dashboard/sessions.ts): it acts as the key that opened the
 * session, and a state change with it also needs the session's X-CSRF-Token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditLog } from '../access/audit.ts';
import type { KeyService, Principal } from '../access/keys.ts';
import { isScope, roleAllows, type Scope } from '../core/access-roles.ts';
import { SwitchyardError } from '../core/errors.ts';
import { isCsrfTokenOf, sessionTokenFrom, type DashboardSessions } from './dashboard/sessions.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a key's role must grant to call this route (every /v1 route declares one). */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** The authenticated caller, set by the access-control hook; null when none. */
    principal: Principal | null;
    /** Extra audit target fields a handler learned (e.g. the id of a key it created). */
    auditTarget: Record<string, string> | null;
    /** The request got past the guards (Host, Origin, content type, rate limit) to access control. */
    reachedAccessControl: boolean;
  }
}

export interface AccessControlDeps {
  keys: Pick<KeyService, 'authenticate'>;
  audit: Pick<AuditLog, 'append'>;
  /** When set, /metrics requires `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** Dashboard sessions: without a bearer key, the session cookie authenticates. */
  sessions?: Pick<DashboardSessions, 'authenticate'>;
}

export const BEARER_SCHEME = 'bearerAuth';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function isAdminPath(url: string): boolean {
  return url === '/v1' || url.startsWith('/v1/');
}

function bearerToken(req: FastifyRequest): string | null {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
  return m === null ? null : m[1]!;
}

function sameSecret(a: string, b: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

function unauthenticated(message: string): SwitchyardError {
  return new SwitchyardError('UNAUTHENTICATED', message);
}

export function installAccessControl(app: FastifyInstance, deps: AccessControlDeps): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('auditTarget', null);
  app.decorateRequest('reachedAccessControl', false);

  app.addHook('onRoute', (route) => {
    if (!isAdminPath(route.url)) return;
    const scope = (route.config as { scope?: unknown } | undefined)?.scope;
    if (!isScope(scope))
      throw new Error(
        `route ${route.method} ${route.url} must declare config.scope (one of core/access-roles.ts SCOPES)`,
      );
    route.schema ??= {};
    const schema = route.schema as { security?: unknown; description?: string };
    schema.security ??= [{ [BEARER_SCHEME]: [] }];
    const note = `Requires scope \`${scope}\`.`;
    // the HEAD twin of a GET route shares its schema object: note the scope once
    if (!schema.description?.includes(note))
      schema.description = `${schema.description ? `${schema.description}\n\n` : ''}${note}`;
  });

  app.addHook('onRequest', async (req, reply) => {
    req.reachedAccessControl = true;
    const scope = req.routeOptions.config.scope;
    const url = req.routeOptions.url;
    if (url === '/metrics') {
      if (deps.metricsToken === undefined) return;
      const token = bearerToken(req);
      if (token === null || !sameSecret(token, deps.metricsToken)) {
        reply.header('www-authenticate', 'Bearer');
        throw unauthenticated('/metrics needs the scrape token: Authorization: Bearer <SWITCHYARD_METRICS_TOKEN>');
      }
      return;
    }
    // unmatched /v1 paths need a key too, so the route table cannot be probed anonymously
    if (scope === undefined && !(url === undefined && isAdminPath(req.url))) return;
    const token = bearerToken(req);
    const session = token === null && deps.sessions ? sessionTokenFrom(req.headers.cookie) : null;
    if (token === null && session === null) {
      reply.header('www-authenticate', 'Bearer');
      throw unauthenticated('an API key is required: send Authorization: Bearer KEY');
    }
    const principal =
      token === null ? await deps.sessions!.authenticate(session!) : await deps.keys.authenticate(token);
    if (principal === null) {
      if (token === null) throw unauthenticated('the dashboard session ended or expired: log in again');
      reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw unauthenticated('unknown or revoked API key');
    }
    req.principal = principal;
    if (session !== null) {
      req.auditTarget = { via: 'dashboard' };
      // the cookie goes with any request the browser sends; the token only with the page's own
      const csrf = req.headers['x-csrf-token'];
      if (STATE_CHANGING.has(req.method) && (typeof csrf !== 'string' || !isCsrfTokenOf(session, csrf)))
        throw new SwitchyardError('CSRF_TOKEN_INVALID', 'dashboard actions need the X-CSRF-Token of the session');
    }
    if (scope !== undefined && !roleAllows(principal.role, scope)) {
      throw new SwitchyardError('FORBIDDEN', `role ${principal.role} does not grant ${scope}`);
    }
  });

  app.addHook('onSend', async (req, reply, payload) => {
    // what the guards refused (a hostile page's requests, a flood) is counted in metrics, not
    // audited: those refusals come before any rate limit, and each row would cost a store write
    if (!STATE_CHANGING.has(req.method) || !req.reachedAccessControl) return payload;
    const route = req.routeOptions.url;
    const params = typeof req.params === 'object' && req.params !== null ? (req.params as Record<string, string>) : {};
    const target =
      route === undefined ? { path: req.url.split('?')[0] ?? '' } : { ...params, ...(req.auditTarget ?? {}) };
    const p = req.principal;
    try {
      await deps.audit.append({
        actorKeyId: p?.keyId ?? null,
        actorName: p?.name ?? 'anonymous',
        role: p?.role ?? null,
        action: `${req.method} ${route ?? '(no route)'}`,
        target,
        sourceIp: req.ip,
        outcome: reply.statusCode,
      });
    } catch (err) {
      // the request's effect has happened; a person must look at why its record is missing
      req.log.error({ err, method: req.method, route }, 'audit append failed');
    }
    return payload;
  });
}
