/**
 * Local stand-ins for the four HTTP ESPs' suppression-list APIs, checking requests as the vendors
 * do (paths, auth headers, bodies, limits) and answering in their wire formats:
 * SendGrid POST /v3/asm/suppressions/global (Bearer key; 201 `{ recipient_emails }`),
 * Mailgun POST /v3/{domain}/{unsubscribes|complaints|bounces} (Basic api:key; JSON array ≤ 1000;
 * 200 `{ message }`), SES v2 PUT /v2/email/suppression/addresses (SigV4 recomputed with aws4;
 * 200 empty), Postmark POST /message-streams/{stream}/suppressions (X-Postmark-Server-Token; ≤ 50;
 * 200 `{ Suppressions: [{ EmailAddress, Status, Message }] }`). Each holds what it recorded per
 * list, refuses addresses that are not addresses as its vendor does, and can be told to answer
 * 429 with Retry-After for the next n requests.
 */
import aws4 from 'aws4';
import { createFaults, header, startFakeHttp } from './fake-http.ts';
import type { FakeReply, FakeRequest } from './fake-http.ts';

export interface FakeSuppressionApi {
  baseUrl: string;
  /** Addresses recorded, per list (`global`, `unsubscribes`, `BOUNCE`, `outbound`, …). */
  lists: Map<string, Map<string, unknown>>;
  /** Every request that passed authentication, in order. */
  requests: { method: string; path: string; body: unknown }[];
  holds(email: string): boolean;
  throttleNext(n: number, retryAfterSec?: number): void;
  close(): Promise<void>;
}

