/**
 * A local stand-in for Amazon SES API v2 SendEmail that checks requests as SES does:
 * POST /v2/email/outbound-emails, JSON, an AWS SigV4 Authorization header whose access key it knows
 * and whose signature it recomputes (with aws4, over the signed headers and body), Destination with
 * ≤ 50 recipients, Content (Raw MIME is parsed with mailparser), EmailTags in SES's alphabet.
 * Answers `{ MessageId }` or an error with `x-amzn-ErrorType` and `{ message }`, as SES does:
 * 403 UnrecognizedClientException / SignatureDoesNotMatch, 400 MessageRejected naming a refused
 * recipient, 429 TooManyRequestsException, 500 InternalFailure.
 */
import { randomUUID } from 'node:crypto';
import aws4 from 'aws4';
import { simpleParser } from 'mailparser';
import { decodeSesTagValue } from '../../src/connectors/esp/ses/ses-request.ts';
import type { ReceivedMessage } from '../connectors/esp/port.contract.ts';
import { createFaults, header, startFakeHttp } from './fake-http.ts';
import type { FakeReply, FakeRequest } from './fake-http.ts';

export interface FakeSes {
  baseUrl: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  received: ReceivedMessage[];
  requestSizes: number[];
  bodies: Record<string, unknown>[];
  refuse(address: string): void;
  throttleNext(n: number, retryAfterSec?: number): void;
  failNext(n: number): void;
  close(): Promise<void>;
}

function awsError(status: number, type: string, message: string, extra: Record<string, string> = {}): FakeReply {
  return {
    status,
    headers: { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.sesv2/`, ...extra },
    body: { message },
  };
}

const TAG_ALPHABET = /^[A-Za-z0-9_-]{1,256}$/;

export async function startFakeSes(region = 'eu-west-1'): Promise<FakeSes> {
  const credentials = { accessKeyId: 'AKIDFAKESES0001', secretAccessKey: 'fake-secret-key' };
  const received: ReceivedMessage[] = [];
  const requestSizes: number[] = [];
  const bodies: Record<string, unknown>[] = [];
  const refused = new Set<string>();
  const faults = createFaults();

  function checkSignature(req: FakeRequest): FakeReply | undefined {
    const auth = header(req, 'authorization') ?? '';
    const m = new RegExp(
      String.raw`^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/ses\/aws4_request`
        + ', SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$',
    ).exec(auth);
    if (m === null)
      return awsError(
        403,
        'IncompleteSignature',
        'Authorization header requires Credential, SignedHeaders and Signature.',
      );
    if (m[1] !== credentials.accessKeyId)
      return awsError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    if (m[3] !== region)
      return awsError(403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${m[3]}'.`);
    const signedNames = m[4]!.split(';');
    const headers = Object.fromEntries(signedNames.map((n) => [n, header(req, n) ?? '']));
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
    if (expected !== m[5]) {
      return awsError(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
      );
    }
    return undefined;
  }

  async function handle(req: FakeRequest): Promise<FakeReply> {
    if (req.method !== 'POST' || req.path !== '/v2/email/outbound-emails')
      return awsError(404, 'NotFoundException', `No route ${req.method} ${req.path}`);
    const sigError = checkSignature(req);
    if (sigError !== undefined) return sigError;
    if (!(header(req, 'content-type') ?? '').startsWith('application/json'))
      return awsError(400, 'BadRequestException', 'Content-Type must be application/json');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(req.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return awsError(400, 'BadRequestException', 'Request body is not valid JSON');
    }
    const to = (body['Destination'] as { ToAddresses?: string[] } | undefined)?.ToAddresses ?? [];
    if (to.length === 0 || to.length > 50)
      return awsError(400, 'BadRequestException', 'Destination must have 1 to 50 recipients.');
    const raw = (body['Content'] as { Raw?: { Data?: string } } | undefined)?.Raw?.Data;
    if (typeof raw !== 'string')
      return awsError(400, 'BadRequestException', 'Content.Raw.Data (or Simple/Template) is required.');
    const tags = (body['EmailTags'] ?? []) as { Name: string; Value: string }[];
    const badTag = tags.find((t) => !TAG_ALPHABET.test(t.Name) || !TAG_ALPHABET.test(t.Value));
    if (badTag !== undefined)
      return awsError(
        400,
        'BadRequestException',
        `Invalid tag ${badTag.Name}: only ASCII letters, numbers, underscores and dashes.`,
      );
    const fault = faults.take();
    if (fault?.kind === 'throttle') {
      return awsError(
        429,
        'TooManyRequestsException',
        'Maximum sending rate exceeded.',
        fault.retryAfterSec === undefined ? {} : { 'retry-after': String(fault.retryAfterSec) },
      );
    }
    if (fault?.kind === 'fail') return awsError(500, 'InternalFailure', 'An internal error occurred.');
    const dead = to.filter((a) => refused.has(a.toLowerCase()));
    if (dead.length > 0) {
      return awsError(
        400,
        'MessageRejected',
        `Email address is not verified. The following identities failed the check in region `
          + `${region.toUpperCase()}: ${dead.join(', ')}`,
      );
    }
    requestSizes.push(1);
    bodies.push(body);
    const parsed = await simpleParser(Buffer.from(raw, 'base64'));
    const headers = Object.fromEntries(
      parsed.headerLines.map(({ key, line }) => [
        key.toLowerCase(),
        line
          .slice(line.indexOf(':') + 1)
          .replace(/\r?\n([ \t])/g, '$1')
          .trim(),
      ]),
    );
    const tag = (n: string) => decodeSesTagValue(tags.find((t) => t.Name === n)?.Value ?? '');
    received.push({
      to: to[0]!,
      from: String(body['FromEmailAddress'] ?? ''),
      subject: parsed.subject ?? '',
      messageId: (parsed.messageId ?? '').replace(/^<|>$/g, ''),
      headers,
      correlation: { campaignId: tag('sy_campaign'), contactId: tag('sy_contact'), ledgerId: tag('sy_msg') },
      attachments: parsed.attachments.map((a) => ({
        filename: a.filename ?? '',
        contentType: a.contentType,
        content: a.content,
      })),
    });
    return { status: 200, body: { MessageId: `0102019${randomUUID().replace(/-/g, '')}-000000` } };
  }

  const server = await startFakeHttp(handle);
  return {
    baseUrl: server.baseUrl,
    region,
    credentials,
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
