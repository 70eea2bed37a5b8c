/**
 * A local stand-in for Mailgun's POST /v3/<domain>/messages that checks requests as Mailgun does:
 * basic auth `api:<key>` (401 "Forbidden" otherwise), a known domain (404), multipart/form-data or
 * urlencoded fields, `from`, `to`, a body, ≤ 1000 recipients. Answers `{ id, message }` or
 * `{ message }` errors (400, 429 with Retry-After, 500). A refused address fails the whole request
 * with "'to' parameter is not a valid address". It substitutes %recipient.x% from
 * recipient-variables into subject, h: and v: fields when recording what each recipient got.
 * One guard the real API lacks: several `to` without recipient-variables is refused here, because
 * Mailgun would then show every recipient to every other one.
 */
import { randomBytes } from 'node:crypto';
import type { ReceivedAttachment, ReceivedMessage } from '../connectors/esp/port.contract.ts';
import { createFaults, header, startFakeHttp } from './fake-http.ts';
import type { FakeReply, FakeRequest } from './fake-http.ts';

export interface FakeMailgun {
  baseUrl: string;
  domain: string;
  apiKey: string;
  received: ReceivedMessage[];
  requestSizes: number[];
  /** Fields of accepted requests, in order. */
  requests: [string, string][][];
  refuse(address: string): void;
  throttleNext(n: number, retryAfterSec?: number): void;
  failNext(n: number): void;
  close(): Promise<void>;
}

function addressOf(field: string): string {
  return (/<([^>]+)>\s*$/.exec(field)?.[1] ?? field).trim();
}

export async function startFakeMailgun(domain = 'mg.example.test', apiKey = 'key-fake-mailgun'): Promise<FakeMailgun> {
  const received: ReceivedMessage[] = [];
  const requestSizes: number[] = [];
  const requests: [string, string][][] = [];
  const refused = new Set<string>();
  const faults = createFaults();
  const msg = (status: number, message: string, headers?: Record<string, string>): FakeReply => ({
    status,
    body: { message },
    ...(headers ? { headers } : {}),
  });

  async function handle(req: FakeRequest): Promise<FakeReply> {
    const m = /^\/v3\/([^/]+)\/messages$/.exec(req.path);
    if (req.method !== 'POST' || m === null) return msg(404, 'Not Found');
    if (header(req, 'authorization') !== `Basic ${Buffer.from(`api:${apiKey}`).toString('base64')}`)
      return { status: 401, body: 'Forbidden' };
    if (decodeURIComponent(m[1]!) !== domain) return msg(404, `Domain not found: ${m[1]}`);
    const ct = header(req, 'content-type') ?? '';
    if (!ct.startsWith('multipart/form-data') && !ct.startsWith('application/x-www-form-urlencoded'))
      return msg(400, 'Invalid content type: expected multipart/form-data');
    const form = await new Response(new Uint8Array(req.body), { headers: { 'content-type': ct } }).formData();
    const fields = [...form.entries()]
      .filter(([, v]) => typeof v === 'string')
      .map(([k, v]): [string, string] => [k, String(v)]);
    const attachments: ReceivedAttachment[] = [];
    for (const [k, v] of form.entries()) {
      if (typeof v === 'string') continue;
      if (k !== 'attachment' && k !== 'inline') return msg(400, `${k}: a file where a value was expected`);
      attachments.push({ filename: v.name, contentType: v.type, content: Buffer.from(await v.arrayBuffer()) });
    }
    const get = (k: string) => fields.find(([f]) => f === k)?.[1];
    const tos = fields
      .filter(([k]) => k === 'to')
      .flatMap(([, v]) => v.split(','))
      .map(addressOf);
    if (get('from') === undefined) return msg(400, 'from parameter is missing');
    if (tos.length === 0) return msg(400, 'to parameter is missing');
    if (get('text') === undefined && get('html') === undefined && get('template') === undefined) {
      return msg(400, "Need at least one of 'text', 'html' or 'template' parameters specified");
    }
    if (tos.length > 1000)
      return msg(400, 'Too many recipients: batch sending is limited to 1000 recipients per request');
    const varsText = get('recipient-variables');
    let vars: Record<string, Record<string, string>> = {};
    if (varsText !== undefined) {
      try {
        vars = JSON.parse(varsText) as typeof vars;
      } catch {
        return msg(400, 'recipient-variables parameter is not a valid JSON');
      }
    } else if (tos.length > 1) {
      return msg(400, 'fake guard: several to addresses without recipient-variables would expose every recipient');
    }
    if (tos.some((t) => refused.has(t.toLowerCase())))
      return msg(400, "'to' parameter is not a valid address. please check documentation");
    const fault = faults.take();
    if (fault?.kind === 'throttle') {
      return msg(
        429,
        'Too many requests',
        fault.retryAfterSec === undefined ? undefined : { 'retry-after': String(fault.retryAfterSec) },
      );
    }
    if (fault?.kind === 'fail') return msg(500, 'Internal Server Error');
    requestSizes.push(tos.length);
    requests.push(fields);
    for (const to of tos) {
      const sub = (v: string) => v.replace(/%recipient\.([A-Za-z0-9_]+)%/g, (_, k: string) => vars[to]?.[k] ?? '');
      const headers = Object.fromEntries(
        fields.filter(([k]) => k.startsWith('h:')).map(([k, v]) => [k.slice(2).toLowerCase(), sub(v)]),
      );
      const uv = (k: string) => sub(get(`v:${k}`) ?? '');
      received.push({
        to,
        from: addressOf(get('from')!),
        subject: sub(get('subject') ?? ''),
        messageId: (headers['message-id'] ?? '').replace(/^<|>$/g, ''),
        headers,
        correlation: { campaignId: uv('sy_campaign'), contactId: uv('sy_contact'), ledgerId: uv('sy_msg') },
        attachments,
      });
    }
    return {
      status: 200,
      body: { id: `<${Date.now()}.${randomBytes(6).toString('hex')}@${domain}>`, message: 'Queued. Thank you.' },
    };
  }

  const server = await startFakeHttp(handle);
  return {
    baseUrl: server.baseUrl,
    domain,
    apiKey,
    received,
    requestSizes,
    requests,
    refuse: (a) => {
      refused.add(a.toLowerCase());
    },
    throttleNext: faults.throttleNext,
    failNext: faults.failNext,
    close: server.close,
  };
}
