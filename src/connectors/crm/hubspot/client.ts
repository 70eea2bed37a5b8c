/**
 * HubSpot's HTTP edge: every request of the adapter goes through `send`, which takes a token from
 * the shared rate limiter first, authenticates with the private-app token or an OAuth app's access
 * token (renewed once on a 401, oauth.ts), reads the
 * X-HubSpot-RateLimit-* headers into `usage()`, and turns HubSpot failures into SwitchyardErrors.
 * A 429 (burst limit) puts every process on hold for Retry-After (or the rest of the 10 s window)
 * and is retried here a few times, so a busy minute slows calls down instead of failing them; a
 * 429 for the daily limit is not retried (it lasts until midnight in the account's time zone).
 * Vendor shapes stay in this folder.
 */
import type { Clock } from '../../../clock/port.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import type { SharedRateLimiter } from '../shared-rate-limit.ts';
import { crmJsonCall } from '../json-call.ts';
import type { HubspotAccess } from './oauth.ts';

export interface HubspotUsage {
  /** From X-HubSpot-RateLimit-Daily / -Daily-Remaining of the last response that carried them. */
  dailyLimit?: number;
  dailyRemaining?: number;
  /** From X-HubSpot-RateLimit-Max / -Remaining (the 10 s burst window). */
  intervalLimit?: number;
  intervalRemaining?: number;
  /** Requests sent and 429 answers received by this process. */
  requests: number;
  throttled: number;
}

export interface HubspotClientOptions {
  /** A private-app token, or an OAuth app's access (oauth.ts). */
  access: HubspotAccess;
  /** e.g. https://api.hubapi.com (no trailing slash needed). */
  baseUrl: string;
  limiter: SharedRateLimiter;
  clock: Clock;
  fetch?: typeof fetch;
  /** Attempts per call when HubSpot answers 429 for its burst window; default 4. */
  maxAttempts?: number;
  /** Per-request time limit in real milliseconds; default 30 000. */
  timeoutMs?: number;
}

export interface HubspotResponse {
  status: number;
  body: unknown;
}

export interface HubspotClient {
  /** Sends one JSON request; resolves for 2xx (207 included: per-record errors are in the body). */
  send(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<HubspotResponse>;
  usage(): HubspotUsage;
}

/** Without Retry-After, HubSpot's burst window is 10 s: wait for the next one. */
const DEFAULT_HOLD_MS = 10_000;
/** A daily-limit 429 without Retry-After: ask the bus to come back in an hour. */
const DAILY_HOLD_MS = 3_600_000;

export function createHubspotClient(options: HubspotClientOptions): HubspotClient {
  const { access, limiter, clock } = options;
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const maxAttempts = options.maxAttempts ?? 4;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const usage: HubspotUsage = { requests: 0, throttled: 0 };

  function readLimits(headers: Headers): void {
    const num = (name: string): number | undefined => {
      const v = headers.get(name);
      const n = v === null ? Number.NaN : Number(v);
      return Number.isFinite(n) ? n : undefined;
    };
    const set = (key: 'dailyLimit' | 'dailyRemaining' | 'intervalLimit' | 'intervalRemaining', v?: number): void => {
      if (v !== undefined) usage[key] = v;
    };
    set('dailyLimit', num('x-hubspot-ratelimit-daily'));
    set('dailyRemaining', num('x-hubspot-ratelimit-daily-remaining'));
    set('intervalLimit', num('x-hubspot-ratelimit-max'));
    set('intervalRemaining', num('x-hubspot-ratelimit-remaining'));
  }

  async function once(
    method: string,
    path: string,
    body: unknown,
    token: string,
  ): Promise<{ res: Response; text: string }> {
    await limiter.acquire();
    usage.requests += 1;
    return crmJsonCall(doFetch, 'HubSpot', { method, url: `${base}${path}`, path, token, body, timeoutMs });
  }

  return {
    usage: () => ({ ...usage }),
    async send(method, path, body) {
      let token = await access.token();
      let renewed = false;
      for (let attempt = 1; ; attempt += 1) {
        const { res, text } = await once(method, path, body, token);
        readLimits(res.headers);
        const parsed = parseJson(text);
        if (res.status >= 200 && res.status < 300) return { status: res.status, body: parsed };
        const vendor = vendorMessage(parsed, text);
        const details = { status: res.status, category: vendor.category, correlationId: vendor.correlationId };
        if (res.status === 429) {
          usage.throttled += 1;
          const daily = vendor.policyName === 'DAILY';
          const hint = retryAfterMs(res.headers.get('retry-after'), clock.now());
          const holdMs = hint ?? (daily ? DAILY_HOLD_MS : DEFAULT_HOLD_MS);
          if (!daily) await limiter.holdOff(holdMs);
          if (daily || attempt >= maxAttempts)
            throw new SwitchyardError('CRM_UNAVAILABLE', `HubSpot rate limit (${vendor.message})`, {
              retryable: true,
              retryAfterMs: holdMs,
              details: { ...details, policyName: vendor.policyName },
            });
          continue;
        }
        if (res.status === 401 && access.renew !== undefined && !renewed) {
          // an OAuth access token HubSpot no longer takes: renew it once and send again
          token = await access.renew(token);
          renewed = true;
          continue;
        }
        if (res.status === 401 || res.status === 403) {
          const kind = access.renew === undefined ? 'private-app' : 'OAuth access';
          const what = res.status === 401 ? `refused the ${kind} token (expired, revoked or wrong)` : 'denied access';
          throw new SwitchyardError('CRM_AUTH_FAILED', `HubSpot ${what}: ${vendor.message}`, { details });
        }
        if (res.status >= 500 || res.status === 408)
          throw new SwitchyardError('CRM_UNAVAILABLE', `HubSpot answered ${res.status}: ${vendor.message}`, {
            retryable: true,
            details,
          });
        throw new SwitchyardError('VALIDATION_FAILED', `HubSpot refused ${method} ${path}: ${vendor.message}`, {
          details,
        });
      }
    },
  };
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

interface VendorMessage {
  message: string;
  category?: string;
  correlationId?: string;
  policyName?: string;
}

function vendorMessage(parsed: unknown, text: string): VendorMessage {
  if (typeof parsed !== 'object' || parsed === null) return { message: text.slice(0, 200) || '(empty body)' };
  const o = parsed as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return {
    message: str(o.message) ?? '(no message)',
    category: str(o.category),
    correlationId: str(o.correlationId),
    policyName: str(o.policyName),
  };
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now: Date): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}
