/**
 * The plumbing shared by the fake vendor APIs (fake-sendgrid.ts, fake-mailgun.ts, …): a node:http
 * server on 127.0.0.1, port 0, that hands each request (method, path, headers, raw body) to a
 * vendor handler and writes its reply; plus the fault switches every fake offers (throttle the
 * next n requests, fail the next n). Vendor wire formats live in the vendor files, not here.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** Lower-cased names, as node gives them. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface FakeReply {
  status: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings as text/plain (unless headers say otherwise). */
  body?: unknown;
}

export interface FakeHttpServer {
  baseUrl: string;
  close(): Promise<void>;
}

export async function startFakeHttp(
  handle: (req: FakeRequest) => FakeReply | Promise<FakeReply>,
): Promise<FakeHttpServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      Promise.resolve()
        .then(() =>
          handle({
            method: req.method ?? 'GET',
            path: url.pathname,
            query: url.searchParams,
            headers: req.headers,
            body: Buffer.concat(chunks),
          }),
        )
        .then((reply) => {
          const headers = { ...reply.headers };
          let payload = '';
          if (typeof reply.body === 'string') {
            payload = reply.body;
            headers['content-type'] ??= 'text/plain; charset=utf-8';
          } else if (reply.body !== undefined) {
            payload = JSON.stringify(reply.body);
            headers['content-type'] ??= 'application/json';
          }
          res.writeHead(reply.status, headers).end(payload);
        })
        .catch((err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`fake server bug: ${String(err)}`);
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** The throttle / failure switches a fake consults once per request. */
export function createFaults() {
  let throttle: { n: number; retryAfterSec: number | undefined } = { n: 0, retryAfterSec: undefined };
  let fail = 0;
  return {
    throttleNext(n: number, retryAfterSec?: number): void {
      throttle = { n: throttle.n + n, retryAfterSec };
    },
    failNext(n: number): void {
      fail += n;
    },
    /** What this request should suffer, consuming one fault. */
    take(): { kind: 'throttle'; retryAfterSec: number | undefined } | { kind: 'fail' } | undefined {
      if (throttle.n > 0) {
        throttle.n--;
        return { kind: 'throttle', retryAfterSec: throttle.retryAfterSec };
      }
      if (fail > 0) {
        fail--;
        return { kind: 'fail' };
      }
      return undefined;
    },
  };
}

/** Lower-cases header names of a plain record. */
export function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

export function header(req: FakeRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Base64 as the vendors decode it strictly: undefined unless it is canonical base64. */
export function decodeBase64Strict(text: unknown): Buffer | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
