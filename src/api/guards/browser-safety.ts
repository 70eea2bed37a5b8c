/**
 * Browser safety for the admin listener, as one onRequest hook: a browser on the operator's own
 * machine must not be usable against an admin server on 127.0.0.1. Three checks, in order:
 *
 * 1. Host: the Host header (or X-Forwarded-Host, only when Fastify's trustProxy says so) must be
 *    one of the configured names, which defeats DNS rebinding (a page on attacker.example whose
 *    name is re-pointed at 127.0.0.1 still sends `Host: attacker.example`). → 421 HOST_NOT_ALLOWED.
 * 2. Origin: a request carrying an Origin must come from an allowed origin; without an Origin,
 *    a browser's `Sec-Fetch-Site: cross-site | same-site` is refused too, except a top-level GET
 *    navigation (a link to /docs from a wiki). → 403 ORIGIN_NOT_ALLOWED.
 * 3. Content type: POST, PUT, PATCH and DELETE must say `Content-Type: application/json`, even
 *    with an empty body. Forms (urlencoded, multipart), text/plain and body-less requests are
 *    what a page can send cross-site without a CORS preflight; application/json always needs
 *    one, and the admin listener answers no preflight. → 415 CONTENT_TYPE_NOT_ALLOWED.
 *
 * Refusals are answered here, never echoing the offending header value. Probe paths skip the
 * Host check, since orchestrators probe by the pod's address.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ErrorCode } from '../../core/errors.ts';
import { httpStatusFor } from '../http-status.ts';
import { pathOf, PROBE_PATHS } from './paths.ts';

export interface BrowserSafetyOptions {
  /** Host header values answered to, case-insensitive: `name`, `name:port` or `name:*` (any
   *  port); IPv6 in brackets. */
  allowedHosts: readonly string[];
  /** Browser origins allowed to call, e.g. `https://admin.example.com` (scheme://host[:port],
   *  or `:*` for any port). */
  allowedOrigins: readonly string[];
  /** Exact paths exempt from the Host check (default `/healthz`, `/readyz`). */
  hostCheckExempt?: readonly string[];
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'] as const;
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The names an admin listener on loopback answers to, on any port: DNS rebinding shows up as a
 *  foreign *name* in Host, and a port forwarded or proxied locally (ssh -L, a test's port 0)
 *  must not lock out the operator. Origins, which a browser sets, stay port-exact. */
export function defaultAdminHosts(_adminPort: number): string[] {
  return [...LOOPBACK_NAMES, ...LOOPBACK_NAMES.map((n) => `${n}:*`)];
}

/** The admin listener's own origins on loopback (what its dashboard and docs page send); with
 *  port 0, any port on the loopback names. */
export function defaultAdminOrigins(adminPort: number): string[] {
  const port = adminPort === 0 ? '*' : String(adminPort);
  return LOOPBACK_NAMES.map((n) => `http://${n}:${port}`);
}

/** True when `value` (`name[:port]`, lower case) is in `allowed` as is, or as `name:*`. */
function isListed(allowed: ReadonlySet<string>, value: string): boolean {
  if (allowed.has(value)) return true;
  const colon = value.lastIndexOf(':');
  return colon > value.lastIndexOf(']') && allowed.has(`${value.slice(0, colon)}:*`);
}

function normaliseOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, '');
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function refuse(reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  reply.log.debug({ code }, 'request refused by the browser-safety guard');
  return reply.status(httpStatusFor(code)).send({ error: code, message });
}

/** The media type of a Content-Type header, lower case, without parameters. */
export function mediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  return contentType.split(';')[0]?.trim().toLowerCase();
}

/** Adds the Host / Origin / content-type onRequest hook to `app` (the admin listener only: the
 *  public one takes RFC 8058 form posts and vendor webhooks). Register it first, before the rate
 *  limit, so a hostile page's refused requests do not spend the loopback address's budget. */
export function registerBrowserSafety(app: FastifyInstance, options: BrowserSafetyOptions): void {
  const hosts = new Set(options.allowedHosts.map((h) => h.trim().toLowerCase()));
  const origins = new Set(options.allowedOrigins.map(normaliseOrigin));
  const hostExempt = new Set(options.hostCheckExempt ?? PROBE_PATHS);

  app.addHook('onRequest', async (request, reply) => {
    if (!hostExempt.has(pathOf(request))) {
      const host = request.host;
      if (typeof host !== 'string' || !isListed(hosts, host.toLowerCase())) {
        return refuse(
          reply,
          'HOST_NOT_ALLOWED',
          'this server does not answer to that host name; add it to SWITCHYARD_ADMIN_ALLOWED_HOSTS if it should',
        );
      }
    }

    const origin = single(request.headers.origin);
    if (origin !== undefined) {
      if (!isListed(origins, normaliseOrigin(origin))) {
        return refuse(
          reply,
          'ORIGIN_NOT_ALLOWED',
          'requests from that web origin are not allowed; add it to SWITCHYARD_ADMIN_ALLOWED_ORIGINS if it should be',
        );
      }
    } else {
      const site = single(request.headers['sec-fetch-site'])?.toLowerCase();
      const isNavigation =
        single(request.headers['sec-fetch-mode'])?.toLowerCase() === 'navigate'
        && (request.method === 'GET' || request.method === 'HEAD');
      if ((site === 'cross-site' || site === 'same-site') && !isNavigation) {
        return refuse(reply, 'ORIGIN_NOT_ALLOWED', 'cross-site requests to the admin API are not allowed');
      }
    }

    if (
      STATE_CHANGING.has(request.method)
      && mediaType(single(request.headers['content-type'])) !== 'application/json'
    ) {
      return refuse(
        reply,
        'CONTENT_TYPE_NOT_ALLOWED',
        `${request.method} requests must be sent with Content-Type: application/json (send {} when there `
          + `is nothing to say)`,
      );
    }
  });
}
