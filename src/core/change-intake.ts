/**
 * The signed change endpoint's rules (POST /v1/changes), pure: the signature is hex
 * HMAC-SHA256(secret, `<timestamp>.<raw body>`) in `X-Switchyard-Signature: sha256=<hex>`, the
 * timestamp (Unix seconds) in `X-Switchyard-Timestamp`, accepted within a tolerance either side of
 * now (so a captured request cannot be replayed later), compared in constant time against each
 * configured secret (rotation). The body is checked change by change, every problem named by path.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const CHANGE_SIGNATURE_HEADER = 'x-switchyard-signature';
export const CHANGE_TIMESTAMP_HEADER = 'x-switchyard-timestamp';
export const MAX_CHANGES_PER_REQUEST = 1000;

export type SignatureCheck =
  | { ok: true }
  | { ok: false; code: 'CHANGE_SIGNATURE_INVALID' | 'CHANGE_STALE'; reason: string };

/** Signs a body as a sender must (tests, the CLI, other systems' examples). */
export function signChange(secret: string, timestamp: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

export function verifyChangeSignature(
  secrets: readonly string[],
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: Buffer,
  nowMs: number,
  toleranceMs: number,
): SignatureCheck {
  if (secrets.length === 0)
    return { ok: false, code: 'CHANGE_SIGNATURE_INVALID', reason: 'no change secret is configured' };
  const { signature, timestamp } = headers;
  if (signature === undefined || timestamp === undefined) {
    return {
      ok: false,
      code: 'CHANGE_SIGNATURE_INVALID',
      reason: 'missing X-Switchyard-Signature or X-Switchyard-Timestamp',
    };
  }
  if (!/^\d{1,12}$/.test(timestamp))
    return { ok: false, code: 'CHANGE_SIGNATURE_INVALID', reason: 'malformed timestamp' };
  const given = /^sha256=([0-9a-f]{64})$/.exec(signature)?.[1];
  if (given === undefined) return { ok: false, code: 'CHANGE_SIGNATURE_INVALID', reason: 'malformed signature' };
  const givenBytes = Buffer.from(given, 'hex');
  const valid = secrets.some((s) =>
    timingSafeEqual(Buffer.from(signChange(s, timestamp, body).slice(7), 'hex'), givenBytes),
  );
  if (!valid) return { ok: false, code: 'CHANGE_SIGNATURE_INVALID', reason: 'signature does not match' };
  if (Math.abs(Number(timestamp) * 1000 - nowMs) > toleranceMs) {
    return { ok: false, code: 'CHANGE_STALE', reason: `timestamp is more than ${toleranceMs / 1000} s from now` };
  }
  return { ok: true };
}

/** One change as the endpoint accepts it. */
export interface IncomingChange {
  changeId: string;
  contactId?: string;
  email?: string;
  crmId?: string;
  warehouseId?: string;
  attributes: Record<string, unknown>;
  at: string;
  version?: number;
  deleted?: boolean;
}

const KEYS = ['changeId', 'contactId', 'email', 'crmId', 'warehouseId', 'attributes', 'at', 'version', 'deleted'];
const IDS = ['contactId', 'email', 'crmId', 'warehouseId'] as const;

export type ChangeParse =
  | { ok: true; changes: IncomingChange[] }
  | { ok: false; problems: { path: string; message: string }[] };

/** Checks a parsed body `{ "changes": [...] }`. */
export function parseChanges(body: unknown): ChangeParse {
  const problems: { path: string; message: string }[] = [];
  const list = (body as { changes?: unknown } | null)?.changes;
  if (typeof body !== 'object' || body === null || !Array.isArray(list)) {
    return { ok: false, problems: [{ path: '$.changes', message: 'must be an array of changes' }] };
  }
  if (list.length === 0 || list.length > MAX_CHANGES_PER_REQUEST) {
    return {
      ok: false,
      problems: [{ path: '$.changes', message: `must hold 1 to ${MAX_CHANGES_PER_REQUEST} changes` }],
    };
  }
  list.forEach((c: unknown, i) => {
    const at = `$.changes[${i}]`;
    if (typeof c !== 'object' || c === null || Array.isArray(c)) {
      problems.push({ path: at, message: 'must be an object' });
      return;
    }
    const o = c as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!KEYS.includes(k)) problems.push({ path: `${at}.${k}`, message: 'unknown key' });
    if (typeof o.changeId !== 'string' || o.changeId.length === 0 || o.changeId.length > 200) {
      problems.push({ path: `${at}.changeId`, message: 'must be a string of 1 to 200 characters' });
    }
    if (!IDS.some((k) => typeof o[k] === 'string' && (o[k] as string).length > 0)) {
      problems.push({ path: at, message: 'names no contact: give contactId, email, crmId or warehouseId' });
    }
    for (const k of IDS) {
      if (o[k] !== undefined && (typeof o[k] !== 'string' || (o[k] as string).length > 320)) {
        problems.push({ path: `${at}.${k}`, message: 'must be a string of at most 320 characters' });
      }
    }
    if (typeof o.attributes !== 'object' || o.attributes === null || Array.isArray(o.attributes)) {
      problems.push({ path: `${at}.attributes`, message: 'must be an object' });
    }
    if (typeof o.at !== 'string' || !Number.isFinite(Date.parse(o.at))) {
      problems.push({ path: `${at}.at`, message: 'must be an ISO 8601 time' });
    }
    if (o.version !== undefined && !Number.isSafeInteger(o.version)) {
      problems.push({ path: `${at}.version`, message: 'must be an integer' });
    }
    if (o.deleted !== undefined && typeof o.deleted !== 'boolean') {
      problems.push({ path: `${at}.deleted`, message: 'must be true or false' });
    }
  });
  return problems.length === 0 ? { ok: true, changes: list as IncomingChange[] } : { ok: false, problems };
}
