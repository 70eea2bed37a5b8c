/**
 * The SendGrid Esp: v3 POST /v3/mail/send with Bearer auth. Messages with identical content share
 * one request as personalizations (≤ 1000), each carrying its own to, subject, headers and
 * custom_args. SendGrid refuses a whole request on a 400, so when the errors name only recipient
 * fields, those messages are rejected and the rest are sent again (at most twice more); a 413
 * splits the request in half. Attachments go base64 in `attachments` (messages with other files
 * never share a request); a set over SENDGRID_MAX_ATTACHMENT_BYTES is refused before any request.
 * 429 honours Retry-After / X-RateLimit-Reset. It never retries a retryable failure itself: the
 * bus owns that.
 */
import type { Clock } from '../../../clock/port.ts';
import { oversizedAttachments } from '../attachments.ts';
import { callProvider } from '../http-call.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import type { BatchResult, Esp, OutboundMessage, SendReceipt } from '../port.ts';
import {
  mapSendGridError,
  parseSendGridErrors,
  refusedPersonalizations,
  sendGridRetryAfterMs,
} from './sendgrid-errors.ts';
import { planSendGridRequests } from './sendgrid-request.ts';
import type { SendGridRequestPlan } from './sendgrid-request.ts';

export interface SendGridEspOptions {
  /** Default https://api.sendgrid.com (EU subusers: https://api.eu.sendgrid.com). */
  baseUrl?: string;
  apiKey: string;
  /** Personalizations per request, at most 1000 (default 1000). */
  maxBatchSize?: number;
  /** Requests in flight at once during sendBatch (default 4). */
  concurrency?: number;
  /** Abort a request after this long (default 30000 ms); its outcome is then unknown (ESP_UNAVAILABLE). */
  timeoutMs?: number;
}

const MAX_RECIPIENT_RESENDS = 2;
/** SendGrid caps a whole message at 30 MB (Mail Send docs; not in connectors.md, unverified here). */
export const SENDGRID_MAX_ATTACHMENT_BYTES = 30 * 1024 * 1024;

export function createSendGridEsp(deps: { clock: Clock; fetch?: typeof fetch }, options: SendGridEspOptions): Esp {
  const baseUrl = (options.baseUrl ?? 'https://api.sendgrid.com').replace(/\/+$/, '');
  const doFetch = deps.fetch ?? fetch;
  const maxBatchSize = Math.min(options.maxBatchSize ?? 1000, 1000);
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let isClosed = false;

  async function post(body: unknown): Promise<{ res: Response; text: string }> {
    if (isClosed) throw new SwitchyardError('ESP_UNAVAILABLE', 'SendGrid Esp is closed', { retryable: true });
    return callProvider(
      doFetch,
      'SendGrid',
      `${baseUrl}/v3/mail/send`,
      {
        method: 'POST',
        headers: { Authorization: `Bearer ${options.apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      },
      timeoutMs,
    );
  }

  /** Sends one planned request and writes a result for each of its messages into `results`. */
  async function sendPlan(
    plan: SendGridRequestPlan,
    messages: readonly OutboundMessage[],
    results: BatchResult[],
    resends: number,
  ): Promise<void> {
    // latencyMs: this request's own duration, shared by the messages it carried
    const start = deps.clock.now().getTime();
    let latencyMs = 0;
    const fail = (error: SwitchyardError, indexes = plan.indexes) => {
      for (const i of indexes) results[i] = { ok: false, error, latencyMs };
    };
    let res: Response;
    let text: string;
    try {
      ({ res, text } = await post(plan.body));
    } catch (err) {
      latencyMs = deps.clock.now().getTime() - start;
      return fail(err as SwitchyardError);
    }
    latencyMs = deps.clock.now().getTime() - start;
    if (res.ok) {
      const providerId = res.headers.get('x-message-id');
      const acceptedAt = deps.clock.now();
      for (const i of plan.indexes)
        results[i] = {
          ok: true,
          receipt: { providerMessageId: providerId ?? messages[i]!.messageId, acceptedAt },
          latencyMs,
        };
      return;
    }
    const errors = parseSendGridErrors(text);
    const error = mapSendGridError(res.status, errors, sendGridRetryAfterMs(res.headers, deps.clock.now()));
    const refused = res.status === 400 ? refusedPersonalizations(errors) : undefined;
    if (refused !== undefined && plan.indexes.length > 1) {
      const refusedIdx = refused.map((p) => plan.indexes[p]).filter((i): i is number => i !== undefined);
      fail(error, refusedIdx);
      const rest = plan.indexes.filter((i) => !refusedIdx.includes(i));
      if (rest.length === 0) return;
      if (resends >= MAX_RECIPIENT_RESENDS || refusedIdx.length === 0) return fail(error, rest);
      for (const p of planSendGridRequests(
        rest.map((index) => ({ msg: messages[index]!, index })),
        maxBatchSize,
      )) {
        await sendPlan(p, messages, results, resends + 1);
      }
      return;
    }
    if (res.status === 413 && plan.indexes.length > 1) {
      const half = Math.ceil(plan.indexes.length / 2);
      for (const part of [plan.indexes.slice(0, half), plan.indexes.slice(half)]) {
        for (const p of planSendGridRequests(
          part.map((index) => ({ msg: messages[index]!, index })),
          half,
        )) {
          await sendPlan(p, messages, results, resends);
        }
      }
      return;
    }
    fail(error);
  }

  async function sendBatch(messages: readonly OutboundMessage[]): Promise<BatchResult[]> {
    const results: BatchResult[] = new Array(messages.length);
    const fitting: { msg: OutboundMessage; index: number }[] = [];
    messages.forEach((msg, index) => {
      const error = oversizedAttachments('SendGrid', msg, SENDGRID_MAX_ATTACHMENT_BYTES);
      if (error === undefined) fitting.push({ msg, index });
      else results[index] = { ok: false, error, latencyMs: 0 };
    });
    const plans = planSendGridRequests(fitting, maxBatchSize);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < plans.length; i = next++) await sendPlan(plans[i]!, messages, results, 0);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, plans.length) }, worker));
    return results;
  }

  return {
    name: 'sendgrid',
    commitPoint: 'before-request',
    maxBatchSize,
    supportsAttachments: true,
    maxAttachmentBytes: SENDGRID_MAX_ATTACHMENT_BYTES,
    async send(msg): Promise<SendReceipt> {
      const [result] = await sendBatch([msg]);
      if (result === undefined || !result.ok)
        throw result?.error ?? new SwitchyardError('ESP_UNAVAILABLE', 'SendGrid: no result', { retryable: true });
      return result.receipt;
    },
    sendBatch,
    async close() {
      isClosed = true;
    },
  };
}
