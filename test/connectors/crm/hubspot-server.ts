/**
 * A local HubSpot for tests (node:http), speaking the wire format the adapter meets in production:
 * Bearer private-app tokens (401 INVALID_AUTHENTICATION / EXPIRED_AUTHENTICATION bodies) or an OAuth
 * app's access tokens from POST /oauth/v1/token (refresh_token grant, form-encoded; 400 with
 * BAD_CLIENT_ID / BAD_CLIENT_SECRET / BAD_REFRESH_TOKEN), CRM v3
 * contacts batch read/update (100 inputs, `idProperty`, 207 MULTI_STATUS with `errors[]` naming
 * ids in `context.ids`), merged contacts (hs_merged_object_ids), tasks, the v4
 * communication-preferences batch endpoints, deals search (filterGroups OR-ed, filters AND-ed: EQ,
 * GT, GTE, LT on properties, dates in epoch milliseconds; one sort at most, as HubSpot's search
 * allows, ties in no useful order (highest id first); limit ≤ 100; every deal carries
 * hs_lastmodifieddate, stamped at creation and at each updateDeal), v4 batch association reads (deals → contacts and
 * companies, companies → contacts), X-HubSpot-RateLimit-* headers on every answer, and
 * 429 with Retry-After when told to throttle. Request arrival times come from the injected `now`
 * (the test's manual clock), so rates can be checked without waiting.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubspotRequest {
  method: string;
  path: string;
  at: number;
  body: unknown;
  status: number;
}

interface Contact {
  id: string;
  properties: Record<string, string | null>;
  archived: boolean;
}

export interface HubspotServer {
  baseUrl: string;
  token: string;
  requests: HubspotRequest[];
  /** Creates a contact; returns its HubSpot id. */
  addContact(properties: Record<string, string>): string;
  contact(id: string): Contact | undefined;
  /** Merges `from` into `into` the way HubSpot does: `from` disappears and `into` lists it. */
  merge(from: string, into: string): void;
  /** The next `n` requests are answered 429 with this Retry-After (seconds). */
  throttle(n: number, retryAfterSeconds: number | null, policyName?: string): void;
  /** The next `n` requests are answered 503 (HubSpot is down). */
  outage(n: number): void;
  /** Requests to `path` after the next `skip` ones are answered 503 (HubSpot fails mid-way), until cleared. */
  failPath(path: string, skip: number): void;
  clearFailures(): void;
  /** Batch updates of this contact fail with a per-record VALIDATION_ERROR; a PATCH of it answers 400. */
  refuseUpdates(id: string, message: string): void;
  expireToken(): void;
  /** Installs an OAuth app: /oauth/v1/token then issues access tokens living `lifetimeSeconds` (default 1800). */
  installOAuthApp(app: {
    clientId: string;
    clientSecret: string;
    refreshToken: string;
    lifetimeSeconds?: number;
  }): void;
  /** Every issued access token stops working at once (the installation's tokens revoked). */
  revokeAccessTokens(): void;
  /** Requests to /oauth/v1/token: the form sent and the status answered. */
  oauthRequests: { form: Record<string, string>; status: number; at: number }[];
  tasks: Map<string, Record<string, unknown>>;
  optedOut: Set<string>;
  /** HubSpot ids removed by the GDPR delete, in order. */
  gdprDeleted: string[];
  /** Creates a deal (closedate as an ISO time) associated with these contacts; returns its id. */
  addDeal(properties: Record<string, string>, contactIds: string[]): string;
  /** Changes a deal's properties as a salesperson would: hs_lastmodifieddate becomes now. */
  updateDeal(id: string, properties: Record<string, string>): void;
  /** Creates a company with these contacts and associates the deals with it; returns its id. */
  addCompany(contactIds: string[], dealIds: string[]): string;
  close(): Promise<void>;
}

