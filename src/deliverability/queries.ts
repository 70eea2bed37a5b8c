/**
 * The governor's SQL: its per-scope state (migration 0015_governor_state.sql), written set-wise.
 */
import type { Db } from '../store/port.ts';
import type { GovernorStateRow } from './governor-state.ts';

const SAVE_GOVERNOR_STATE = `
  insert into governor_state (scope_key, state, updated_at)
  select k, s::jsonb, $3 from unnest($1::text[], $2::text[]) as t(k, s)
  on conflict (scope_key) do update set state = excluded.state, updated_at = excluded.updated_at`;

/** Replaces the stored state of these scopes in one statement. */
export async function saveGovernorState(db: Db, rows: readonly GovernorStateRow[], at: Date): Promise<void> {
  if (rows.length === 0) return;
  await db.query(SAVE_GOVERNOR_STATE, [rows.map((r) => r.key), rows.map((r) => r.state), at]);
}

const PRUNE_GOVERNOR_STATE = `delete from governor_state where updated_at < $1`;

/** Forgets scopes not saved since `before` (idle ones; paused, held and warming ones are saved
 *  every round). */
export async function pruneGovernorState(db: Db, before: Date): Promise<void> {
  await db.query(PRUNE_GOVERNOR_STATE, [before]);
}

const LOAD_GOVERNOR_STATE = `select scope_key, state::text as state from governor_state order by updated_at, scope_key`;

/** Every stored scope, oldest update first (so the newest end up most recently used). */
export async function loadGovernorState(db: Db): Promise<GovernorStateRow[]> {
  const { rows } = await db.query<{ scope_key: string; state: string }>(LOAD_GOVERNOR_STATE);
  return rows.map((r) => ({ key: r.scope_key, state: r.state }));
}
