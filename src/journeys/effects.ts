/**
 * The side effects of journey steps other than email: list membership and signed webhooks (CRM
 * field updates go through the outbox: crm-updates.ts). Each is idempotent by (run, step) or by
 * nature, because a pass that fails after an effect (or a worker that dies) repeats it: a list
 * add of a member changes nothing, and a webhook carries `Idempotency-Key: <run>:<step>` so its
 * receiver can drop the repeat (webhooks are at least once; docs/journeys.md).
 */
import { createHmac } from 'node:crypto';
import { SwitchyardError } from '../core/errors.ts';
import type { Crm } from '../connectors/crm/port.ts';
import type { ListMembership } from '../lists/membership.ts';

export interface EffectDeps {
  lists?: ListMembership;
  /** The configured CRM (absent: none is, and updateCrm steps are recorded as skipped). */
  crm?: Pick<Crm, 'updateFields'>;
  webhookSecret?: string;
  fetch?: typeof fetch;
  /** Milliseconds a webhook may take before it counts as failed. */
  webhookTimeoutMs?: number;
}

/** Signature header of a webhook body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export function signWebhook(secret: string, timestampSec: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
  return `t=${timestampSec},v1=${mac}`;
}

export interface WebhookCall {
  runId: string;
  stepId: string;
  url: string;
  body: Record<string, unknown>;
}

/** POSTs one signed webhook; a non-2xx answer or a network failure throws a retryable error. */
export async function callWebhook(deps: EffectDeps, call: WebhookCall, now: Date): Promise<void> {
  if (deps.webhookSecret === undefined)
    throw new SwitchyardError('CONFIG_INVALID', 'journey webhook steps need SWITCHYARD_JOURNEY_WEBHOOK_SECRET');
  const body = JSON.stringify(call.body);
  const signature = signWebhook(deps.webhookSecret, Math.floor(now.getTime() / 1000), body);
  const doFetch = deps.fetch ?? fetch;
  let status: number;
  try {
    const res = await doFetch(call.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-switchyard-signature': signature,
        'idempotency-key': `${call.runId}:${call.stepId}`,
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.webhookTimeoutMs ?? 10_000),
    });
    status = res.status;
    await res.body?.cancel();
  } catch (err) {
    throw new SwitchyardError('JOURNEY_WEBHOOK_FAILED', `webhook of step ${call.stepId} failed: network error`, {
      retryable: true,
      cause: err,
    });
  }
  if (status < 200 || status >= 300)
    throw new SwitchyardError('JOURNEY_WEBHOOK_FAILED', `webhook of step ${call.stepId} answered ${status}`, {
      retryable: true,
      details: { status },
    });
}

/** Adds or removes contacts on a list through the lists service (records and announces the transition). */
export async function changeList(
  deps: EffectDeps,
  kind: 'addToList' | 'removeFromList',
  list: string,
  contactIds: readonly string[],
  journeyId: string,
): Promise<void> {
  if (deps.lists === undefined)
    throw new SwitchyardError('CONFIG_INVALID', 'journey list steps need the lists service');
  const cause = { kind: 'manual' as const, id: `journey:${journeyId}` };
  if (kind === 'addToList') await deps.lists.addToList(list, contactIds, cause);
  else await deps.lists.removeFromList(list, contactIds, cause);
}
