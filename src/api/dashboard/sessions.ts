/**
 * Dashboard sessions: a browser trades an API key for an opaque session token (32 random bytes)
 * kept in an HttpOnly, SameSite=Strict cookie, so the key itself never stays in the page. A
 * session authenticates as its key (same principal, role and audit name); only SHA-256 of the
 * token is stored. State-changing requests made with the cookie must also carry the session's
 * CSRF token, derived from the session token (SHA-256 over a label and the token), which the page
 * reads from GET /session: a cross-site page can neither read the cookie nor that answer.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../clock/port.ts';
import type { Db } from '../../store/port.ts';
import { endSession, findSessionPrincipal, insertSession, pruneSessions, type SessionPrincipal } from './queries.ts';

export const SESSION_COOKIE = 'sy_session';
/** A working day: long enough for an operator's shift, short enough that a forgotten tab expires. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export interface DashboardSessions {
  /** A new session for an already authenticated key; returns the token (cookie value) once. */
  create(keyId: string): Promise<{ token: string; csrfToken: string; expiresAt: Date }>;
  /** The session's principal, or null when unknown, ended, expired or its key was revoked. */
  authenticate(token: string): Promise<SessionPrincipal | null>;
  /** Ends the session (logout); unknown tokens are ignored. */
  end(token: string): Promise<void>;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The CSRF token of a session token: the same value for the session's life, never stored. */
export function csrfTokenOf(sessionToken: string): string {
  return createHash('sha256').update(`switchyard-csrf\0${sessionToken}`, 'utf8').digest('base64url');
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function isCsrfTokenOf(sessionToken: string, presented: string): boolean {
  const a = createHash('sha256').update(csrfTokenOf(sessionToken)).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}

/** The session cookie's value from a Cookie header, or null. */
export function sessionTokenFrom(cookieHeader: string | undefined): string | null {
  if (cookieHeader === undefined) return null;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return /^[A-Za-z0-9_-]{43}$/.test(value) ? value : null;
  }
  return null;
}

/** The Set-Cookie value for a session; `secure` when the admin listener is reached over https. */
export function sessionCookie(token: string, options: { maxAgeSeconds: number; secure: boolean }): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${options.maxAgeSeconds}${
    options.secure ? '; Secure' : ''
  }`;
}

export function createDashboardSessions(deps: { db: Db; clock: Clock }): DashboardSessions {
  const { db, clock } = deps;
  return {
    async create(keyId) {
      const now = clock.now();
      const token = randomBytes(32).toString('base64url');
      const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
      await pruneSessions(db, new Date(now.getTime() - 24 * 60 * 60 * 1000));
      await insertSession(db, { tokenHash: sha256(token), keyId, createdAt: now, expiresAt });
      return { token, csrfToken: csrfTokenOf(token), expiresAt };
    },
    authenticate: (token) => findSessionPrincipal(db, sha256(token), clock.now()),
    end: (token) => endSession(db, sha256(token), clock.now()),
  };
}
