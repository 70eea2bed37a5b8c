/**
 * Verifies a HubSpot webhook, signature v3 (connectors.md §1; HubSpot "Validating requests"):
 * X-HubSpot-Signature-v3 = base64(HMAC-SHA256(app client secret, method + URI + raw body +
 * X-HubSpot-Request-Timestamp)), the timestamp in epoch milliseconds and refused when older than
 * five minutes. The URI is the full URL HubSpot called, with the percent-encodings HubSpot lists
 * decoded. Compared in constant time. Never throws: every failure is a result naming what failed.
 * The older v1/v2 headers are not accepted: they carry no timestamp, so they could be replayed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { headerValue } from '../../webhook-headers.ts';
import type { VerifyResult, WebhookInput } from '../../webhook-port.ts';

export const SIGNATURE_HEADER = 'X-HubSpot-Signature-v3';
export const TIMESTAMP_HEADER = 'X-HubSpot-Request-Timestamp';
export const DEFAULT_TOLERANCE_SECONDS = 300;

export interface HubspotKeys {
  clientSecret: string;
  toleranceSeconds?: number;
}

/** The encodings HubSpot's v3 instructions decode before hashing; any other %XX stays as sent. */
const DECODED: Record<string, string> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

export function signedUri(url: string): string {
  return url.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (m) => DECODED[m.toUpperCase()] ?? m);
}

/** The v3 signature HubSpot would send (tests and local tooling). */
export function signHubspotRequest(
  secret: string,
  method: string,
  url: string,
  body: Buffer | string,
  timestampMs: number,
): string {
  return createHmac('sha256', secret)
    .update(`${method.toUpperCase()}${signedUri(url)}`)
    .update(body)
    .update(String(timestampMs))
    .digest('base64');
}

export function verify(input: WebhookInput, keys: HubspotKeys, now: Date): VerifyResult {
  const signature = headerValue(input.headers, SIGNATURE_HEADER);
  const timestamp = headerValue(input.headers, TIMESTAMP_HEADER);
  if (!signature) return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: `missing header ${SIGNATURE_HEADER}` };
  if (!timestamp || !/^\d{1,15}$/.test(timestamp))
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: `header ${TIMESTAMP_HEADER} is missing or not epoch milliseconds`,
    };
  if (!input.method || !input.url)
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: 'the request method and URL are needed (v3 signs them)',
    };
  const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
  const expected = Buffer.from(
    signHubspotRequest(keys.clientSecret, input.method, input.url, body, Number(timestamp)),
    'base64',
  );
  const given = /^[A-Za-z0-9+/]+={0,2}$/.test(signature.trim())
    ? Buffer.from(signature.trim(), 'base64')
    : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason:
        'bad signature: X-HubSpot-Signature-v3 does not match HMAC-SHA256(client secret, method + URI + body + '
        + 'timestamp) (tampered body or URI, wrong secret, or a proxy changed the URL)',
    };
  const tolerance = keys.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const age = Math.round((now.getTime() - Number(timestamp)) / 1000);
  if (age > tolerance)
    return { ok: false, code: 'WEBHOOK_STALE', reason: `timestamp ${timestamp} is ${age} s old, over ${tolerance} s` };
  if (age < -tolerance)
    return { ok: false, code: 'WEBHOOK_STALE', reason: `timestamp ${timestamp} is ${-age} s in the future` };
  return { ok: true };
}
