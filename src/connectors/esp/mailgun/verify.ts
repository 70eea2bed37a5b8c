/**
 * Verifies a Mailgun JSON webhook (esp.md §5): the signature travels inside the body as
 * `signature.{timestamp, token, signature}`, where signature = hex(HMAC-SHA256(signing key,
 * timestamp + token)). The signature does not cover the event, so replay defence has two parts:
 * the timestamp must be within the tolerance (default 15 min, past or future), and the verified
 * result carries the token as a replay key that the caller remembers until the signature turns
 * stale (a second use with any event data is refused). Never throws: every failure is a result.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { VerifyResult, WebhookInput } from '../../webhook-port.ts';

export const DEFAULT_TOLERANCE_SECONDS = 15 * 60;

export interface MailgunKeys {
  /** The account's HTTP webhook signing key. */
  signingKey: string;
  toleranceSeconds?: number;
}

interface MailgunSignature {
  timestamp: string;
  token: string;
  signature: string;
}

/** Pulls `signature` out of the parsed body, or says which part is missing. */
function readSignature(parsed: unknown): MailgunSignature | string {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'body is not a JSON object';
  const sig = (parsed as Record<string, unknown>)['signature'];
  if (typeof sig !== 'object' || sig === null) return 'missing signature object in body';
  const s = sig as Record<string, unknown>;
  const timestamp = typeof s['timestamp'] === 'number' ? String(s['timestamp']) : s['timestamp'];
  for (const [name, value] of [
    ['timestamp', timestamp],
    ['token', s['token']],
    ['signature', s['signature']],
  ] as const) {
    if (typeof value !== 'string' || value === '') return `missing signature.${name} in body`;
  }
  return { timestamp: timestamp as string, token: s['token'] as string, signature: s['signature'] as string };
}

export function verify(input: WebhookInput, keys: MailgunKeys, now: Date): VerifyResult {
  const text = typeof input.body === 'string' ? input.body : input.body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'WEBHOOK_PAYLOAD_INVALID', reason: `body is not JSON (${(err as Error).message})` };
  }
  const sig = readSignature(parsed);
  if (typeof sig === 'string') return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: sig };
  if (!/^[0-9a-f]{64}$/i.test(sig.signature)) {
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: 'bad signature: signature.signature is not 64 hex characters',
    };
  }
  const expected = createHmac('sha256', keys.signingKey)
    .update(sig.timestamp + sig.token)
    .digest();
  if (!timingSafeEqual(expected, Buffer.from(sig.signature, 'hex'))) {
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason:
        'bad signature: HMAC-SHA256(signing key, timestamp + token) does not match signature.signature '
        + '(wrong key or altered timestamp/token)',
    };
  }
  if (!/^\d{1,12}(\.\d+)?$/.test(sig.timestamp)) {
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: `signature.timestamp is not unix seconds: ${JSON.stringify(sig.timestamp.slice(0, 40))}`,
    };
  }
  const tolerance = keys.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const skew = Math.round(now.getTime() / 1000 - Number(sig.timestamp));
  if (Math.abs(skew) > tolerance) {
    return {
      ok: false,
      code: 'WEBHOOK_STALE',
      reason:
        `timestamp ${sig.timestamp} is ${Math.abs(skew)} s ${skew > 0 ? 'old' : 'in the future'}, outside `
        + `tolerance ${tolerance} s`,
    };
  }
  // the token (not the signature) is what Mailgun makes unique; expiry is when this timestamp turns stale
  return { ok: true, replay: { key: sig.token, expiresAt: new Date((Number(sig.timestamp) + tolerance + 1) * 1000) } };
}
