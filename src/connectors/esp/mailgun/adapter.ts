/**
 * The Mailgun Esp: POST /v3/<domain>/messages as multipart/form-data with basic auth `api:<key>`,
 * on the US (api.mailgun.net) or EU (api.eu.mailgun.net) base URL. By default one request per
 * message (maxBatchSize 1, sendBatch runs `concurrency` at once). With `batchSending: true`,
 * messages of identical content share a request of ≤ 1000 recipients with recipient-variables; a
 * 400 about an invalid recipient in such a request falls back to one request per message, so only
 * the bad address fails. 429 honours Retry-After. It never retries a retryable failure itself.
 * Files go as multipart `attachment` parts (messages with other files never share a batch); a set
 * over MAILGUN_MAX_ATTACHMENT_BYTES is refused before any request.
 */
import type { Clock } from '../../../clock/port.ts';
import { callProvider, parseRetryAfter } from '../http-call.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import { oversizedAttachments } from '../attachments.ts';
import type { Attachment, BatchResult, Esp, OutboundMessage, SendReceipt } from '../port.ts';
import { isMailgunRecipientError, mailgunMessage, mapMailgunError } from './mailgun-errors.ts';
import { groupForMailgunBatch, toMailgunBatchFields, toMailgunFields } from './mailgun-request.ts';
import type { FormFields } from './mailgun-request.ts';

export interface MailgunEspOptions {
  domain: string;
  apiKey: string;
  /** 'us' (default) or 'eu'; ignored when baseUrl is given. */
  region?: 'us' | 'eu';
  baseUrl?: string;
  /** Group identical-content messages into batch requests (≤ 1000 recipients). Default false. */
  batchSending?: boolean;
  /** Requests in flight at once during sendBatch (default 4). */
  concurrency?: number;
  /** Abort a request after this long (default 30000 ms); its outcome is then unknown (ESP_UNAVAILABLE). */
  timeoutMs?: number;
}

/** Mailgun takes a message of at most 25 MB (its sending docs; not in connectors.md, unverified here). */
export const MAILGUN_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;

export function createMailgunEsp(deps: { clock: Clock; fetch?: typeof fetch }, options: MailgunEspOptions): Esp {
  const baseUrl = (
    options.baseUrl ?? (options.region === 'eu' ? 'https://api.eu.mailgun.net' : 'https://api.mailgun.net')
  ).replace(/\/+$/, '');
  const url = `${baseUrl}/v3/${encodeURIComponent(options.domain)}/messages`;
  const authorization = `Basic ${Buffer.from(`api:${options.apiKey}`).toString('base64')}`;
  const doFetch = deps.fetch ?? fetch;
  const isBatch = options.batchSending === true;
  const maxBatchSize = isBatch ? 1000 : 1;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let isClosed = false;

  /** Posts one request; resolves with Mailgun's message id (without angle brackets). */
  async function post(fields: FormFields, files: readonly Attachment[] = []): Promise<string> {
    if (isClosed) throw new SwitchyardError('ESP_UNAVAILABLE', 'Mailgun Esp is closed', { retryable: true });
    const form = new FormData();
    for (const [k, v] of fields) form.append(k, v);
    for (const f of files)
      form.append(
        'attachment',
        new Blob([Buffer.from(f.contentBase64, 'base64')], { type: f.contentType }),
        f.filename,
      );
    const { res, text } = await callProvider(
      doFetch,
      'Mailgun',
      url,
      { method: 'POST', headers: { Authorization: authorization }, body: form },
      timeoutMs,
    );
    if (!res.ok)
      throw mapMailgunError(res.status, text, parseRetryAfter(res.headers.get('retry-after'), deps.clock.now()));
    let id: unknown;
    try {
      id = (JSON.parse(text) as { id?: unknown }).id;
    } catch {
      /* handled below */
    }
    if (typeof id !== 'string') {
      throw new SwitchyardError(
        'ESP_UNAVAILABLE',
        `Mailgun answered ${res.status} without a message id; outcome unknown`,
        {
          retryable: true,
          details: { status: res.status, body: mailgunMessage(text) },
        },
      );
    }
    return id.replace(/^<|>$/g, '');
  }

  async function send(msg: OutboundMessage): Promise<SendReceipt> {
    const oversized = oversizedAttachments('Mailgun', msg, MAILGUN_MAX_ATTACHMENT_BYTES);
    if (oversized !== undefined) throw oversized;
    return { providerMessageId: await post(toMailgunFields(msg), msg.attachments), acceptedAt: deps.clock.now() };
  }

  async function sendGroup(
    indexes: number[],
    messages: readonly OutboundMessage[],
    results: BatchResult[],
  ): Promise<void> {
    // latencyMs: the request's own duration (one request per message, or one for the group)
    const since = (start: number): number => deps.clock.now().getTime() - start;
    const settle = async (i: number) => {
      const start = deps.clock.now().getTime();
      try {
        const receipt = await send(messages[i]!);
        results[i] = { ok: true, receipt, latencyMs: since(start) };
      } catch (err) {
        results[i] = { ok: false, error: err as SwitchyardError, latencyMs: since(start) };
      }
    };
    if (indexes.length === 1) return settle(indexes[0]!);
    const first = messages[indexes[0]!]!;
    const oversized = oversizedAttachments('Mailgun', first, MAILGUN_MAX_ATTACHMENT_BYTES);
    if (oversized !== undefined) {
      for (const i of indexes) results[i] = { ok: false, error: oversized, latencyMs: 0 };
      return;
    }
    const start = deps.clock.now().getTime();
    try {
      const id = await post(toMailgunBatchFields(indexes.map((i) => messages[i]!)), first.attachments);
      const acceptedAt = deps.clock.now();
      const latencyMs = since(start);
      for (const i of indexes) results[i] = { ok: true, receipt: { providerMessageId: id, acceptedAt }, latencyMs };
    } catch (err) {
      const e = err as SwitchyardError;
      const status = e.details?.['status'];
      if (typeof status === 'number' && isMailgunRecipientError(status, String(e.details?.['vendorMessage'] ?? ''))) {
        // Mailgun does not say which address; nothing was sent, so send one by one.
        for (const i of indexes) await settle(i);
        return;
      }
      const latencyMs = since(start);
      for (const i of indexes) results[i] = { ok: false, error: e, latencyMs };
    }
  }

  return {
    name: 'mailgun',
    commitPoint: 'before-request',
    maxBatchSize,
    supportsAttachments: true,
    maxAttachmentBytes: MAILGUN_MAX_ATTACHMENT_BYTES,
    send,
    async sendBatch(messages) {
      const results: BatchResult[] = new Array(messages.length);
      const groups = isBatch ? groupForMailgunBatch(messages, maxBatchSize) : messages.map((_, i) => [i]);
      let next = 0;
      const worker = async () => {
        for (let g = next++; g < groups.length; g = next++) await sendGroup(groups[g]!, messages, results);
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker));
      return results;
    },
    async close() {
      isClosed = true;
    },
  };
}
