/**
 * Salesforce's HTTP edge: every request of the adapter goes through `send`, which takes a token
 * from the shared rate limiter, authenticates with a cached OAuth token (requested again once when
 * Salesforce answers 401 INVALID_SESSION_ID, then CRM_AUTH_FAILED), reads `Sforce-Limit-Info:
 * api-usage=N/M` into `usage()`, and turns Salesforce failures into SwitchyardErrors.
 *
 * The org's API budget is daily (rolling 24 h) and shared with every other integration of the
 * org, so above `usageThreshold` of it this process stops spending: one probe request per
 * `throttleHoldMs` goes out (to read the header again), every other call fails fast with a
 * retryable CRM_UNAVAILABLE carrying retryAfterMs, which the bus turns into a delayed retry.
 */
import type { Clock } from '../../../clock/port.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import type { SharedRateLimiter } from '../shared-rate-limit.ts';
import { requestToken, type SalesforceCredentials, type SalesforceToken } from './auth.ts';
import { crmJsonCall } from '../json-call.ts';

export interface SalesforceUsage {
  /** From Sforce-Limit-Info of the last response that carried it. */
  dailyLimit?: number;
  dailyRemaining?: number;
  /** Requests sent (token requests excluded) and calls held back or refused for the budget. */
  requests: number;
  throttled: number;
}

