/**
 * A local Stripe for tests (node:http) in Stripe's wire format: Bearer secret key (401
 * `authentication_required` otherwise), form-encoded bodies, `GET /v1/customers?email=`, `GET
 * /v1/invoices?customer=`, `GET|POST|DELETE /v1/customers/:id` (404 `resource_missing` for an
 * unknown or deleted customer), list objects `{object:'list', data, has_more}`, and 429 with
 * `Retry-After` when told to throttle. Optional latency per request (real time, for the bench).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeStripe {
  baseUrl: string;
  secretKey: string;
  customers: Map<string, Record<string, unknown> & { deleted?: boolean }>;
  invoices: { id: string; customer: string }[];
  requests: { method: string; path: string }[];
  addCustomer(email: string, name: string, withInvoice: boolean): string;
  throttle(n: number): void;
  close(): Promise<void>;
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
  const requests: { method: string; path: string }[] = [];
  let n = 0;
  let throttled = 0;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://stripe.local');
    const body = await readBody(req);
    requests.push({ method: req.method ?? 'GET', path: url.pathname });
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
