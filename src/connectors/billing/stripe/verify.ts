/**
 * Verifies a Stripe webhook (connectors.md §3): `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`,
 * each v1 = hex(HMAC-SHA256(endpoint secret, `${t}.` + raw body)). Several v1 values appear while
 * secrets roll; any match is enough; other schemes (v0) are ignored. Tolerance defaults to 300 s as
 * in Stripe's libraries. Never throws: every failure is a result naming what failed. A verified
 * result carries a replay key (timestamp + signature) so an exact replay can be refused.
 */
import { headerValue } from '../../webhook-headers.ts';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { VerifyResult, WebhookInput } from '../../webhook-port.ts';

export const SIGNATURE_HEADER = 'Stripe-Signature';
export const DEFAULT_TOLERANCE_SECONDS = 300;

export interface StripeKeys {
  /** The endpoint's signing secret (`whsec_…`). */
  signingSecret: string;
  toleranceSeconds?: number;
}

/** Builds a header value for tests and local tooling (what Stripe would send). */
export function signStripePayload(body: Buffer | string, secret: string, timestamp: number): string {
  const sig = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return `t=${timestamp},v1=${sig}`;
}

export function verify(input: WebhookInput, keys: StripeKeys, now: Date): VerifyResult {
  const header = headerValue(input.headers, SIGNATURE_HEADER);
  if (!header) return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: `missing header ${SIGNATURE_HEADER}` };
  let t: string | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 't') t = v;
    else if (k === 'v1') v1.push(v);
  }
  if (t === undefined || !/^\d{1,12}$/.test(t)) {
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: `header ${SIGNATURE_HEADER} has no valid t= timestamp`,
    };
  }
  if (v1.length === 0)
    return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: `header ${SIGNATURE_HEADER} has no v1= signature` };
  const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
  const expected = createHmac('sha256', keys.signingSecret).update(`${t}.`).update(body).digest();
  const matches = v1.some((hex) => {
    const candidate = /^[0-9a-f]{64}$/i.test(hex) ? Buffer.from(hex, 'hex') : Buffer.alloc(0);
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  });
  if (!matches) {
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason:
        `bad signature: none of ${v1.length} v1 signature(s) match HMAC-SHA256(secret, t + "." + body) `
        + `(tampered body or wrong secret)`,
    };
  }
  const tolerance = keys.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const skew = Math.round(now.getTime() / 1000 - Number(t));
  if (Math.abs(skew) > tolerance) {
    return {
      ok: false,
      code: 'WEBHOOK_STALE',
      reason:
        `timestamp ${t} is ${Math.abs(skew)} s ${skew > 0 ? 'old' : 'in the future'}, outside tolerance `
        + `${tolerance} s`,
    };
  }
  // HMAC is deterministic: t + the expected signature names this exact request
  return {
    ok: true,
    replay: { key: `${t}.${expected.toString('hex')}`, expiresAt: new Date((Number(t) + tolerance + 1) * 1000) },
  };
}

/**
 * The server's check: our parse (replay key, refusing timestamps from the future) and then Stripe's
 * own library (stripe-node `webhooks.signature.verifyHeader`, clock injected as `receivedAt`), so a
 * request is accepted only when Stripe's reference implementation accepts it too. The library is
 * imported on the first webhook, not at start (docs/decisions/0008).
 */
export async function verifyWithStripeLibrary(input: WebhookInput, keys: StripeKeys, now: Date): Promise<VerifyResult> {
  const own = verify(input, keys, now);
  if (!own.ok) return own;
  const { default: Stripe } = await import('stripe');
  const header = headerValue(input.headers, SIGNATURE_HEADER) as string;
  const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
  const signature = Stripe.webhooks.signature;
  if (signature === null) return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: 'Stripe library unavailable' };
  try {
    signature.verifyHeader(
      body,
      header,
      keys.signingSecret,
      keys.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS,
      undefined,
      now.getTime(),
    );
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      code: /tolerance/i.test(message) ? 'WEBHOOK_STALE' : 'WEBHOOK_SIGNATURE_INVALID',
      reason: `Stripe library refused the signature: ${message.split('\n')[0]?.slice(0, 160)}`,
    };
  }
  return own;
}