export interface SalesforceClientOptions {
  /** Where tokens are requested: https://login.salesforce.com, test.salesforce.com or the My Domain URL. */
  loginUrl: string;
  /** API calls go here instead of the token's instance_url when set. */
  instanceUrl?: string;
  /** e.g. '62.0'. */
  apiVersion: string;
  credentials: SalesforceCredentials;
  limiter: SharedRateLimiter;
  clock: Clock;
  /** Share of the daily allocation above which the adapter throttles itself; default 0.8. */
  usageThreshold?: number;
  /** How long a throttled process waits before probing the budget again; default 15 min. */
  throttleHoldMs?: number;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface SalesforceResponse {
  status: number;
  body: unknown;
}

export interface SalesforceClient {
  readonly dataPath: string;
  /** One JSON request; `path` starts with /services/… (a nextRecordsUrl is such a path). */
  send(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<SalesforceResponse>;
  /** Every record of a SOQL query, following nextRecordsUrl; `all` reads deleted records too (queryAll). */
  query<T>(soql: string, all?: boolean): Promise<T[]>;
  usage(): SalesforceUsage;
}

/** REQUEST_LIMIT_EXCEEDED without Retry-After: the org's budget is rolling, come back later. */
const LIMIT_HOLD_MS = 15 * 60_000;
/** REQUEST_LIMIT_EXCEEDED for concurrent long-running requests: some will have finished by then. */
const CONCURRENT_HOLD_MS = 10_000;

export function createSalesforceClient(options: SalesforceClientOptions): SalesforceClient {
  const { limiter, clock } = options;
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const threshold = options.usageThreshold ?? 0.8;
  const holdMs = options.throttleHoldMs ?? LIMIT_HOLD_MS;
  const loginUrl = options.loginUrl.replace(/\/+$/, '');
  const dataPath = `/services/data/v${options.apiVersion}`;
  const usage: SalesforceUsage = { requests: 0, throttled: 0 };
  let token: Promise<SalesforceToken> | undefined;
  /** Until when (clock ms) calls are refused for the budget; the first call after it is a probe. */
  let holdUntil = 0;

  function getToken(): Promise<SalesforceToken> {
    token ??= requestToken(
      { loginUrl, credentials: options.credentials, fetch: doFetch, timeoutMs },
      clock.now(),
    ).catch((err: unknown) => {
      token = undefined;
      throw err;
    });
    return token;
  }

  function overBudget(): boolean {
    const { dailyLimit, dailyRemaining } = usage;
    if (dailyLimit === undefined || dailyRemaining === undefined || dailyLimit <= 0) return false;
    return (dailyLimit - dailyRemaining) / dailyLimit > threshold;
  }

  function readLimits(headers: Headers): void {
    const m = /api-usage=(\d+)\/(\d+)/.exec(headers.get('sforce-limit-info') ?? '');
    if (m === null) return;
    const used = Number(m[1]);
    const max = Number(m[2]);
    usage.dailyLimit = max;
    usage.dailyRemaining = Math.max(0, max - used);
    if (overBudget()) holdUntil = Math.max(holdUntil, clock.now().getTime() + holdMs);
  }

  function throttled(what: string, retryAfterMs: number, details?: Record<string, unknown>): SwitchyardError {
    usage.throttled += 1;
    return new SwitchyardError('CRM_UNAVAILABLE', `Salesforce ${what}`, {
      retryable: true,
      retryAfterMs,
      details: { dailyLimit: usage.dailyLimit, dailyRemaining: usage.dailyRemaining, ...details },
    });
  }

  async function once(method: string, path: string, body: unknown, auth: SalesforceToken) {
    await limiter.acquire();
    usage.requests += 1;
    const base = (options.instanceUrl ?? auth.instanceUrl).replace(/\/+$/, '');
    return crmJsonCall(doFetch, 'Salesforce', {
      method,
      url: `${base}${path}`,
      path,
      token: auth.accessToken,
      body,
      timeoutMs,
    });
  }

  async function send(method: string, path: string, body?: unknown): Promise<SalesforceResponse> {
    const now = clock.now().getTime();
    if (now < holdUntil)
      throw throttled(`API usage is above ${Math.round(threshold * 100)}% of the daily allocation`, holdUntil - now);
    if (overBudget()) holdUntil = now + holdMs; // this call is the probe; the next ones wait for its answer
    for (let attempt = 1; ; attempt += 1) {
      const auth = await getToken();
      const { res, text } = await once(method, path, body, auth);
      readLimits(res.headers);
      const parsed = parseJson(text);
      if (res.status >= 200 && res.status < 300) {
        if (!overBudget()) holdUntil = 0;
        return { status: res.status, body: parsed };
      }
      const vendor = vendorError(parsed, text);
      const details = { status: res.status, errorCode: vendor.errorCode };
      if (res.status === 401) {
        // the token expired or was revoked: ask for a new one once, then give up clearly
        if (token !== undefined && (await token.catch(() => undefined)) === auth) token = undefined;
        if (attempt === 1) continue;
        throw new SwitchyardError(
          'CRM_AUTH_FAILED',
          `Salesforce refused a freshly issued token (${vendor.errorCode}: ${vendor.message})`,
          { details },
        );
      }
      if (vendor.errorCode === 'REQUEST_LIMIT_EXCEEDED') {
        // the daily total lasts hours; too many concurrent long requests clears within seconds
        const concurrent = /concurrent/i.test(vendor.message);
        const wait = retryAfter(res.headers.get('retry-after')) ?? (concurrent ? CONCURRENT_HOLD_MS : holdMs);
        holdUntil = Math.max(holdUntil, clock.now().getTime() + wait);
        throw throttled(`refused the request: ${vendor.message}`, wait, details);
      }
      if (res.status === 403)
        throw new SwitchyardError(
          'CRM_AUTH_FAILED',
          `Salesforce denied access (${vendor.errorCode}): ${vendor.message}`,
          {
            details,
          },
        );
      if (res.status >= 500 || res.status === 408 || res.status === 429)
        throw new SwitchyardError('CRM_UNAVAILABLE', `Salesforce answered ${res.status}: ${vendor.message}`, {
          retryable: true,
          ...(retryAfter(res.headers.get('retry-after')) === undefined
            ? {}
            : { retryAfterMs: retryAfter(res.headers.get('retry-after')) }),
          details,
        });
      throw new SwitchyardError('VALIDATION_FAILED', `Salesforce refused ${method} ${path}: ${vendor.message}`, {
        details,
      });
    }
  }

  return {
    dataPath,
    send,
    usage: () => ({ ...usage }),
    async query<T>(soql: string, all = false): Promise<T[]> {
      const records: T[] = [];
      let path: string | undefined = `${dataPath}/${all ? 'queryAll' : 'query'}?q=${encodeURIComponent(soql)}`;
      while (path !== undefined) {
        const res = await send('GET', path);
        const page = (res.body ?? {}) as { records?: T[]; done?: boolean; nextRecordsUrl?: string };
        records.push(...(page.records ?? []));
        path = page.done === false && typeof page.nextRecordsUrl === 'string' ? page.nextRecordsUrl : undefined;
      }
      return records;
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

/** Salesforce REST errors are an array of {message, errorCode, fields?}; the first one speaks for all. */
function vendorError(parsed: unknown, text: string): { message: string; errorCode: string } {
  const first = (Array.isArray(parsed) ? parsed[0] : parsed) as { message?: unknown; errorCode?: unknown } | undefined;
  return {
    message: typeof first?.message === 'string' ? first.message : text.slice(0, 200) || '(empty body)',
    errorCode: typeof first?.errorCode === 'string' ? first.errorCode : 'UNKNOWN',
  };
}

function retryAfter(value: string | null): number | undefined {
  return value !== null && /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : undefined;
}
