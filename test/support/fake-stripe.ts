/**
 * A local Stripe for tests (node:http) in Stripe's wire format: Bearer secret key (401
 * `authentication_required` otherwise), form-encoded bodies, `GET /v1/customers?email=`, `GET
 * /v1/invoices?customer=`, `GET|POST|DELETE /v1/customers/:id` (404 `resource_missing` for an
 * unknown or deleted customer), list objects `{object:'list', data, has_more}`, and 429 with
 * `Retry-After` when told to throttle. Optional latency per request (real time, for the bench).
 * For the backfill: the list endpoints `GET /v1/{customers,invoices,charges,subscriptions}` (without
 * `email`/`customer`) page `lists` as Stripe does: newest `created` first, `limit` 1–100 (default 10),
 * `starting_after` (400 `resource_missing` for an unknown id), `created[gte]`, invoices' `status`,
 * subscriptions without canceled ones unless `status=all`; `failNext` answers the next requests
 * with a 500.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeStripe {
  baseUrl: string;
  secretKey: string;
  customers: Map<string, Record<string, unknown> & { deleted?: boolean }>;
  invoices: { id: string; customer: string }[];
  requests: { method: string; path: string; query: URLSearchParams }[];
  /** Objects the list endpoints page (newest first by `created`, then id). */
  lists: Record<ListName, Record<string, unknown>[]>;
  /** The next n requests (after authentication) fail with 500. */
  failNext(n: number): void;
  addCustomer(email: string, name: string, withInvoice: boolean): string;
  throttle(n: number): void;
  close(): Promise<void>;
}

type ListName = 'customers' | 'invoices' | 'charges' | 'subscriptions';
const LIST_NAMES: readonly string[] = ['customers', 'invoices', 'charges', 'subscriptions'];

/** One page of a list as Stripe answers it, or an error body with its status. */
function listPage(
  name: ListName,
  all: Record<string, unknown>[],
  q: URLSearchParams,
): { status: number; json: unknown } {
  const limit = Number(q.get('limit') ?? 10);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    return {
      status: 400,
      json: { error: { type: 'invalid_request_error', code: 'parameter_invalid_integer', param: 'limit' } },
    };
  const gte = q.get('created[gte]');
  const status = q.get('status');
  const rows = all
    .filter((o) => gte === null || Number(o.created) >= Number(gte))
    .filter((o) => (name === 'invoices' && status !== null ? o.status === status : true))
    .filter((o) => (name === 'subscriptions' && status !== 'all' ? o.status !== 'canceled' : true))
    .sort((a, b) => Number(b.created) - Number(a.created) || String(b.id).localeCompare(String(a.id)));
  let from = 0;
  const after = q.get('starting_after');
  if (after !== null) {
    const i = rows.findIndex((o) => o.id === after);
    if (i < 0)
      return {
        status: 400,
        json: { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'starting_after' } },
      };
    from = i + 1;
  }
  const data = rows.slice(from, from + limit);
  return { status: 200, json: { object: 'list', data, has_more: from + limit < rows.length, url: `/v1/${name}` } };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

export async function startFakeStripe(options: { latencyMs?: number } = {}): Promise<FakeStripe> {
  const secretKey = 'sk_test_switchyard';
  const customers = new Map<string, Record<string, unknown> & { deleted?: boolean }>();
  const invoices: { id: string; customer: string }[] = [];
  const requests: { method: string; path: string; query: URLSearchParams }[] = [];
  const lists: Record<ListName, Record<string, unknown>[]> = {
    customers: [],
    invoices: [],
    charges: [],
    subscriptions: [],
  };
  let n = 0;
  let throttled = 0;
  let failing = 0;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://stripe.local');
    const body = await readBody(req);
    requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams });
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    const send = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${++n}`, ...headers });
      res.end(JSON.stringify(json));
    };
    if (req.headers.authorization !== `Bearer ${secretKey}`)
      return send(401, {
        error: {
          type: 'invalid_request_error',
          code: 'authentication_required',
          message: 'No valid API key provided.',
        },
      });
    if (throttled > 0) {
      throttled -= 1;
      return send(429, { error: { type: 'rate_limit_error', message: 'Too many requests' } }, { 'retry-after': '2' });
    }
    if (failing > 0) {
      failing -= 1;
      return send(500, { error: { type: 'api_error', message: 'Something went wrong on our end' } });
    }
    const listName = url.pathname.slice('/v1/'.length);
    if (
      req.method === 'GET'
      && LIST_NAMES.includes(listName)
      && !url.searchParams.has('email')
      && !url.searchParams.has('customer')
    ) {
      const { status, json } = listPage(listName as ListName, lists[listName as ListName], url.searchParams);
      return send(status, json);
    }
    const missing = () =>
      send(404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: 'No such customer' } });
    if (req.method === 'GET' && url.pathname === '/v1/customers') {
      const email = (url.searchParams.get('email') ?? '').toLowerCase();
      const data = [...customers.values()].filter((c) => !c.deleted && String(c.email).toLowerCase() === email);
      return send(200, { object: 'list', data, has_more: false, url: '/v1/customers' });
    }
    if (req.method === 'GET' && url.pathname === '/v1/invoices') {
      const data = invoices
        .filter((i) => i.customer === url.searchParams.get('customer'))
        .slice(0, Number(url.searchParams.get('limit') ?? 10));
      return send(200, { object: 'list', data, has_more: false, url: '/v1/invoices' });
    }
    const m = /^\/v1\/customers\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const c = customers.get(decodeURIComponent(m[1]!));
      if (c === undefined || c.deleted) return missing();
      if (req.method === 'GET') return send(200, c);
      if (req.method === 'DELETE') {
        c.deleted = true;
        return send(200, { id: c.id, object: 'customer', deleted: true });
      }
      if (req.method === 'POST') {
        const form = new URLSearchParams(body);
        for (const [k, v] of form) {
          const meta = /^metadata\[(.+)\]$/.exec(k);
          if (meta) (c.metadata as Record<string, string>)[meta[1]!] = v;
          else c[k] = v === '' ? null : v;
        }
        return send(200, c);
      }
    }
    return send(404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    secretKey,
    customers,
    invoices,
    requests,
    lists,
    failNext(k) {
      failing = k;
    },
    addCustomer(email, name, withInvoice) {
      const id = `cus_${(customers.size + 1).toString().padStart(8, '0')}`;
      customers.set(id, {
        id,
        object: 'customer',
        email,
        name,
        phone: '+4930123456',
        address: { city: 'Berlin' },
        metadata: {},
      });
      if (withInvoice) invoices.push({ id: `in_${invoices.length + 1}`, customer: id });
      return id;
    },
    throttle(k) {
      throttled = k;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
