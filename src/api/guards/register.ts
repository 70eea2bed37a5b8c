/**
 * One call per listener that registers every guard in the order that matters, plus the builders
 * that turn configuration into their options. Register the
 * guards on a fresh instance before authentication, swagger and any route, so their hooks cover
 * every route (Fastify runs onRequest hooks in registration order).
 *
 * Admin order: security headers (so refusals carry them too) → browser safety (Host, Origin,
 * content type) → rate limit (address, then key) → [authentication, added by the caller]
 * → body parsing with the JSON depth limit. Browser safety comes before the rate limit so a
 * hostile page's refused requests do not spend the loopback address's budget.
 * Public order: security headers → rate limit (address; /webhooks/* and /t/u/* by their own
 * rule) → parsing.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../clock/port.ts';
import type { AdminListenerConfig, PublicListenerConfig } from '../../config.ts';
import {
  defaultAdminHosts,
  defaultAdminOrigins,
  registerBrowserSafety,
  type BrowserSafetyOptions,
} from './browser-safety.ts';
import { registerJsonDepthLimit, type JsonDepthOptions } from './json-depth.ts';
import { registerRateLimit, type RateLimitOptions } from './rate-limit.ts';
import { registerAdminSecurityHeaders, registerPublicSecurityHeaders } from './security-headers.ts';

export interface AdminGuardOptions {
  browser: BrowserSafetyOptions;
  rateLimit: RateLimitOptions;
  json: JsonDepthOptions;
}
export interface PublicGuardOptions {
  rateLimit: RateLimitOptions;
  json: JsonDepthOptions;
}
export interface GuardDeps {
  clock: Clock;
}

/** Admin listener options from its configuration slice; unset hosts and origins are the loopback defaults. */
export function adminGuardOptions(admin: AdminListenerConfig): AdminGuardOptions {
  const rule = admin.rateLimit.rule;
  return {
    browser: {
      allowedHosts: admin.allowedHosts ?? defaultAdminHosts(admin.port),
      allowedOrigins: admin.allowedOrigins ?? defaultAdminOrigins(admin.port),
    },
    rateLimit: { perAddress: rule, perKey: rule, maxTracked: admin.rateLimit.maxTracked },
    json: { maxDepth: admin.jsonMaxDepth },
  };
}

/** Public listener options from its configuration slice. */
export function publicGuardOptions(http: PublicListenerConfig): PublicGuardOptions {
  return {
    rateLimit: {
      perAddress: http.rateLimit.perAddress,
      // Provider-to-server traffic: ESP webhooks, and RFC 8058 one-click unsubscribes, which
      // mailbox providers post from their own servers (a lost one is a compliance failure).
      prefixRules: ['/webhooks/', '/t/u/'].map((prefix) => ({ prefix, perAddress: http.rateLimit.providers })),
      maxTracked: http.rateLimit.maxTracked,
    },
    json: { maxDepth: http.jsonMaxDepth },
  };
}

/** Every admin guard, in order. Add authentication after this call and before the routes. */
export async function registerAdminGuards(
  app: FastifyInstance,
  options: AdminGuardOptions,
  deps: GuardDeps,
): Promise<void> {
  await registerAdminSecurityHeaders(app);
  registerBrowserSafety(app, options.browser);
  registerRateLimit(app, options.rateLimit, deps);
  registerJsonDepthLimit(app, options.json);
}

/** Every public guard, in order, before the routes. */
export function registerPublicGuards(app: FastifyInstance, options: PublicGuardOptions, deps: GuardDeps): void {
  registerPublicSecurityHeaders(app);
  registerRateLimit(app, options.rateLimit, deps);
  registerJsonDepthLimit(app, options.json);
}
