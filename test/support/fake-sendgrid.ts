/**
 * A local stand-in for SendGrid's v3 mail-send API that checks requests as SendGrid documents them:
 * POST /v3/mail/send, `Authorization: Bearer <key>`, JSON body with 1–1000 personalizations,
 * ≤ 1000 recipients in total, no address twice, from.email, a subject (top level or per
 * personalization), content with text/plain first, string-valued custom_args. Answers 202 with
 * X-Message-Id, or `{ errors: [{ message, field, help }] }` with 400/401/413/429/500. A refused
 * address fails the whole request with a 400 naming `personalizations.N.to.0.email`.
 */
import { randomBytes } from 'node:crypto';
import type { ReceivedAttachment, ReceivedMessage } from '../connectors/esp/port.contract.ts';
import { createFaults, decodeBase64Strict, header, lowerKeys, startFakeHttp } from './fake-http.ts';
import type { FakeReply, FakeRequest } from './fake-http.ts';

export interface FakeSendGrid {
  baseUrl: string;
  apiKey: string;
  received: ReceivedMessage[];
  requestSizes: number[];
  /** Raw JSON bodies of accepted requests. */
  bodies: unknown[];
  refuse(address: string): void;
  throttleNext(n: number, retryAfterSec?: number): void;
  failNext(n: number): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function bad(status: number, message: string, field: string | null = null): FakeReply {
  return { status, body: { errors: [{ message, field, help: null }] } };
}

export async function startFakeSendGrid(apiKey = 'SG.test-key'): Promise<FakeSendGrid> {
  const received: ReceivedMessage[] = [];
  const requestSizes: number[] = [];
  const bodies: unknown[] = [];
  const refused = new Set<string>();
  const faults = createFaults();

  function validate(body: Json): FakeReply | undefined {
    const ps = body['personalizations'];
    if (!Array.isArray(ps) || ps.length === 0)
      return bad(
        400,
        'The personalizations field is required and must have at least one personalization.',
        'personalizations',
      );
    if (ps.length > 1000)
      return bad(400, 'The personalizations field must have no more than 1000 personalizations.', 'personalizations');
    const from = body['from'] as Json | undefined;
    if (typeof from?.['email'] !== 'string')
      return bad(400, 'The from object must be provided for every email send.', 'from');
    const content = body['content'] as Json[] | undefined;
    if (!Array.isArray(content) || content.length === 0)
      return bad(400, 'Unless a valid template_id is provided, the content parameter is required.', 'content');
    if (content.length > 1 && content[0]!['type'] !== 'text/plain')
      return bad(400, 'If present, text/plain content must be first.', 'content');
    const seen = new Set<string>();
    let total = 0;
    for (const [i, p] of (ps as Json[]).entries()) {
      const to = p['to'];
      if (!Array.isArray(to) || to.length === 0)
        return bad(400, 'The to array is required for all personalization objects.', `personalizations.${i}.to`);
      if (typeof p['subject'] !== 'string' && typeof body['subject'] !== 'string')
        return bad(400, 'The subject is required.', 'subject');
      for (const v of Object.values((p['custom_args'] ?? {}) as Json)) {
        if (typeof v !== 'string')
          return bad(400, 'Custom args values must be strings.', `personalizations.${i}.custom_args`);
      }
      for (const [j, t] of (to as Json[]).entries()) {
        const email = String(t['email'] ?? '').toLowerCase();
        total++;
        if (seen.has(email)) {
          return bad(
            400,
            `Each email address in the personalization block should be unique between to, cc, and bcc. We `
              + `found the first duplicate instance of [${email}] in the personalizations.${i}.to field.`,
            `personalizations.${i}.to`,
          );
        }
        seen.add(email);
        if (refused.has(email))
          return bad(400, 'Does not contain a valid address.', `personalizations.${i}.to.${j}.email`);
      }
    }
    if (total > 1000) return bad(400, 'The total number of recipients must be no more than 1000.', 'personalizations');
    const files = body['attachments'];
    if (files !== undefined) {
      if (!Array.isArray(files)) return bad(400, 'The attachments field must be an array.', 'attachments');
      for (const [i, f] of (files as Json[]).entries()) {
        if (decodeBase64Strict(f['content']) === undefined)
          return bad(400, 'The attachment content must be base64 encoded.', `attachments.${i}.content`);
        if (typeof f['filename'] !== 'string' || f['filename'] === '')
          return bad(400, 'The attachment filename parameter is required.', `attachments.${i}.filename`);
      }
    }
    return undefined;
  }

  function handle(req: FakeRequest): FakeReply {
    if (req.method !== 'POST' || req.path !== '/v3/mail/send') return bad(404, `Not found: ${req.method} ${req.path}`);
    if (header(req, 'authorization') !== `Bearer ${apiKey}`) {
      return bad(401, 'The provided authorization grant is invalid, expired, or revoked');
    }
    if (!(header(req, 'content-type') ?? '').startsWith('application/json'))
      return bad(415, 'Content-Type should be application/json.');
    if (req.body.length > 20 * 1024 * 1024)
      return bad(413, 'The JSON payload you have included in your request is too large.');
    let body: Json;
    try {
      body = JSON.parse(req.body.toString('utf8')) as Json;
    } catch {
      return bad(400, 'Bad Request', null);
    }
    const invalid = validate(body);
    if (invalid !== undefined) return invalid;
    const fault = faults.take();
    if (fault?.kind === 'throttle') {
      return {
        ...bad(429, 'too many requests'),
        ...(fault.retryAfterSec === undefined ? {} : { headers: { 'retry-after': String(fault.retryAfterSec) } }),
      };
    }
    if (fault?.kind === 'fail') return bad(500, 'internal error');
    const ps = body['personalizations'] as Json[];
    const attachments: ReceivedAttachment[] = ((body['attachments'] ?? []) as Json[]).map((f) => ({
      filename: String(f['filename']),
      contentType: String(f['type'] ?? 'application/octet-stream'),
      content: decodeBase64Strict(f['content'])!,
    }));
    requestSizes.push(ps.length);
    bodies.push(body);
    const topHeaders = lowerKeys((body['headers'] ?? {}) as Record<string, string>);
    const topArgs = (body['custom_args'] ?? {}) as Record<string, string>;
    for (const p of ps) {
      const headers = { ...topHeaders, ...lowerKeys((p['headers'] ?? {}) as Record<string, string>) };
      const args = { ...topArgs, ...((p['custom_args'] ?? {}) as Record<string, string>) };
      received.push({
        to: String((p['to'] as Json[])[0]?.['email']),
        from: String((body['from'] as Json)['email']),
        subject: String(p['subject'] ?? body['subject']),
        messageId: (headers['message-id'] ?? '').replace(/^<|>$/g, ''),
        headers,
        correlation: {
          campaignId: args['sy_campaign'] ?? '',
          contactId: args['sy_contact'] ?? '',
          ledgerId: args['sy_msg'] ?? '',
        },
        attachments,
      });
    }
    return { status: 202, headers: { 'x-message-id': randomBytes(16).toString('base64url') }, body: '' };
  }

  const server = await startFakeHttp(handle);
  return {
    baseUrl: server.baseUrl,
    apiKey,
    received,
    requestSizes,
    bodies,
    refuse: (a) => {
      refused.add(a.toLowerCase());
    },
    throttleNext: faults.throttleNext,
    failNext: faults.failNext,
    close: server.close,
  };
}
