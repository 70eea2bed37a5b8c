/**
 * Confirms an SNS subscription by GET-ing its SubscribeURL, only after verify() accepted the
 * SubscriptionConfirmation (signature and TopicArn allowlist). The HTTP call goes through an
 * injected fetch so tests never reach the internet. The URL is re-checked here so this function
 * cannot be turned into a request forger even if called on its own.
 */
import { SwitchyardError } from '../../../core/errors.ts';
import { SNS_CERT_HOST, checkSnsUrl } from './verify.ts';

export type FetchLike = (url: string, init?: { method?: string }) => Promise<{ ok: boolean; status: number }>;

export async function confirmSubscription(
  subscribeUrl: string,
  fetchFn: FetchLike,
  hostPattern: RegExp = SNS_CERT_HOST,
): Promise<void> {
  const bad = checkSnsUrl(subscribeUrl, 'SubscribeURL', hostPattern, false);
  if (bad) throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', bad);
  let res: { ok: boolean; status: number };
  try {
    res = await fetchFn(subscribeUrl, { method: 'GET' });
  } catch (err) {
    throw new SwitchyardError('ESP_UNAVAILABLE', 'SNS SubscribeURL could not be reached', {
      retryable: true,
      cause: err,
    });
  }
  if (!res.ok) {
    throw new SwitchyardError('ESP_UNAVAILABLE', `SNS SubscribeURL answered HTTP ${res.status}`, {
      retryable: res.status >= 500,
      details: { status: res.status },
    });
  }
}