const DAILY_LIMIT = 250_000;
/** Deal properties HubSpot stores as datetimes: filters compare them as epoch milliseconds. */
const DATES = new Set(['closedate', 'hs_lastmodifieddate']);

export async function startHubspotServer(now: () => number, token = 'pat-na1-test-token'): Promise<HubspotServer> {
  const contacts = new Map<string, Contact>();
  const mergedInto = new Map<string, string>();
  const refused = new Map<string, string>();
  const tasks = new Map<string, Record<string, unknown>>();
  const optedOut = new Set<string>();
  const gdprDeleted: string[] = [];
  const deals = new Map<string, Record<string, string>>();
  // "<from type>/<to type>" → from id → associated ids
  const associations = new Map<string, Map<string, string[]>>();
  const associate = (from: string, to: string, fromId: string, toId: string): void => {
    const byId = associations.get(`${from}/${to}`) ?? new Map<string, string[]>();
    associations.set(`${from}/${to}`, byId);
    byId.set(fromId, [...(byId.get(fromId) ?? []), toId]);
  };
  const requests: HubspotRequest[] = [];
  let nextId = 51;
  let throttleLeft = 0;
  let outageLeft = 0;
  let failing: { path: string; skip: number } | undefined;
  let throttleRetryAfter: number | null = 1;
  let throttlePolicy = 'TEN_SECONDLY_ROLLING';
  let expired = false;
  // an OAuth app installed in the account, the access tokens it issued (expiry, by `now`), its requests
  let app: { clientId: string; clientSecret: string; refreshToken: string; lifetimeSeconds: number } | undefined;
  const issued = new Map<string, number>();
  let issuedCount = 0;
  const oauthRequests: HubspotServer['oauthRequests'] = [];
  let dailyUsed = 0;

  const newId = (): string => {
    nextId += 1;
    return String(nextId);
  };

  function resolve(id: string): Contact | undefined {
    let c = contacts.get(id);
    for (let hops = 0; c === undefined && mergedInto.has(id) && hops < 10; hops += 1) {
      id = mergedInto.get(id) as string;
      c = contacts.get(id);
    }
    return c?.archived ? undefined : c;
  }

  // property → value → contact, built on first use so a bench's million contacts are not scanned
  // per id; a hit is checked against the contact as it is now, a miss falls back to the scan
  const indexes = new Map<string, Map<string, Contact>>();
  function indexOf(property: string): Map<string, Contact> {
    let index = indexes.get(property);
    if (index === undefined) {
      index = new Map();
      for (const c of contacts.values()) {
        const v = c.properties[property];
        if (v != null && !index.has(v)) index.set(v, c);
      }
      indexes.set(property, index);
    }
    return index;
  }

  function findBy(property: string | undefined, value: string): Contact | undefined {
    if (property === undefined || property === 'hs_object_id') return resolve(value);
    if (property !== 'email') {
      const hit = indexOf(property).get(value);
      if (hit !== undefined && !hit.archived && hit.properties[property] === value) return hit;
    }
    for (const c of contacts.values()) {
      const v = c.properties[property];
      if (c.archived || v == null) continue;
      if (property === 'email' ? v.toLowerCase() === value.toLowerCase() : v === value) return c;
    }
    return undefined;
  }

  function view(c: Contact, props: string[]): Record<string, unknown> {
    const properties: Record<string, string | null> = { hs_object_id: c.id };
    for (const p of props) properties[p] = c.properties[p] ?? null;
    return {
      id: c.id,
      properties,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      archived: false,
    };
  }

  function batch(results: unknown[], errors: unknown[]): [number, unknown] {
    const base = {
      status: 'COMPLETE',
      results,
      startedAt: new Date(now()).toISOString(),
      completedAt: new Date(now()).toISOString(),
    };
    return errors.length > 0 ? [207, { ...base, numErrors: errors.length, errors }] : [200, base];
  }

  // biome-ignore lint/suspicious/noExplicitAny: request bodies are read field by field, as HubSpot does
  function route(method: string, path: string, query: URLSearchParams, body: any): [number, unknown] {
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/read') {
      const inputs: { id: string }[] = body?.inputs ?? [];
      if (inputs.length > 100) return [400, validation('inputs may hold at most 100 items')];
      const props: string[] = body?.properties ?? [];
      const results: unknown[] = [];
      const missing: string[] = [];
      for (const { id } of inputs) {
        const c = findBy(body?.idProperty, String(id));
        if (c === undefined) missing.push(String(id));
        else if (!results.some((r) => (r as { id: string }).id === c.id)) results.push(view(c, props));
      }
      const errors =
        missing.length === 0
          ? []
          : [
              {
                status: 'error',
                category: 'OBJECT_NOT_FOUND',
                message:
                  'Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.',
                context: { ids: missing },
              },
            ];
      return batch(results, errors);
    }
    if (method === 'POST' && path === '/crm/v3/objects/contacts/gdpr-delete') {
      // GDPR delete: permanent; 204 without a body, 404 when no contact holds the id
      const c = findBy(body?.idProperty, String(body?.objectId ?? ''));
      if (c === undefined) return [404, { status: 'error', category: 'OBJECT_NOT_FOUND', message: 'Object not found' }];
      c.archived = true;
      contacts.delete(c.id);
      gdprDeleted.push(c.id);
      return [204, undefined];
    }
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/update') {
      const inputs: { id: string; properties: Record<string, string> }[] = body?.inputs ?? [];
      if (inputs.length > 100) return [400, validation('inputs may hold at most 100 items')];
      const results: unknown[] = [];
      const errors: unknown[] = [];
      for (const input of inputs) {
        const c = resolve(String(input.id));
        const why = refused.get(String(input.id));
        if (c === undefined) {
          errors.push({
            status: 'error',
            category: 'OBJECT_NOT_FOUND',
            message: 'Object not found',
            context: { ids: [input.id] },
          });
        } else if (why !== undefined) {
          errors.push({ status: 'error', category: 'VALIDATION_ERROR', message: why, context: { ids: [input.id] } });
        } else {
          Object.assign(c.properties, input.properties);
          results.push(view(c, Object.keys(input.properties)));
        }
      }
      return batch(results, errors);
    }
    const one = /^\/crm\/v3\/objects\/contacts\/([^/]+)$/.exec(path);
    if (method === 'PATCH' && one) {
      // update one contact, by HubSpot id or by a unique property named in ?idProperty=
      const c = findBy(query.get('idProperty') ?? undefined, decodeURIComponent(one[1] as string));
      if (c === undefined) return [404, { status: 'error', category: 'OBJECT_NOT_FOUND', message: 'Object not found' }];
      const why = refused.get(c.id);
      if (why !== undefined) return [400, validation(why)];
      const properties: Record<string, unknown> = body?.properties ?? {};
      if (Object.values(properties).some((v) => typeof v !== 'string'))
        return [400, validation('Property values were not valid: values must be strings')];
      // '' clears a property
      for (const [k, v] of Object.entries(properties as Record<string, string>)) {
        if (v === '') delete c.properties[k];
        else c.properties[k] = v;
      }
      indexes.clear();
      return [200, view(c, Object.keys(properties))];
    }
    if (method === 'POST' && path === '/communication-preferences/v4/statuses/batch/unsubscribe-all') {
      if (query.get('channel') !== 'EMAIL') return [400, validation('channel is required')];
      return subscription<unknown>(body?.inputs ?? [], (email) => String(email), true);
    }
    if (method === 'POST' && path === '/communication-preferences/v4/statuses/batch/write') {
      const inputs: { subscriberIdString: string; statusState: string; subscriptionId?: number }[] = body?.inputs ?? [];
      if (inputs.some((i) => typeof i.subscriptionId !== 'number'))
        return [400, validation('subscriptionId is required')];
      return subscription(
        inputs.filter((i) => i.statusState === 'SUBSCRIBED'),
        (i) => i.subscriberIdString,
        false,
      );
    }
    if (method === 'POST' && path === '/crm/v3/objects/deals/search') {
      const limit = Number(body?.limit ?? 10);
      if (!(limit >= 1 && limit <= 100)) return [400, validation('limit must be between 1 and 100')];
      type Filter = { propertyName: string; operator: string; value: string };
      const value = (p: string, v: string | undefined) =>
        DATES.has(p) ? Date.parse(v ?? '') : p === 'hs_object_id' ? Number(v) : (v ?? '');
      const holds = (d: Record<string, string>, f: Filter): boolean => {
        const a = value(f.propertyName, d[f.propertyName]);
        const b = DATES.has(f.propertyName) ? Number(f.value) : value(f.propertyName, f.value);
        if (f.operator === 'EQ') return a === b;
        if (f.operator === 'GT') return a > b;
        if (f.operator === 'GTE') return a >= b;
        if (f.operator === 'LT') return a < b;
        throw new Error(`operator ${f.operator} not supported here`);
      };
      const groups: { filters: Filter[] }[] = body?.filterGroups ?? [];
      const sorts: { propertyName: string; direction: string }[] = body?.sorts ?? [];
      if (sorts.length > 1) return [400, validation('Only one sort is supported')];
      const hits = [...deals.values()]
        .filter((d) => groups.length === 0 || groups.some((g) => g.filters.every((f) => holds(d, f))))
        .sort((x, y) => {
          for (const o of sorts) {
            const a = value(o.propertyName, x[o.propertyName]);
            const b = value(o.propertyName, y[o.propertyName]);
            if (a !== b) return (a < b ? -1 : 1) * (o.direction === 'DESCENDING' ? -1 : 1);
          }
          return Number(y.hs_object_id) - Number(x.hs_object_id);
        });
      const props: string[] = body?.properties ?? [];
      const results = hits.slice(0, limit).map((d) => ({
        id: d.hs_object_id,
        properties: Object.fromEntries([['hs_object_id', d.hs_object_id], ...props.map((p) => [p, d[p] ?? null])]),
        archived: false,
      }));
      return [200, { total: hits.length, results }];
    }
    const assoc = /^\/crm\/v4\/associations\/(deals|companies)\/(contacts|companies)\/batch\/read$/.exec(path);
    if (method === 'POST' && assoc) {
      const inputs: { id: string }[] = body?.inputs ?? [];
      if (inputs.length > 1000) return [400, validation('inputs may hold at most 1000 items')];
      const byId = associations.get(`${assoc[1]}/${assoc[2]}`) ?? new Map<string, string[]>();
      const results = inputs
        .filter((i) => byId.has(String(i.id)))
        .map((i) => ({
          from: { id: String(i.id) },
          to: (byId.get(String(i.id)) ?? []).map((to) => ({
            toObjectId: Number(to),
            associationTypes: [{ category: 'HUBSPOT_DEFINED', typeId: 3, label: null }],
          })),
        }));
      return batch(results, []);
    }
    if (method === 'POST' && path === '/crm/v3/objects/tasks') {
      const id = newId();
      tasks.set(id, body ?? {});
      return [
        201,
        { id, properties: body?.properties ?? {}, createdAt: new Date(now()).toISOString(), archived: false },
      ];
    }
    const task = /^\/crm\/v3\/objects\/tasks\/([^/]+)$/.exec(path);
    if (method === 'DELETE' && task) {
      tasks.delete(decodeURIComponent(task[1] as string));
      return [204, undefined];
    }
    return [
      404,
      { status: 'error', message: `Unable to infer object type from: ${path}`, category: 'OBJECT_NOT_FOUND' },
    ];
  }

  function subscription<T>(inputs: T[], emailOf: (i: T) => string, out: boolean): [number, unknown] {
    if (inputs.length > 100) return [400, validation('inputs may hold at most 100 items')];
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of inputs) {
      const email = String(emailOf(input)).toLowerCase();
      if (!email.includes('@')) {
        errors.push({
          status: 'error',
          category: 'VALIDATION_ERROR',
          message: `Invalid email address: ${email}`,
          context: { subscriberIdString: [email] },
        });
        continue;
      }
      if (out) optedOut.add(email);
      else optedOut.delete(email);
      for (const c of contacts.values())
        if (c.properties.email?.toLowerCase() === email) c.properties.hs_email_optout = out ? 'true' : 'false';
      results.push({
        subscriberIdString: email,
        statuses: [
          { channel: 'EMAIL', status: out ? 'NOT_SUBSCRIBED' : 'SUBSCRIBED', subscriberIdString: email, source: 'API' },
        ],
      });
    }
    return batch(results, errors);
  }

  function limitHeaders(res: ServerResponse): void {
    res.setHeader('X-HubSpot-RateLimit-Daily', String(DAILY_LIMIT));
    res.setHeader('X-HubSpot-RateLimit-Daily-Remaining', String(DAILY_LIMIT - dailyUsed));
    res.setHeader('X-HubSpot-RateLimit-Max', '100');
    res.setHeader('X-HubSpot-RateLimit-Interval-Milliseconds', '10000');
  }

  /** POST /oauth/v1/token, refresh_token grant, form-encoded, as HubSpot's OAuth v1 answers it. */
  function tokenEndpoint(req: IncomingMessage, res: ServerResponse, text: string): void {
    const form = new URLSearchParams(text);
    const problem: [string, string] | undefined =
      req.method !== 'POST' || !String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')
        ? ['BAD_REQUEST', 'expected a form-encoded POST']
        : app === undefined || form.get('client_id') !== app.clientId
          ? ['BAD_CLIENT_ID', 'missing or unknown client id']
          : form.get('grant_type') !== 'refresh_token'
            ? ['BAD_GRANT_TYPE', 'unsupported grant type']
            : form.get('client_secret') !== app.clientSecret
              ? ['BAD_CLIENT_SECRET', 'missing or invalid client secret']
              : form.get('refresh_token') !== app.refreshToken
                ? ['BAD_REFRESH_TOKEN', 'missing or unknown refresh token']
                : undefined;
    let status = 400;
    let body: unknown;
    if (problem !== undefined || app === undefined) {
      const [code, message] = problem ?? ['BAD_CLIENT_ID', 'missing or unknown client id'];
      body = { status: code, message, correlationId: 'a1b2c3d4-0000-4000-8000-000000000003' };
    } else {
      const access = `oat-na1-${++issuedCount}`;
      issued.set(access, now() + app.lifetimeSeconds * 1000);
      status = 200;
      body = {
        token_type: 'bearer',
        refresh_token: app.refreshToken,
        access_token: access,
        expires_in: app.lifetimeSeconds,
      };
    }
    oauthRequests.push({ form: Object.fromEntries(form), status, at: now() });
    res.statusCode = status;
    res.setHeader('content-type', 'application/json;charset=utf-8');
    res.end(JSON.stringify(body));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/oauth/v1/token') return tokenEndpoint(req, res, text);
    const record: HubspotRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      at: now(),
      body: text === '' ? undefined : JSON.parse(text),
      status: 0,
    };
    requests.push(record);
    const send = (status: number, body: unknown): void => {
      record.status = status;
      limitHeaders(res);
      res.statusCode = status;
      if (body === undefined) return void res.end();
      res.setHeader('content-type', 'application/json;charset=utf-8');
      res.end(JSON.stringify(body));
    };
    const auth = req.headers.authorization;
    const oauthLive = auth?.startsWith('Bearer ') === true && (issued.get(auth.slice(7)) ?? 0) > now();
    if ((auth !== `Bearer ${token}` && !oauthLive) || expired) {
      const category = expired && auth === `Bearer ${token}` ? 'EXPIRED_AUTHENTICATION' : 'INVALID_AUTHENTICATION';
      return send(401, {
        status: 'error',
        message:
          category === 'EXPIRED_AUTHENTICATION'
            ? 'The OAuth token used to make this call expired 2 hour(s) ago.'
            : 'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find '
              + 'more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
        correlationId: 'a1b2c3d4-0000-4000-8000-000000000001',
        category,
      });
    }
    const failNow = failing !== undefined && failing.path === url.pathname && failing.skip-- <= 0;
    if (outageLeft > 0 || failNow) {
      if (!failNow) outageLeft -= 1;
      return send(503, { status: 'error', message: 'Service Unavailable', category: 'SERVICE_UNAVAILABLE' });
    }
    if (throttleLeft > 0) {
      throttleLeft -= 1;
      if (throttleRetryAfter !== null) res.setHeader('Retry-After', String(throttleRetryAfter));
      return send(429, {
        status: 'error',
        message:
          throttlePolicy === 'DAILY'
            ? 'You have reached your daily limit.'
            : 'You have reached your ten_secondly_rolling limit.',
        errorType: 'RATE_LIMIT',
        correlationId: 'a1b2c3d4-0000-4000-8000-000000000002',
        policyName: throttlePolicy,
        groupName: 'private-app',
      });
    }
    dailyUsed += 1;
    const [status, body] = route(record.method, url.pathname, url.searchParams, record.body);
    send(status, body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    token,
    requests,
    oauthRequests,
    installOAuthApp(a) {
      app = { ...a, lifetimeSeconds: a.lifetimeSeconds ?? 1800 };
    },
    revokeAccessTokens() {
      issued.clear();
    },
    tasks,
    optedOut,
    gdprDeleted,
    addContact(properties) {
      const id = newId();
      const contact = { id, properties: { ...properties }, archived: false };
      contacts.set(id, contact);
      for (const [property, index] of indexes) {
        const v = contact.properties[property];
        if (v != null && !index.has(v)) index.set(v, contact);
      }
      return id;
    },
    contact: (id) => contacts.get(id),
    addDeal(properties, contactIds) {
      const id = newId();
      deals.set(id, { hs_lastmodifieddate: new Date(now()).toISOString(), ...properties, hs_object_id: id });
      for (const c of contactIds) associate('deals', 'contacts', id, c);
      return id;
    },
    updateDeal(id, properties) {
      const deal = deals.get(id);
      if (deal === undefined) throw new Error('updateDeal: unknown deal');
      Object.assign(deal, properties, { hs_lastmodifieddate: new Date(now()).toISOString() });
    },
    addCompany(contactIds, dealIds) {
      const id = newId();
      for (const c of contactIds) associate('companies', 'contacts', id, c);
      for (const d of dealIds) associate('deals', 'companies', d, id);
      return id;
    },
    merge(from, into) {
      const a = contacts.get(from);
      const b = contacts.get(into);
      if (!a || !b) throw new Error('merge: unknown contact');
      contacts.delete(from);
      mergedInto.set(from, into);
      const before = b.properties.hs_merged_object_ids;
      b.properties.hs_merged_object_ids = before ? `${before};${from}` : from;
    },
    throttle(n, retryAfterSeconds, policyName = 'TEN_SECONDLY_ROLLING') {
      throttleLeft = n;
      throttleRetryAfter = retryAfterSeconds;
      throttlePolicy = policyName;
    },
    outage(n) {
      outageLeft = n;
    },
    failPath(path, skip) {
      failing = { path, skip };
    },
    clearFailures() {
      failing = undefined;
    },
    refuseUpdates(id, message) {
      refused.set(id, message);
    },
    expireToken() {
      expired = true;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

function validation(message: string): unknown {
  return {
    status: 'error',
    message,
    correlationId: 'a1b2c3d4-0000-4000-8000-000000000003',
    category: 'VALIDATION_ERROR',
  };
}
