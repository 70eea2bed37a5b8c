/**
 * Signed, expiring tokens for links mailed or handed out by the compliance road (double opt-in
 * confirmation, DSR identity check, bundle download), pure: `<payload>.<mac>`, both base64url,
 * the MAC an HMAC-SHA256 over the payload under a secret. Tokens name only an id and a kind,
 * never a person. Verification is constant-time, and a token of one kind never passes as another.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type LinkKind = 'doi' | 'dsr-verify' | 'dsr-bundle';

export interface LinkPayload {
  kind: LinkKind;
  id: string;
  /** Expiry, ms since epoch. */
  exp: number;
}

function mac(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('base64url');
}

export function signLink(secret: string, p: LinkPayload): string {
  const body = Buffer.from(JSON.stringify([p.kind, p.id, p.exp])).toString('base64url');
  return `${body}.${mac(secret, body)}`;
}

export type LinkCheck =
  | { ok: true; id: string }
  | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' | 'wrong_kind' };

/** Checks the MAC under any of the secrets (rotation), the kind and the expiry at `now`. */
export function verifyLink(secrets: readonly string[], token: string, kind: LinkKind, now: Date): LinkCheck {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.length > 600) return { ok: false, reason: 'malformed' };
  const body = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const signed = secrets.some((s) => {
    const want = Buffer.from(mac(s, body), 'base64url');
    return want.length === given.length && timingSafeEqual(want, given);
  });
  if (!signed) return { ok: false, reason: 'bad_signature' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) return { ok: false, reason: 'malformed' };
  const [k, id, exp] = parsed as [unknown, unknown, unknown];
  if (typeof id !== 'string' || typeof exp !== 'number') return { ok: false, reason: 'malformed' };
  if (k !== kind) return { ok: false, reason: 'wrong_kind' };
  if (now.getTime() > exp) return { ok: false, reason: 'expired' };
  return { ok: true, id };
}