/** An address each fake refuses as invalid. */
export const INVALID_ADDRESS = 'not an address@@example.com';
const ADDRESS = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function json(req: FakeRequest): unknown {
  try {
    return JSON.parse(req.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function build(
  handle: (req: FakeRequest, record: (list: string, email: string, value: unknown) => void) => FakeReply,
  throttled: (retryAfterSec: number | undefined) => FakeReply,
  authorize: (req: FakeRequest) => FakeReply | undefined,
) {
  const lists = new Map<string, Map<string, unknown>>();
  const requests: FakeSuppressionApi['requests'] = [];
  const faults = createFaults();
  const record = (list: string, email: string, value: unknown) => {
    const m = lists.get(list) ?? new Map<string, unknown>();
    m.set(email.toLowerCase(), value);
    lists.set(list, m);
  };
  return {
    lists,
    requests,
    faults,
    serve: async (req: FakeRequest): Promise<FakeReply> => {
      const refused = authorize(req);
      if (refused !== undefined) return refused;
      requests.push({ method: req.method, path: req.path, body: json(req) });
      const fault = faults.take();
      if (fault?.kind === 'throttle') return throttled(fault.retryAfterSec);
      if (fault?.kind === 'fail') return { status: 503, body: 'Service Unavailable' };
      return handle(req, record);
    },
  };
}

async function finish(parts: ReturnType<typeof build>): Promise<FakeSuppressionApi> {
  const server = await startFakeHttp(parts.serve);
  return {
    baseUrl: server.baseUrl,
    lists: parts.lists,
    requests: parts.requests,
    holds: (email) => [...parts.lists.values()].some((m) => m.has(email.toLowerCase())),
    throttleNext: parts.faults.throttleNext,
    close: server.close,
  };
}

const retryHeader = (s: number | undefined): Record<string, string> =>
  s === undefined ? {} : { 'retry-after': String(s) };

export async function startFakeSendGridSuppressions(apiKey = 'SG.fake-key'): Promise<FakeSuppressionApi> {
  const err = (status: number, message: string, field: string | null = null, headers = {}): FakeReply => ({
    status,
    headers,
    body: { errors: [{ field, message }] },
  });
  return finish(
    build(
      (req, record) => {
        if (req.method !== 'POST' || req.path !== '/v3/asm/suppressions/global') return err(404, 'not found');
        const body = json(req) as { recipient_emails?: unknown } | undefined;
        const emails = body?.recipient_emails;
        if (!Array.isArray(emails) || emails.length === 0 || emails.some((e) => typeof e !== 'string'))
          return err(400, 'recipient_emails must be a non-empty array of strings', 'recipient_emails');
        const bad = emails.findIndex((e: string) => !ADDRESS.test(e));
        if (bad !== -1) return err(400, 'email address is invalid', `recipient_emails.${bad}`);
        for (const e of emails as string[]) record('global', e, true);
        return { status: 201, body: { recipient_emails: emails } };
      },
      (s) => err(429, 'too many requests', null, retryHeader(s)),
      (req) =>
        header(req, 'authorization') === `Bearer ${apiKey}`
          ? undefined
          : err(401, 'The provided authorization grant is invalid, expired, or revoked'),
    ),
  );
}

export async function startFakeMailgunSuppressions(
  domain = 'mg.shop.example.com',
  apiKey = 'key-fake',
): Promise<FakeSuppressionApi> {
  const LISTS = new Set(['unsubscribes', 'complaints', 'bounces']);
  return finish(
    build(
      (req, record) => {
        const m = /^\/v3\/([^/]+)\/([a-z]+)$/.exec(req.path);
        if (req.method !== 'POST' || m === null || !LISTS.has(m[2]!))
          return { status: 404, body: '404 page not found' };
        if (decodeURIComponent(m[1]!) !== domain) return { status: 404, body: { message: 'Domain not found' } };
        if (!(header(req, 'content-type') ?? '').startsWith('application/json'))
          return { status: 400, body: { message: 'Content-Type must be application/json for a batch' } };
        const body = json(req);
        if (!Array.isArray(body) || body.length === 0 || body.length > 1000)
          return { status: 400, body: { message: 'Batch must be a JSON array of 1 to 1000 records' } };
        for (const r of body as Record<string, unknown>[]) {
          if (typeof r.address !== 'string' || !ADDRESS.test(r.address))
            return {
              status: 400,
              body: { message: `'address' parameter is not a valid address: ${String(r.address)}` },
            };
          if (m[2] === 'unsubscribes' && r.tags !== undefined && !Array.isArray(r.tags))
            return { status: 400, body: { message: "'tags' must be an array" } };
        }
        for (const r of body as { address: string }[]) record(m[2]!, r.address, r);
        return { status: 200, body: { message: `${body.length} addresses have been added to the ${m[2]} table` } };
      },
      (s) => ({ status: 429, headers: retryHeader(s), body: { message: 'Too Many Requests' } }),
      (req) =>
        header(req, 'authorization') === `Basic ${Buffer.from(`api:${apiKey}`).toString('base64')}`
          ? undefined
          : { status: 401, body: 'Forbidden' },
    ),
  );
}

export interface FakeSesSuppressions extends FakeSuppressionApi {
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export async function startFakeSesSuppressions(region = 'eu-west-1'): Promise<FakeSesSuppressions> {
  const credentials = { accessKeyId: 'AKIDFAKESES0002', secretAccessKey: 'fake-suppression-secret' };
  const awsError = (status: number, type: string, message: string, extra: Record<string, string> = {}) => ({
    status,
    headers: { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.sesv2/`, ...extra },
    body: { message },
  });
  const authorize = (req: FakeRequest): FakeReply | undefined => {
    const m = new RegExp(
      String.raw`^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/ses\/aws4_request`
        + ', SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$',
    ).exec(header(req, 'authorization') ?? '');
    if (m === null) return awsError(403, 'IncompleteSignature', 'Authorization header is incomplete.');
    if (m[1] !== credentials.accessKeyId || m[3] !== region)
      return awsError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    const headers = Object.fromEntries(m[4]!.split(';').map((n) => [n, header(req, n) ?? '']));
    const again = aws4.sign(
      {
        host: header(req, 'host'),
        path: req.path,
        method: req.method,
        service: 'ses',
        region,
        headers,
        body: req.body.toString('utf8'),
      },
      credentials,
    );
    const expected = /Signature=([0-9a-f]{64})/.exec(String(again.headers?.['Authorization'] ?? ''))?.[1];
    return expected === m[5]
      ? undefined
      : awsError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match.');
  };
  const parts = build(
    (req, record) => {
      if (req.method !== 'PUT' || req.path !== '/v2/email/suppression/addresses')
        return awsError(404, 'NotFoundException', `No route ${req.method} ${req.path}`);
      const body = json(req) as { EmailAddress?: unknown; Reason?: unknown } | undefined;
      if (body?.Reason !== 'BOUNCE' && body?.Reason !== 'COMPLAINT')
        return awsError(400, 'BadRequestException', 'Reason must be BOUNCE or COMPLAINT.');
      if (typeof body.EmailAddress !== 'string' || !ADDRESS.test(body.EmailAddress))
        return awsError(400, 'BadRequestException', 'Invalid email address.');
      record(body.Reason, body.EmailAddress, true);
      return { status: 200 };
    },
    (s) => awsError(429, 'TooManyRequestsException', 'Too many requests.', retryHeader(s)),
    authorize,
  );
  return { ...(await finish(parts)), region, credentials };
}

export async function startFakePostmarkSuppressions(
  stream = 'broadcasts',
  token = 'pm-server-token',
): Promise<FakeSuppressionApi> {
  return finish(
    build(
      (req, record) => {
        const m = /^\/message-streams\/([^/]+)\/suppressions$/.exec(req.path);
        if (req.method !== 'POST' || m === null) return { status: 404, body: { ErrorCode: 0, Message: 'Not found' } };
        if (decodeURIComponent(m[1]!) !== stream)
          return {
            status: 422,
            body: { ErrorCode: 1226, Message: "The message stream for the provided 'ID' was not found." },
          };
        if (header(req, 'accept') !== 'application/json')
          return { status: 422, body: { ErrorCode: 0, Message: 'Accept header must be application/json' } };
        const body = json(req) as { Suppressions?: unknown } | undefined;
        const list = body?.Suppressions;
        if (!Array.isArray(list) || list.length > 50)
          return { status: 422, body: { ErrorCode: 0, Message: 'Suppressions must be an array of at most 50' } };
        const out = (list as { EmailAddress?: unknown }[]).map((s) => {
          const email = String(s.EmailAddress ?? '');
          if (!ADDRESS.test(email)) return { EmailAddress: email, Status: 'Failed', Message: 'Invalid email address.' };
          record(stream, email, true);
          return { EmailAddress: email, Status: 'Suppressed', Message: null };
        });
        return { status: 200, body: { Suppressions: out } };
      },
      (s) => ({ status: 429, headers: retryHeader(s), body: { ErrorCode: 0, Message: 'Rate limit exceeded' } }),
      (req) =>
        header(req, 'x-postmark-server-token') === token
          ? undefined
          : { status: 401, body: { ErrorCode: 10, Message: 'No Account or Server API tokens were supplied.' } },
    ),
  );
}
