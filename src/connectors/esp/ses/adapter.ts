/**
 * The Amazon SES Esp: SES API v2 SendEmail (POST /v2/email/outbound-emails) with Raw MIME, signed
 * with AWS Signature V4 (the small `aws4` package, time from the injected clock). One request per
 * message (SendBulkEmail takes only stored templates, and SES events cannot tell which of several
 * recipients acted), so maxBatchSize is 1 and sendBatch runs up to `concurrency` requests at once.
 * SES owns the envelope sender (set a custom MAIL FROM domain in SES), so returnPath is not used.
 * Files ride in the Raw MIME (multipart/mixed, base64); a set over SES_MAX_ATTACHMENT_BYTES is
 * refused before any request. It never retries: the bus owns that.
 */
import type { Clock } from '../../../clock/port.ts';
import { SwitchyardError, isSwitchyardError } from '../../../core/errors.ts';
import { oversizedAttachments } from '../attachments.ts';
import type { BatchResult, Esp, OutboundMessage, SendReceipt } from '../port.ts';
import { mapSesError, sesErrorType } from './ses-errors.ts';
import { toSesSendEmail } from './ses-request.ts';
import { type SesEndpoint, sesCall } from './signed-call.ts';

export interface SesEspOptions {
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Default https://email.<region>.amazonaws.com */
  baseUrl?: string;
  /** Configuration set whose event destination publishes to our SNS webhook. */
  configurationSetName?: string;
  /** Requests in flight at once during sendBatch (default 10; keep under the account's max send rate). */
  concurrency?: number;
  /** Abort a request after this long (default 30000 ms); its outcome is then unknown (ESP_UNAVAILABLE). */
  timeoutMs?: number;
}

/** SES takes a message of at most 10 MB (connectors.md §1); the MIME headers and bodies keep a margin. */
export const SES_MAX_ATTACHMENT_BYTES = 9 * 1024 * 1024;

export function createSesEsp(deps: { clock: Clock; fetch?: typeof fetch }, options: SesEspOptions): Esp {
  const endpoint: SesEndpoint = {
    base: new URL(options.baseUrl ?? `https://email.${options.region}.amazonaws.com`),
    region: options.region,
    credentials: options.credentials,
    fetch: deps.fetch ?? fetch,
  };
  const concurrency = Math.max(1, options.concurrency ?? 10);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let isClosed = false;

  async function send(msg: OutboundMessage): Promise<SendReceipt> {
    if (isClosed) throw new SwitchyardError('ESP_UNAVAILABLE', 'SES Esp is closed', { retryable: true });
    const oversized = oversizedAttachments('SES', msg, SES_MAX_ATTACHMENT_BYTES);
    if (oversized !== undefined) throw oversized;
    const body = JSON.stringify(await toSesSendEmail(msg, options.configurationSetName));
    const { res, text } = await sesCall(endpoint, {
      method: 'POST',
      path: '/v2/email/outbound-emails',
      body,
      now: deps.clock.now(),
      timeoutMs,
    });
    let parsed: { MessageId?: unknown; message?: unknown; Message?: unknown; __type?: unknown; code?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      /* error pages may be XML or empty */
    }
    if (res.ok && typeof parsed.MessageId === 'string') {
      return { providerMessageId: parsed.MessageId, acceptedAt: deps.clock.now() };
    }
    if (res.ok) {
      throw new SwitchyardError('ESP_UNAVAILABLE', `SES answered ${res.status} without a MessageId; outcome unknown`, {
        retryable: true,
        details: { status: res.status, body: text.slice(0, 300) },
      });
    }
    const retryAfter = Number(res.headers.get('retry-after') ?? NaN);
    const message =
      typeof parsed.message === 'string'
        ? parsed.message
        : typeof parsed.Message === 'string'
          ? parsed.Message
          : text.slice(0, 300);
    throw mapSesError(
      res.status,
      sesErrorType(res.headers.get('x-amzn-errortype'), parsed),
      message,
      msg.to.address,
      Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined,
    );
  }

  return {
    name: 'ses',
    commitPoint: 'before-request',
    maxBatchSize: 1,
    supportsAttachments: true,
    maxAttachmentBytes: SES_MAX_ATTACHMENT_BYTES,
    send,
    async sendBatch(messages) {
      const results: BatchResult[] = new Array(messages.length);
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < messages.length; i = next++) {
          // latencyMs: this message's own request
          const start = deps.clock.now().getTime();
          try {
            const receipt = await send(messages[i]!);
            results[i] = { ok: true, receipt, latencyMs: deps.clock.now().getTime() - start };
          } catch (err) {
            results[i] = {
              latencyMs: deps.clock.now().getTime() - start,
              ok: false,
              error: isSwitchyardError(err)
                ? err
                : new SwitchyardError('ESP_UNAVAILABLE', String(err), { retryable: true, cause: err }),
            };
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, worker));
      return results;
    },
    async close() {
      isClosed = true;
    },
  };
}
