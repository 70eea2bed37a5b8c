/**
 * Applies src/store/migrations/NNNN_name.sql in order. Each file runs in its own transaction that
 * first takes an advisory lock and inserts its row in switchyard_migrations (the graphile-worker
 * way), so running twice, or from two processes at once, applies each file exactly once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SwitchyardError } from '../core/errors.ts';
import type { Db } from './port.ts';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
const LOCK_KEY = 7_427_301; // arbitrary, constant: "switchyard migrations"

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export function listMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      id: Number(f.slice(0, 4)),
      name: f.replace(/\.sql$/, ''),
      sql: readFileSync(join(dir, f), 'utf8'),
    }));
}

/** Applies pending migrations; returns the names applied by this call. */
export async function migrate(db: Db, migrations: Migration[] = listMigrations()): Promise<string[]> {
  const applied: string[] = [];
  for (const m of migrations) {
    try {
      const didApply = await db.transaction(async (tx) => {
        await tx.query('select pg_advisory_xact_lock($1)', [LOCK_KEY]);
        await tx.exec(`create table if not exists switchyard_migrations (
          id integer primary key, name text not null, applied_at timestamptz not null default now())`);
        const { rows } = await tx.query(
          'insert into switchyard_migrations (id, name) values ($1, $2) on conflict (id) do nothing returning id',
          [m.id, m.name],
        );
        if (rows.length === 0) return false;
        await tx.exec(m.sql);
        return true;
      });
      if (didApply) applied.push(m.name);
    } catch (cause) {
      throw new SwitchyardError('STORE_MIGRATION_FAILED', `migration ${m.name} failed: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
  return applied;
}
