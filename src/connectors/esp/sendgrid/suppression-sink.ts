/**
 * SendGrid's global suppression list as a propagation sink: POST /v3/asm/suppressions/global
 * `{ "recipient_emails": [...] }` with the Bearer API key (scope `asm.suppressions.global.create`).
 * Every reason goes to the global list: SendGrid's bounce and spam-report lists take no additions
 * over the API, and a global suppression stops all mail to the address, which is what every reason
 * here means. SendGrid answers 201 with the addresses; adding one already there is not an error,
 * so a repeat is harmless. 429 becomes ESP_RATE_LIMITED with Retry-After / X-RateLimit-Reset.
 */
import type { Clock } from '../../../clock/port.ts';
import type { SuppressionSink } from '../../../compliance/sink-port.ts';
import { callProvider } from '../http-call.ts';
import { mapSendGridError, parseSendGridErrors, sendGridRetryAfterMs } from './sendgrid-errors.ts';

export interface SendGridSuppressionSinkOptions {
  apiKey: string;
  /** Default https://api.sendgrid.com (EU subusers: https://api.eu.sendgrid.com). */
  baseUrl?: string;
  /** Sink name, the propagation system (default 'esp'). */
  name?: string;
  timeoutMs?: number;
}

/** Addresses per request; SendGrid documents no limit, this keeps a request small. */
const MAX_PER_REQUEST = 1000;

export function createSendGridSuppressionSink(
  deps: { clock: Clock; fetch?: typeof fetch },
  options: SendGridSuppressionSinkOptions,
): SuppressionSink {
  const url = `${(options.baseUrl ?? 'https://api.sendgrid.com').replace(/\/+$/, '')}/v3/asm/suppressions/global`;
  const doFetch = deps.fetch ?? fetch;
  return {
    name: options.name ?? 'esp',
    async suppress(items) {
      const confirmed: string[] = [];
      for (let i = 0; i < items.length; i += MAX_PER_REQUEST) {
        const emails = items.slice(i, i + MAX_PER_REQUEST).map((it) => it.email);
        const { res, text } = await callProvider(
          doFetch,
          'SendGrid',
          url,
          {
            method: 'POST',
            headers: { Authorization: `Bearer ${options.apiKey}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ recipient_emails: emails }),
          },
          options.timeoutMs ?? 30_000,
        );
        if (!res.ok) {
          const error = mapSendGridError(
            res.status,
            parseSendGridErrors(text),
            sendGridRetryAfterMs(res.headers, deps.clock.now()),
          );
          // what earlier requests recorded stays confirmed; the rest waits as the vendor asked
          if (confirmed.length > 0 && error.retryable) return { confirmed, retryAfterMs: error.retryAfterMs };
          throw error;
        }
        confirmed.push(...emails);
      }
      return { confirmed };
    },
  };
}
