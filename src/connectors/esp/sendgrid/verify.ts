/**
 * Verifies a SendGrid Signed Event Webhook request (esp.md §5): an ECDSA P-256 / SHA-256 signature
 * over the timestamp header followed by the raw body bytes. Runs on the raw bytes only, before any
 * JSON parsing, and never throws: every failure is a result whose reason names what failed. A
 * verified result carries a replay key (hash of timestamp + body) so an exact replay is refused.
 */
import { headerValue } from '../../webhook-headers.ts';
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import type { VerifyResult, WebhookInput } from '../../webhook-port.ts';

export const SIGNATURE_HEADER = 'X-Twilio-Email-Event-Webhook-Signature';
export const TIMESTAMP_HEADER = 'X-Twilio-Email-Event-Webhook-Timestamp';
/** SendGrid documents no replay window; ours is generous and sg_event_id dedup does the rest. */
export const DEFAULT_TOLERANCE_SECONDS = 24 * 60 * 60;

export interface SendgridKeys {
  /** The verification key: PEM, or base64 DER SubjectPublicKeyInfo as the SendGrid UI shows it. */
  publicKey: string | KeyObject;
  /** Max |now − timestamp| in seconds; Infinity disables the check. */
  toleranceSeconds?: number;
}

/** Parses the verification key; throws a plain Error naming the problem (callers turn it into a result). */
export function parseSendgridPublicKey(key: string | KeyObject): KeyObject {
  const k =
    typeof key === 'string'
      ? key.includes('-----BEGIN')
        ? createPublicKey(key)
        : createPublicKey({ key: Buffer.from(key.trim(), 'base64'), format: 'der', type: 'spki' })
      : key;
  const curve = k.asymmetricKeyDetails?.namedCurve;
  if (k.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new Error(
      `expected an EC P-256 public key, got ${k.asymmetricKeyType ?? 'unknown'}${curve ? ` (${curve})` : ''}`,
    );
  }
  return k;
}

export function verify(input: WebhookInput, keys: SendgridKeys, now: Date): VerifyResult {
  const signature = headerValue(input.headers, SIGNATURE_HEADER);
  if (!signature) return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: `missing header ${SIGNATURE_HEADER}` };
  const timestamp = headerValue(input.headers, TIMESTAMP_HEADER);
  if (!timestamp) return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: `missing header ${TIMESTAMP_HEADER}` };
  if (!/^\d{1,12}$/.test(timestamp)) {
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: `header ${TIMESTAMP_HEADER} is not unix seconds: ${JSON.stringify(timestamp.slice(0, 40))}`,
    };
  }
  let key: KeyObject;
  try {
    key = parseSendgridPublicKey(keys.publicKey);
  } catch (err) {
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: `wrong key: SendGrid verification key is unusable (${(err as Error).message})`,
    };
  }
  const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
  let valid = false;
  try {
    valid = verifySignature(
      'sha256',
      Buffer.concat([Buffer.from(timestamp, 'utf8'), body]),
      key,
      Buffer.from(signature, 'base64'),
    );
  } catch {
    valid = false; // a malformed DER signature makes OpenSSL throw: it is simply not valid
  }
  if (!valid) {
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason:
        `bad signature: ${SIGNATURE_HEADER} does not verify over timestamp+body with the configured key `
        + `(tampered body, wrong key or wrong timestamp)`,
    };
  }
  const tolerance = keys.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const skew = Math.round(now.getTime() / 1000 - Number(timestamp));
  if (Math.abs(skew) > tolerance) {
    return {
      ok: false,
      code: 'WEBHOOK_STALE',
      reason:
        `timestamp ${timestamp} is ${Math.abs(skew)} s ${skew > 0 ? 'old' : 'in the future'}, outside `
        + `tolerance ${tolerance} s`,
    };
  }
  // ECDSA signatures are randomised and malleable, so the replay key is what they sign: timestamp + body
  const replayKey = createHash('sha256').update(timestamp).update(body).digest('base64url');
  return { ok: true, replay: { key: replayKey, expiresAt: new Date((Number(timestamp) + tolerance + 1) * 1000) } };
}
