/**
 * A local stand-in for the Postmark API that checks requests the way Postmark does:
 * POST /email and /email/batch, X-Postmark-Server-Token, Accept + Content-Type application/json,
 * From/To/Subject/body present, ≤ 500 messages per batch, ≤ 50 recipients per message. It answers
 * with Postmark's shapes: per-message `{ ErrorCode, Message, MessageID, SubmittedAt, To }`, 401 for a
 * bad token, 422 `{ ErrorCode, Message }`, 429 with Retry-After, 503. Inactive (refused) addresses
 * get ErrorCode 406, inside a 200 batch response as Postmark does.
 */
import { randomUUID } from 'node:crypto';
import type { ReceivedAttachment, ReceivedMessage } from '../connectors/esp/port.contract.ts';
import { createFaults, decodeBase64Strict, header, lowerKeys, startFakeHttp } from './fake-http.ts';
import type { FakeReply, FakeRequest } from './fake-http.ts';

export interface FakePostmark {
  baseUrl: string;
  token: string;
  received: ReceivedMessage[];
  requestSizes: number[];
  refuse(address: string): void;
  throttleNext(n: number, retryAfterSec?: number): void;
  failNext(n: number): void;
  close(): Promise<void>;
}

function addressOf(field: string): string {
  return (/<([^>]+)>\s*$/.exec(field)?.[1] ?? field).trim();
}

export async function startFakePostmark(token = 'pm-server-token'): Promise<FakePostmark> {
  const received: ReceivedMessage[] = [];
  const requestSizes: number[] = [];
  const inactive = new Set<string>();
  const faults = createFaults();

  function one(m: Record<string, unknown>): Record<string, unknown> {
    const to = typeof m['To'] === 'string' ? m['To'] : '';
    if (typeof m['From'] !== 'string' || to === '') {
      return { ErrorCode: 300, Message: "Invalid email request. Provide a 'From' and a 'To' address." };
    }
    if (typeof m['TextBody'] !== 'string' && typeof m['HtmlBody'] !== 'string') {
      return { ErrorCode: 300, Message: 'Provide either email TextBody or HtmlBody or both.' };
    }
    const recipients = to.split(',').map(addressOf);
    if (recipients.length > 50) return { ErrorCode: 300, Message: 'Invalid email request. Too many recipients.' };
    const dead = recipients.filter((r) => inactive.has(r.toLowerCase()));
    if (dead.length > 0) {
      return {
        ErrorCode: 406,
        Message:
          `You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: `
          + `${dead.join(', ')}. Inactive recipients are ones that have generated a hard bounce, a spam `
          + `complaint, or a manual suppression.`,
      };
    }
    const headers = lowerKeys(
      Object.fromEntries(((m['Headers'] ?? []) as { Name: string; Value: string }[]).map((h) => [h.Name, h.Value])),
    );
    const meta = (m['Metadata'] ?? {}) as Record<string, string>;
    const files = (m['Attachments'] ?? []) as Record<string, unknown>[];
    const attachments: ReceivedAttachment[] = [];
    for (const f of Array.isArray(files) ? files : []) {
      const content = decodeBase64Strict(f['Content']);
      if (content === undefined || typeof f['Name'] !== 'string' || typeof f['ContentType'] !== 'string')
        return {
          ErrorCode: 300,
          Message: 'Invalid email request. Attachments need Name, Content (base64), ContentType.',
        };
      attachments.push({ filename: f['Name'], contentType: f['ContentType'], content });
    }
    received.push({
      to: recipients[0]!,
      from: addressOf(m['From']),
      subject: String(m['Subject'] ?? ''),
      messageId: (headers['message-id'] ?? '').replace(/^<|>$/g, ''),
      headers,
      correlation: {
        campaignId: meta['sy_campaign'] ?? '',
        contactId: meta['sy_contact'] ?? '',
        ledgerId: meta['sy_msg'] ?? '',
      },
      attachments,
    });
    return { To: to, SubmittedAt: new Date().toISOString(), MessageID: randomUUID(), ErrorCode: 0, Message: 'OK' };
  }

  function handle(req: FakeRequest): FakeReply {
    if (req.method !== 'POST' || (req.path !== '/email' && req.path !== '/email/batch')) {
      return { status: 404, body: { ErrorCode: 404, Message: `No route for ${req.method} ${req.path}` } };
    }
    if (header(req, 'x-postmark-server-token') !== token) {
      return {
        status: 401,
        body: {
          ErrorCode: 10,
          Message: 'The Server Token you provided in the X-Postmark-Server-Token request header was invalid.',
        },
      };
    }
    if (
      !(header(req, 'content-type') ?? '').startsWith('application/json')
      || !(header(req, 'accept') ?? '').includes('application/json')
    ) {
      return {
        status: 415,
        body: { ErrorCode: 409, Message: 'JSON data required. Set Accept and Content-Type to application/json.' },
      };
    }
    let body: unknown;
    try {
      body = JSON.parse(req.body.toString('utf8'));
    } catch {
      return { status: 422, body: { ErrorCode: 402, Message: 'Received invalid JSON input.' } };
    }
    const isBatch = req.path === '/email/batch';
    if (isBatch && (!Array.isArray(body) || body.length > 500)) {
      return {
        status: 422,
        body: { ErrorCode: 410, Message: 'Too many batch messages. You may only send 500 messages per batch.' },
      };
    }
    const messages = (isBatch ? body : [body]) as Record<string, unknown>[];
    const fault = faults.take();
    if (fault?.kind === 'throttle') {
      return {
        status: 429,
        body: { ErrorCode: 429, Message: 'Rate limit exceeded.' },
        ...(fault.retryAfterSec === undefined ? {} : { headers: { 'retry-after': String(fault.retryAfterSec) } }),
      };
    }
    if (fault?.kind === 'fail') return { status: 503, body: 'Service Unavailable' };
    requestSizes.push(messages.length);
    const results = messages.map(one);
    if (isBatch) return { status: 200, body: results };
    const r = results[0]!;
    return { status: r['ErrorCode'] === 0 ? 200 : 422, body: r };
  }

  const server = await startFakeHttp(handle);
  return {
    baseUrl: server.baseUrl,
    token,
    received,
    requestSizes,
    refuse: (a) => {
      inactive.add(a.toLowerCase());
    },
    throttleNext: faults.throttleNext,
    failNext: faults.failNext,
    close: server.close,
  };
}
