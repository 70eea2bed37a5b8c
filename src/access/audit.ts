/**
 * The audit log: who did what to which target, when, from where, and how it ended. Append-only
 * and hash-chained (src/core/audit-chain.ts); appends are serialised by an advisory lock inside
 * their transaction, so the chain never forks, on PGlite and on PostgreSQL alike. Never records
 * request bodies or keys: only the route pattern and its parameters.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../clock/port.ts';
import {
  canonicalAuditText,
  checkChain,
  GENESIS_HASH,
  type AuditEntry,
  type ChainCheck,
  type ChainedAuditEntry,
} from '../core/audit-chain.ts';
import type { Db, Queryable } from '../store/port.ts';
import { auditPage, insertAudit, listAudit, lockAuditTail, type AuditFilter } from './queries.ts';

export type { ChainedAuditEntry as AuditRecord, ChainCheck } from '../core/audit-chain.ts';
export type { AuditFilter } from './queries.ts';

/** What a caller records; id, time and hashes are added here. */
export type AuditInput = Omit<AuditEntry, 'id' | 'at'>;

export interface AuditLog {
  /** Appends one row in its own transaction; resolves once it is committed. */
  append(entry: AuditInput): Promise<ChainedAuditEntry>;
  /** Appends inside the caller's transaction (a key change and its audit row commit together). */
  appendIn(tx: Queryable, entry: AuditInput): Promise<ChainedAuditEntry>;
  /** Newest first; `next` is the cursor for the following page (null on the last one). */
  list(filter: AuditFilter): Promise<{ entries: ChainedAuditEntry[]; next: number | null }>;
  /** Walks the whole chain oldest first; names the first row whose link or content does not match. */
  verify(): Promise<ChainCheck>;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

const MAX_FIELD = 200;

/**
 * PostgreSQL cannot store NUL in text or jsonb, and a path parameter can be as long as the URL
 * allows; both are cleaned before hashing so a hostile request is still recorded, not refused.
 */
function clean(value: string): string {
  // eslint-disable-next-line no-control-regex
  const s = value.replace(/\u0000/g, '\uFFFD');
  return s.length > MAX_FIELD ? `${s.slice(0, MAX_FIELD)}…` : s;
}

function cleanEntry(e: AuditInput): AuditInput {
  return {
    actorKeyId: e.actorKeyId === null ? null : clean(e.actorKeyId),
    actorName: clean(e.actorName),
    role: e.role === null ? null : clean(e.role),
    action: clean(e.action),
    target: Object.fromEntries(
      Object.entries(e.target)
        .slice(0, 20)
        .map(([k, v]) => [clean(k), clean(String(v))]),
    ),
    sourceIp: e.sourceIp === null ? null : clean(e.sourceIp),
    outcome: e.outcome,
  };
}

export function createAuditLog(deps: { db: Db; clock: Clock }): AuditLog {
  const { db, clock } = deps;
  const appendIn = async (tx: Queryable, input: AuditInput): Promise<ChainedAuditEntry> => {
    const { prevHash, nextId } = await lockAuditTail(tx);
    const entry: AuditEntry = { ...cleanEntry(input), id: nextId, at: clock.now() };
    const prev = prevHash ?? GENESIS_HASH;
    const row: ChainedAuditEntry = { ...entry, prevHash: prev, hash: sha256Hex(canonicalAuditText(prev, entry)) };
    await insertAudit(tx, row);
    return row;
  };
  return {
    appendIn,
    append: (input) => db.transaction((tx) => appendIn(tx, input)),
    async list(filter) {
      const entries = await listAudit(db, filter);
      return { entries, next: entries.length === filter.limit ? entries[entries.length - 1]!.id : null };
    },
    async verify() {
      const PAGE = 1000;
      let state = { rows: 0, lastHash: GENESIS_HASH };
      let after = 0;
      for (;;) {
        const page = await auditPage(db, after, PAGE);
        const check = checkChain(page, sha256Hex, state);
        if (!check.ok || page.length < PAGE) return check;
        state = check;
        after = page[page.length - 1]!.id;
      }
    },
  };
}
