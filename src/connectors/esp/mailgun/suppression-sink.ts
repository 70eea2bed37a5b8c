/**
 * A Mailgun sending domain's suppression lists as a propagation sink, with Basic auth `api:<key>`:
 * complaints to POST /v3/{domain}/complaints, hard and soft-limit bounces to /bounces (code 550),
 * every other reason (unsubscribed, manual, erased) to /unsubscribes for all tags (`*`). Each
 * takes a JSON array of up to 1000 records and answers 200 `{ "message": "… added" }`; adding an
 * address already listed replaces its record, so a repeat is harmless. A 400 for the array (one
 * invalid address) is permanent, so the propagation loop then sends each address alone.
 */
import type { Clock } from '../../../clock/port.ts';
import type { SuppressionItem, SuppressionSink } from '../../../compliance/sink-port.ts';
import { callProvider, parseRetryAfter } from '../http-call.ts';
import { mapMailgunError } from './mailgun-errors.ts';

export interface MailgunSuppressionSinkOptions {
  apiKey: string;
  domain: string;
  /** 'us' (default) or 'eu'; ignored when baseUrl is given. */
  region?: 'us' | 'eu';
  baseUrl?: string;
  /** Sink name, the propagation system (default 'esp'). */
  name?: string;
  timeoutMs?: number;
}

const MAX_PER_REQUEST = 1000;
type MailgunList = 'bounces' | 'complaints' | 'unsubscribes';

/** Which Mailgun list a suppression reason belongs on. */
export function mailgunListFor(reason: string): MailgunList {
  if (reason === 'complained') return 'complaints';
  if (reason.startsWith('bounced')) return 'bounces';
  return 'unsubscribes';
}

function record(list: MailgunList, item: SuppressionItem): Record<string, unknown> {
  switch (list) {
    case 'bounces':
      return { address: item.email, code: '550', error: `suppressed by Switchyard (${item.reason})` };
    case 'complaints':
      return { address: item.email };
    case 'unsubscribes':
      return { address: item.email, tags: ['*'] };
  }
}

export function createMailgunSuppressionSink(
  deps: { clock: Clock; fetch?: typeof fetch },
  options: MailgunSuppressionSinkOptions,
): SuppressionSink {
  const base = (
    options.baseUrl ?? (options.region === 'eu' ? 'https://api.eu.mailgun.net' : 'https://api.mailgun.net')
  ).replace(/\/+$/, '');
  const auth = `Basic ${Buffer.from(`api:${options.apiKey}`).toString('base64')}`;
  const doFetch = deps.fetch ?? fetch;
  return {
    name: options.name ?? 'esp',
    async suppress(items) {
      const byList = new Map<MailgunList, SuppressionItem[]>();
      for (const it of items) {
        const list = mailgunListFor(it.reason);
        byList.set(list, [...(byList.get(list) ?? []), it]);
      }
      const confirmed: string[] = [];
      for (const [list, group] of byList) {
        for (let i = 0; i < group.length; i += MAX_PER_REQUEST) {
          const chunk = group.slice(i, i + MAX_PER_REQUEST);
          const { res, text } = await callProvider(
            doFetch,
            'Mailgun',
            `${base}/v3/${encodeURIComponent(options.domain)}/${list}`,
            {
              method: 'POST',
              headers: { Authorization: auth, 'Content-Type': 'application/json' },
              body: JSON.stringify(chunk.map((it) => record(list, it))),
            },
            options.timeoutMs ?? 30_000,
          );
          if (!res.ok) {
            const error = mapMailgunError(
              res.status,
              text,
              parseRetryAfter(res.headers.get('retry-after'), deps.clock.now()),
            );
            if (confirmed.length > 0 && error.retryable) return { confirmed, retryAfterMs: error.retryAfterMs };
            throw error;
          }
          confirmed.push(...chunk.map((it) => it.email));
        }
      }
      return { confirmed };
    },
  };
}
