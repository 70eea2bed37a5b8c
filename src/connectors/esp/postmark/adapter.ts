/**
 * The Postmark Esp: POST /email for one message, POST /email/batch for up to 500 (each entry is a
 * complete message, so any mix of rendered messages batches). Auth is the X-Postmark-Server-Token
 * header. A batch answers HTTP 200 even when some entries failed, so each entry's ErrorCode is
 * checked; a non-2xx (401, 422, 429, 5xx) fails every message of that request. It never retries.
 * Files go base64 in `Attachments`: a message's set over POSTMARK_MAX_ATTACHMENT_BYTES is refused
 * before any request, and a batch is cut before its files would pass Postmark's 50 MB per call.
 */
import type { Clock } from '../../../clock/port.ts';
import { attachmentWireBytes, oversizedAttachments } from '../attachments.ts';
import { callProvider, parseRetryAfter } from '../http-call.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import type { BatchResult, Esp, OutboundMessage, SendReceipt } from '../port.ts';
import { mapPostmarkErrorCode, mapPostmarkHttpError } from './postmark-errors.ts';
import { toPostmarkMessage } from './postmark-request.ts';
import type { PostmarkMessage } from './postmark-request.ts';

export interface PostmarkEspOptions {
  /** Default https://api.postmarkapp.com */
  baseUrl?: string;
  serverToken: string;
  /** Default 'broadcast' (marketing mail must go through a broadcast stream). */
  messageStream?: string;
  trackOpens?: boolean;
  trackLinks?: PostmarkMessage['TrackLinks'];
  /** Messages per /email/batch call, at most 500 (default 500). */
  maxBatchSize?: number;
  /** Batch requests in flight at once during sendBatch (default 4). */
  concurrency?: number;
  /** Abort a request after this long (default 30000 ms); its outcome is then unknown (ESP_UNAVAILABLE). */
  timeoutMs?: number;
}

/** Postmark: a message ≤ 10 MB, a batch call ≤ 50 MB (connectors.md §1); bodies and headers keep a margin. */
export const POSTMARK_MAX_ATTACHMENT_BYTES = 9 * 1024 * 1024;
const MAX_BATCH_ATTACHMENT_BYTES = 45 * 1024 * 1024;

interface PostmarkResult {
  ErrorCode?: unknown;
  Message?: unknown;
  MessageID?: unknown;
}

export function createPostmarkEsp(deps: { clock: Clock; fetch?: typeof fetch }, options: PostmarkEspOptions): Esp {
  const baseUrl = (options.baseUrl ?? 'https://api.postmarkapp.com').replace(/\/+$/, '');
  const doFetch = deps.fetch ?? fetch;
  const maxBatchSize = Math.min(options.maxBatchSize ?? 500, 500);
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const shape = {
    messageStream: options.messageStream ?? 'broadcast',
    trackOpens: options.trackOpens,
    trackLinks: options.trackLinks,
  };
  let isClosed = false;

  /** POSTs JSON; resolves with the parsed 2xx body, throws the mapped error otherwise. */
  async function post(path: string, body: unknown): Promise<unknown> {
    if (isClosed) throw new SwitchyardError('ESP_UNAVAILABLE', 'Postmark Esp is closed', { retryable: true });
    const { res, text } = await callProvider(
      doFetch,
      'Postmark',
      `${baseUrl}${path}`,
      {
        method: 'POST',
        headers: {
          Accept: 'application/json',
          'Content-Type': 'application/json',
          'X-Postmark-Server-Token': options.serverToken,
        },
        body: JSON.stringify(body),
      },
      timeoutMs,
    );
    if (!res.ok)
      throw mapPostmarkHttpError(res.status, text, parseRetryAfter(res.headers.get('retry-after'), deps.clock.now()));
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new SwitchyardError('ESP_UNAVAILABLE', `Postmark answered ${res.status} with a body that is not JSON`, {
        retryable: true,
        cause: err,
        details: { status: res.status, body: text.slice(0, 300) },
      });
    }
  }

  function toResult(r: PostmarkResult | undefined, msg: OutboundMessage): BatchResult {
    if (r === undefined) {
      return {
        ok: false,
        error: new SwitchyardError(
          'ESP_UNAVAILABLE',
          'Postmark batch response has no entry for this message; outcome unknown',
          { retryable: true },
        ),
      };
    }
    const code = typeof r.ErrorCode === 'number' ? r.ErrorCode : -1;
    if (code === 0 && typeof r.MessageID === 'string') {
      return { ok: true, receipt: { providerMessageId: r.MessageID, acceptedAt: deps.clock.now() } };
    }
    return { ok: false, error: mapPostmarkErrorCode(code, String(r.Message ?? 'no message'), 200, msg.to.address) };
  }

  /** latencyMs: the batch request's own duration, shared by the messages it carried. */
  async function sendChunk(chunk: readonly OutboundMessage[]): Promise<BatchResult[]> {
    const start = deps.clock.now().getTime();
    try {
      const body = await post(
        '/email/batch',
        chunk.map((m) => toPostmarkMessage(m, shape)),
      );
      const latencyMs = deps.clock.now().getTime() - start;
      const entries = Array.isArray(body) ? (body as PostmarkResult[]) : [];
      return chunk.map((m, i) => ({ ...toResult(entries[i], m), latencyMs }));
    } catch (err) {
      const latencyMs = deps.clock.now().getTime() - start;
      return chunk.map(() => ({ ok: false, error: err as SwitchyardError, latencyMs }));
    }
  }

  return {
    name: 'postmark',
    commitPoint: 'before-request',
    maxBatchSize,
    supportsAttachments: true,
    maxAttachmentBytes: POSTMARK_MAX_ATTACHMENT_BYTES,
    async send(msg): Promise<SendReceipt> {
      const oversized = oversizedAttachments('Postmark', msg, POSTMARK_MAX_ATTACHMENT_BYTES);
      if (oversized !== undefined) throw oversized;
      const result = toResult((await post('/email', toPostmarkMessage(msg, shape))) as PostmarkResult, msg);
      if (!result.ok) throw result.error;
      return result.receipt;
    },
    async sendBatch(messages) {
      const out: BatchResult[] = new Array(messages.length);
      const chunks: number[][] = [];
      let chunk: number[] = [];
      let chunkBytes = 0;
      messages.forEach((m, i) => {
        const error = oversizedAttachments('Postmark', m, POSTMARK_MAX_ATTACHMENT_BYTES);
        if (error !== undefined) {
          out[i] = { ok: false, error, latencyMs: 0 };
          return;
        }
        const bytes = attachmentWireBytes(m.attachments);
        if (chunk.length >= maxBatchSize || (chunk.length > 0 && chunkBytes + bytes > MAX_BATCH_ATTACHMENT_BYTES)) {
          chunks.push(chunk);
          chunk = [];
          chunkBytes = 0;
        }
        chunk.push(i);
        chunkBytes += bytes;
      });
      if (chunk.length > 0) chunks.push(chunk);
      let next = 0;
      const worker = async () => {
        for (let c = next++; c < chunks.length; c = next++) {
          const indexes = chunks[c]!;
          const results = await sendChunk(indexes.map((i) => messages[i]!));
          indexes.forEach((i, k) => {
            out[i] = results[k]!;
          });
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
      return out;
    },
    async close() {
      isClosed = true;
    },
  };
}
