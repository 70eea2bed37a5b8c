/**
 * Roles and scopes of the admin API, as one pure table: every admin route declares one scope, and
 * a key's role either grants it or not. Admin is granted everything; the other roles get the
 * least their job needs (docs/security.md lists the table). No I/O here: the access service and
 * the admin server decide with these functions.
 */

export const ROLES = ['admin', 'marketer', 'analyst', 'compliance'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Every scope a route may declare. Lists, journeys, reports, DSRs and consent are declared now so
 * routes added later only have to name them.
 */
export const SCOPES = [
  'campaigns:read',
  'campaigns:write',
  'lists:read',
  'lists:write',
  'journeys:read',
  'journeys:write',
  'messages:read',
  'messages:write',
  'reports:read',
  'anomalies:read',
  'reports:run',
  'deliverability:read',
  'deliverability:write',
  'suppressions:read',
  'suppressions:write',
  'review:read',
  'review:write',
  'dead-letters:read',
  'dead-letters:write',
  'dsr:read',
  'dsr:write',
  'consent:read',
  'consent:write',
  'audit:read',
  'keys:manage',
  'system:read',
] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * What each role may do besides admin. Deliverability resume and dead-letter retry stay admin
 * only: both push held mail back out, an operator decision. Compliance reads dead letters because
 * an unsubscribe or complaint that failed to process lands there.
 */
const GRANTS: Record<Exclude<Role, 'admin'>, readonly Scope[]> = {
  marketer: [
    'campaigns:read',
    'campaigns:write',
    'lists:read',
    'lists:write',
    'journeys:read',
    'journeys:write',
    'messages:read',
    'messages:write',
    'reports:read',
    'deliverability:read',
    'system:read',
  ],
  analyst: [
    'campaigns:read',
    'lists:read',
    'journeys:read',
    'messages:read',
    'reports:read',
    'deliverability:read',
    'system:read',
  ],
  compliance: [
    'suppressions:read',
    'suppressions:write',
    'review:read',
    'review:write',
    'dead-letters:read',
    'dsr:read',
    'dsr:write',
    'consent:read',
    'consent:write',
    'audit:read',
    'system:read',
  ],
};

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/** True when a key of `role` may use a route that declares `scope`. */
export function roleAllows(role: Role, scope: Scope): boolean {
  return role === 'admin' || GRANTS[role].includes(scope);
}

/** The scopes a role holds, in SCOPES order (for docs and `keys list`). */
export function scopesOf(role: Role): Scope[] {
  return SCOPES.filter((s) => roleAllows(role, s));
}

/** An API key as its parts: `sy_<8-char lookup prefix>_<secret>`. */
export interface ApiKeyParts {
  prefix: string;
  secret: string;
}

const KEY_FORMAT = /^sy_([a-z0-9]{8})_([A-Za-z0-9_-]{43,128})$/;

/** Splits a presented key; null when it is not shaped like one of ours (refused without a lookup). */
export function parseApiKey(text: string): ApiKeyParts | null {
  const m = KEY_FORMAT.exec(text);
  return m === null ? null : { prefix: m[1]!, secret: m[2]! };
}

export function formatApiKey(parts: ApiKeyParts): string {
  return `sy_${parts.prefix}_${parts.secret}`;
}
