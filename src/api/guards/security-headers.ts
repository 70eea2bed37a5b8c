/**
 * Security response headers for both listeners.
 *
 * Admin (`/v1`, `/docs`, `/openapi.json`, `/metrics`, the dashboard): helmet with a CSP that lets
 * the Swagger UI at /docs load (its scripts and styles are same-origin files; React sets inline
 * style attributes, hence style-src 'unsafe-inline'; no inline script is allowed), no framing
 * (X-Frame-Options DENY and frame-ancestors 'none'), no referrer, nosniff, and `Cache-Control:
 * no-store` on every /v1 response so API answers are never kept by a browser or a proxy. No
 * HSTS and no upgrade-insecure-requests: the default listener is plain http on loopback, and
 * HSTS belongs to the TLS-terminating proxy in front of it.
 *
 * Public (tracking, unsubscribe pages, webhooks): nosniff, no referrer, no framing. A route that
 * sets its own Content-Security-Policy or Referrer-Policy (the preference pages do) keeps it.
 */
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import { pathOf } from './paths.ts';

export const ADMIN_CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  baseUri: ["'none'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
} as const;

const PUBLIC_CSP = "default-src 'none'; frame-ancestors 'none'";

/** Registers helmet and the /v1 no-store header on the admin listener. Await it before routes. */
export async function registerAdminSecurityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: { ...ADMIN_CSP_DIRECTIVES } },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: false,
    crossOriginEmbedderPolicy: false,
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const path = pathOf(request);
    if (path === '/v1' || path.startsWith('/v1/')) reply.header('cache-control', 'no-store');
    return payload;
  });
}

/** Adds the public listener's headers without overriding what a route set itself. */
export function registerPublicSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    if (!reply.hasHeader('referrer-policy')) reply.header('referrer-policy', 'no-referrer');
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', PUBLIC_CSP);
    return payload;
  });
}
