/** Request path helpers shared by the guards: which paths are probes, and a request's path
 *  without its query string (the guards match exact paths and prefixes, never patterns). */
import type { FastifyRequest } from 'fastify';

/** Liveness and readiness probes: never rate limited, never Host-checked. */
export const PROBE_PATHS: readonly string[] = ['/healthz', '/readyz'];

export function pathOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q === -1 ? request.url : request.url.slice(0, q);
}
