/**
 * SQL of the access service: API keys (0010_api_keys.sql) and the audit log (0011_audit_log.sql).
 * One function per statement; each maps its rows to camelCase once. The audit append's lock,
 * tail read and insert must run in one transaction (the caller's), or the chain can fork.
 */
import type { ChainedAuditEntry } from '../core/audit-chain.ts';
import type { Role } from '../core/access-roles.ts';
import type { Queryable } from '../store/port.ts';

export interface ApiKeyInfo {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  createdAt: Date;
  createdBy: string;
  revokedAt: Date | null;
  revokedBy: string | null;
}

export interface StoredApiKey extends ApiKeyInfo {
  salt: string;
  secretHash: string;
}

interface KeyRow {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  salt: string;
  secret_hash: string;
  created_at: Date;
  created_by: string;
  revoked_at: Date | null;
  revoked_by: string | null;
}

function toKey(r: KeyRow): StoredApiKey {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    prefix: r.prefix,
    salt: r.salt,
    secretHash: r.secret_hash,
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
  };
}

/** The public view: no salt, no hash. */
export function publicKeyInfo(k: StoredApiKey): ApiKeyInfo {
  const { salt: _salt, secretHash: _hash, ...info } = k;
  return info;
}

const INSERT_KEY = `
  insert into api_keys (id, name, role, prefix, salt, secret_hash, created_at, created_by)
  values ($1, $2, $3, $4, $5, $6, $7, $8) returning *`;

export async function insertKey(
  db: Queryable,
  k: Omit<StoredApiKey, 'revokedAt' | 'revokedBy'>,
): Promise<StoredApiKey> {
  const { rows } = await db.query<KeyRow>(INSERT_KEY, [
    k.id,
    k.name,
    k.role,
    k.prefix,
    k.salt,
    k.secretHash,
    k.createdAt,
    k.createdBy,
  ]);
  return toKey(rows[0]!);
}

export async function findKeyByPrefix(db: Queryable, prefix: string): Promise<StoredApiKey | null> {
  const { rows } = await db.query<KeyRow>('select * from api_keys where prefix = $1', [prefix]);
  return rows.length === 0 ? null : toKey(rows[0]!);
}

export async function listKeys(db: Queryable): Promise<StoredApiKey[]> {
  const { rows } = await db.query<KeyRow>('select * from api_keys order by created_at, id');
  return rows.map(toKey);
}

// coalesce keeps the first revocation's time and actor when a key is revoked twice
const REVOKE_KEY = `
  update api_keys set revoked_at = coalesce(revoked_at, $2), revoked_by = coalesce(revoked_by, $3)
  where id = $1 returning *`;

export async function revokeKey(db: Queryable, id: string, at: Date, by: string): Promise<StoredApiKey | null> {
  const { rows } = await db.query<KeyRow>(REVOKE_KEY, [id, at, by]);
  return rows.length === 0 ? null : toKey(rows[0]!);
}

export async function hasActiveKeyOfRole(db: Queryable, role: Role): Promise<boolean> {
  const { rows } = await db.query('select 1 from api_keys where role = $1 and revoked_at is null limit 1', [role]);
  return rows.length > 0;
}

interface AuditRow {
  id: number;
  at: Date;
  actor_key_id: string | null;
  actor_name: string;
  role: string | null;
  action: string;
  target: Record<string, string>;
  source_ip: string | null;
  outcome: number;
  prev_hash: string;
  hash: string;
}

function toAudit(r: AuditRow): ChainedAuditEntry {
  return {
    id: Number(r.id),
    at: r.at,
    actorKeyId: r.actor_key_id,
    actorName: r.actor_name,
    role: r.role,
    action: r.action,
    target: r.target,
    sourceIp: r.source_ip,
    outcome: r.outcome,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/** Arbitrary constant: "switchyard audit log append". */
const AUDIT_LOCK_KEY = 7_427_311;

/** Takes the append lock (held to the end of the caller's transaction) and returns the tail hash and the next id. */
export async function lockAuditTail(tx: Queryable): Promise<{ prevHash: string | null; nextId: number }> {
  await tx.query('select pg_advisory_xact_lock($1)', [AUDIT_LOCK_KEY]);
  const tail = await tx.query<{ hash: string }>('select hash from audit_log order by id desc limit 1');
  const next = await tx.query<{ id: number }>(`select nextval(pg_get_serial_sequence('audit_log', 'id')) as id`);
  return { prevHash: tail.rows[0]?.hash ?? null, nextId: Number(next.rows[0]!.id) };
}

const INSERT_AUDIT = `
  insert into audit_log (id, at, actor_key_id, actor_name, role, action, target, source_ip, outcome, prev_hash, hash)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`;

export async function insertAudit(tx: Queryable, e: ChainedAuditEntry): Promise<void> {
  await tx.query(INSERT_AUDIT, [
    e.id,
    e.at,
    e.actorKeyId,
    e.actorName,
    e.role,
    e.action,
    JSON.stringify(e.target),
    e.sourceIp,
    e.outcome,
    e.prevHash,
    e.hash,
  ]);
}

export interface AuditFilter {
  actorKeyId?: string;
  action?: string;
  since?: Date;
  until?: Date;
  /** Keyset cursor: only rows with a smaller id (the `next` of the previous page). */
  before?: number;
  limit: number;
}

// newest first on the primary key; every filter is optional ($n is null skips it)
const LIST_AUDIT = `
  select * from audit_log
  where ($1::text is null or actor_key_id = $1) and ($2::text is null or action = $2)
    and ($3::timestamptz is null or at >= $3) and ($4::timestamptz is null or at < $4)
    and ($5::int8 is null or id < $5)
  order by id desc limit $6`;

export async function listAudit(db: Queryable, f: AuditFilter): Promise<ChainedAuditEntry[]> {
  const { rows } = await db.query<AuditRow>(LIST_AUDIT, [
    f.actorKeyId ?? null,
    f.action ?? null,
    f.since ?? null,
    f.until ?? null,
    f.before ?? null,
    f.limit,
  ]);
  return rows.map(toAudit);
}

/** Oldest first after `afterId`, for verifying the chain a page at a time. */
export async function auditPage(db: Queryable, afterId: number, limit: number): Promise<ChainedAuditEntry[]> {
  const { rows } = await db.query<AuditRow>('select * from audit_log where id > $1 order by id limit $2', [
    afterId,
    limit,
  ]);
  return rows.map(toAudit);
}
