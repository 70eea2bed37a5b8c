/**
 * API keys: created with 32 random bytes of secret behind an 8-character lookup prefix, shown
 * once, stored as prefix + per-key salt + SHA-256(salt || secret) and compared in constant time.
 * No cache: every request reads its key row by the unique prefix, so a revocation, from this
 * process or another one on the same database, refuses the key's very next request.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock/port.ts';
import { formatApiKey, parseApiKey, type Role } from '../core/access-roles.ts';
import { SwitchyardError } from '../core/errors.ts';
import type { Db } from '../store/port.ts';
import type { AuditInput, AuditLog } from './audit.ts';
import {
  findKeyByPrefix,
  hasActiveKeyOfRole,
  insertKey,
  listKeys,
  publicKeyInfo,
  revokeKey,
  type ApiKeyInfo,
} from './queries.ts';

export type { ApiKeyInfo } from './queries.ts';

/** Who is calling: the key's id, name and role. */
export interface Principal {
  keyId: string;
  name: string;
  role: Role;
}

/** Who made a key change, for its audit row (written in the same transaction). */
export type KeyChangeActor = Pick<AuditInput, 'actorKeyId' | 'actorName' | 'role' | 'sourceIp'>;

/**
 * `by` is recorded on the key row. `audit` is for changes made outside the admin API (CLI, first
 * start): the API already records every request in its own audit hook, so it passes none.
 */
export interface KeyChangeOptions {
  by: string;
  audit?: KeyChangeActor;
}

export interface KeyService {
  /** Creates a key; `key` is the only time the full key text exists outside the caller. */
  create(input: { name: string; role: Role }, options: KeyChangeOptions): Promise<{ info: ApiKeyInfo; key: string }>;
  list(): Promise<ApiKeyInfo[]>;
  /** Revokes at once (idempotent: a second call keeps the first time). Throws NOT_FOUND. */
  revoke(id: string, options: KeyChangeOptions): Promise<ApiKeyInfo>;
  /** The principal of a presented key, or null when it is malformed, unknown or revoked. */
  authenticate(presented: string): Promise<Principal | null>;
  hasActiveAdmin(): Promise<boolean>;
}

function hashSecret(salt: string, secret: string): Buffer {
  return createHash('sha256').update(salt, 'utf8').update(secret, 'utf8').digest();
}

/** Lowercase letters and digits only, so the prefix is unambiguous in the `sy_x_y` format. */
function randomPrefix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(8), (b) => alphabet[b % alphabet.length]).join('');
}

export function createKeyService(deps: { db: Db; clock: Clock; audit: AuditLog }): KeyService {
  const { db, clock, audit } = deps;
  return {
    async create(input, options) {
      const name = input.name.trim();
      // eslint-disable-next-line no-control-regex
      if (name.length === 0 || name.length > 100 || /[\u0000-\u001f]/.test(name))
        throw new SwitchyardError('VALIDATION_FAILED', 'key name must be 1 to 100 characters, no control characters');
      const secret = randomBytes(32).toString('base64url');
      const salt = randomBytes(16).toString('hex');
      const prefix = randomPrefix();
      const stored = await db.transaction(async (tx) => {
        const k = await insertKey(tx, {
          id: `key_${randomBytes(6).toString('hex')}`,
          name,
          role: input.role,
          prefix,
          salt,
          secretHash: hashSecret(salt, secret).toString('hex'),
          createdAt: clock.now(),
          createdBy: options.by,
        });
        if (options.audit)
          await audit.appendIn(tx, {
            ...options.audit,
            action: 'keys.create',
            target: { keyId: k.id, role: k.role },
            outcome: 201,
          });
        return k;
      });
      return { info: publicKeyInfo(stored), key: formatApiKey({ prefix, secret }) };
    },
    async list() {
      return (await listKeys(db)).map(publicKeyInfo);
    },
    async revoke(id, options) {
      const k = await db.transaction(async (tx) => {
        const revoked = await revokeKey(tx, id, clock.now(), options.by);
        if (revoked !== null && options.audit)
          await audit.appendIn(tx, { ...options.audit, action: 'keys.revoke', target: { keyId: id }, outcome: 200 });
        return revoked;
      });
      if (k === null) throw new SwitchyardError('NOT_FOUND', `no API key ${id}`);
      return publicKeyInfo(k);
    },
    async authenticate(presented) {
      const parts = parseApiKey(presented);
      if (parts === null) return null;
      const k = await findKeyByPrefix(db, parts.prefix);
      if (k === null || k.revokedAt !== null) return null;
      const expected = Buffer.from(k.secretHash, 'hex');
      const actual = hashSecret(k.salt, parts.secret);
      if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
      return { keyId: k.id, name: k.name, role: k.role };
    },
    hasActiveAdmin: () => hasActiveKeyOfRole(db, 'admin'),
  };
}
