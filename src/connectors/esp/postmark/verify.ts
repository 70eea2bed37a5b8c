/**
 * Checks a Postmark webhook request's HTTP basic-auth credentials (Postmark signs nothing, esp.md §5).
 * Both sides are hashed before a constant-time compare, so neither content nor length leaks
 * through timing. Because nothing is signed, Postmark events are claims: fine for conservative
 * actions (suppress, score), never grant anything on one.
 */
import { headerValue } from '../../webhook-headers.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { VerifyResult, WebhookInput } from '../../webhook-port.ts';

export interface PostmarkKeys {
  username: string;
  password: string;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export function verify(input: WebhookInput, keys: PostmarkKeys, _now: Date): VerifyResult {
  const header = headerValue(input.headers, 'authorization');
  if (!header)
    return {
      ok: false,
      code: 'WEBHOOK_SIGNATURE_INVALID',
      reason: 'missing header Authorization (Postmark webhooks need basic auth in the URL)',
    };
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m)
    return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: 'header Authorization is not Basic credentials' };
  const decoded = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0)
    return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: 'header Authorization has no user:password pair' };
  const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), digest(keys.username));
  const passOk = timingSafeEqual(digest(decoded.slice(colon + 1)), digest(keys.password));
  if (!(userOk && passOk))
    return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: 'wrong basic-auth credentials' };
  return { ok: true };
}
