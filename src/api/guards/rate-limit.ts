/**
 * Rate limits for one listener, as an onRequest hook: per source address always, and per API key
 * additionally when the request carries `Authorization: Bearer …`. Answers 429 RATE_LIMITED with
 * a Retry-After in whole seconds (≥ 1). Runs before authentication and body parsing, so a flood
 * costs neither a key-hash verification nor a body read.
 *
 * The address is Fastify's `request.ip`, which already honours the server's `trustProxy` setting;
 * X-Forwarded-For is never read here (a client could write anything in it). IPv6 addresses count
 * by their /64 prefix, since one host usually holds a whole /64 and could otherwise rotate through
 * it. The key's bucket is named by a SHA-256 of the token; the token itself is never kept. Every
 * request spends from its address bucket even when it names a key, so rotating made-up keys does
 * not escape the address limit. Time comes from the injected Clock (tests move it by hand).
 */
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Clock } from '../../clock/port.ts';
import { httpStatusFor } from '../http-status.ts';
import { createKeyedLimiter, type KeyedLimiter } from './keyed-limiter.ts';
import { pathOf, PROBE_PATHS } from './paths.ts';

export interface RateLimitRule {
  /** Requests per minute; 0 = no limit. */
  perMinute: number;
  /** Requests allowed at once after a pause (≥ 1). */
  burst: number;
}

export interface RateLimitOptions {
  /** Applies per source address to every request that is not exempt. */
  perAddress: RateLimitRule;
  /** Applies per bearer token, in addition to perAddress; omit where no keys are used. */
  perKey?: RateLimitRule;
  /** Paths starting with `prefix` use their own per-address rule (and buckets) instead of
   *  perAddress, e.g. `/webhooks/`, where an ESP posts bursts from a handful of addresses. */
  prefixRules?: readonly { prefix: string; perAddress: RateLimitRule }[];
  /** Exact paths never limited (default `/healthz`, `/readyz`: probes must not be starved). */
  exempt?: readonly string[];
  /** Most buckets remembered per kind (address, key, each prefix rule). */
  maxTracked: number;
}

export interface RateLimitDeps {
  clock: Clock;
}

/** The bucket name of a source address: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by /64. */
export function addressBucket(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(ip)) return ip;
  const bare = ip.split('%')[0] as string;
  const [head = '', tail] = bare.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? front
      : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** The bearer token's bucket name (a SHA-256, so the token is never stored), or undefined. */
export function keyBucket(authorization: string | string[] | undefined): string | undefined {
  const value = Array.isArray(authorization) ? authorization[0] : authorization;
  const m = value === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
  return m
    ? createHash('sha256')
        .update(m[1] as string)
        .digest('base64url')
    : undefined;
}

function refuse(reply: FastifyReply, waitMs: number, what: string): FastifyReply {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  // debug, not warn: a flood would otherwise flood the log too; 429s are counted in the HTTP metrics.
  reply.log.debug({ limit: what, retryAfter: seconds }, 'rate limited');
  return reply
    .status(httpStatusFor('RATE_LIMITED'))
    .header('retry-after', String(seconds))
    .send({ error: 'RATE_LIMITED', message: `too many requests from this ${what}; retry in ${seconds} s` });
}

/** Adds the rate-limit onRequest hook to `app`. Register it before authentication and routes. */
export function registerRateLimit(app: FastifyInstance, options: RateLimitOptions, deps: RateLimitDeps): void {
  const limiter = (rule: RateLimitRule): KeyedLimiter =>
    createKeyedLimiter({ perMinute: rule.perMinute, burst: rule.burst, maxKeys: options.maxTracked });
  const byAddress = limiter(options.perAddress);
  const byKey = options.perKey === undefined ? undefined : limiter(options.perKey);
  const prefixed = (options.prefixRules ?? []).map((r) => ({ prefix: r.prefix, limiter: limiter(r.perAddress) }));
  const exempt = new Set(options.exempt ?? PROBE_PATHS);

  app.addHook('onRequest', async (request, reply) => {
    const path = pathOf(request);
    if (exempt.has(path)) return;
    const now = deps.clock.now().getTime();
    const addressLimiter = prefixed.find((p) => path.startsWith(p.prefix))?.limiter ?? byAddress;
    const address = addressBucket(request.ip ?? 'unknown');
    const key = byKey === undefined ? undefined : keyBucket(request.headers.authorization);

    // Check every bucket first and spend only when all agree, so a refusal by one limit does not
    // also drain the other.
    const atAddress = addressLimiter.check(address, now);
    if (!atAddress.ok) return refuse(reply, atAddress.waitMs, 'address');
    if (key !== undefined && byKey !== undefined) {
      const atKey = byKey.check(key, now);
      if (!atKey.ok) return refuse(reply, atKey.waitMs, 'API key');
      byKey.commit(key, now);
    }
    addressLimiter.commit(address, now);
  });
}
