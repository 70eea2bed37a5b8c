/**
 * Reads a verified Stripe webhook body into a small billing event (connectors.md §3). Pure.
 * Stripe events are not engagement events: this only checks the envelope and gives the revenue
 * road a dedup key (`stripe:<event id>`), the type, the time and the object snapshot. Events may
 * arrive twice and out of order; consumers dedup on sourceId and re-fetch when order matters.
 */
import { SwitchyardError } from '../../../core/errors.ts';
import { boundJson, hasUnstorableChars } from '../../../core/storable-json.ts';
import { dateFromUnixSeconds } from '../../esp/event-checks.ts';
import type { BillingEvent } from '../port.ts';

export function normalize(body: unknown): BillingEvent {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', 'Stripe body must be a JSON event object');
  }
  const e = body as Record<string, unknown>;
  if (e['object'] !== 'event')
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      `Stripe body has object ${JSON.stringify(e['object'])}, expected "event"`,
    );
  if (typeof e['id'] !== 'string' || e['id'] === '')
    throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', 'Stripe event has no id');
  if (typeof e['type'] !== 'string' || e['type'] === '')
    throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', 'Stripe event has no type');
  if (hasUnstorableChars(e['id']) || hasUnstorableChars(e['type']))
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      'Stripe event id or type contains NUL or an unpaired surrogate',
    );
  const occurredAt = Number.isInteger(e['created']) ? dateFromUnixSeconds(e['created']) : undefined;
  if (!occurredAt)
    throw new SwitchyardError(
      'WEBHOOK_PAYLOAD_INVALID',
      'Stripe event created is not integer unix seconds between 1970 and 2100',
    );
  const data = e['data'];
  const object = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)['object'] : undefined;
  if (typeof object !== 'object' || object === null)
    throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', 'Stripe event has no data.object');
  return {
    sourceId: `stripe:${e['id']}`,
    type: e['type'],
    occurredAt,
    livemode: e['livemode'] === true,
    // storable: NUL and unpaired surrogates in any value become U+FFFD (core/storable-json.ts)
    object: boundJson(object) as Record<string, unknown>,
    raw: boundJson(body),
  };
}
