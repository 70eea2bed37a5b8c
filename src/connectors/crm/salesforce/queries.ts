/**
 * SQL of the Salesforce adapter: dedupe keys of the tasks it created (crm_task_keys, migration
 * 0018) and the change-polling watermarks (crm_change_watermarks, migration 0019). Nothing else
 * reads these rows.
 */
import type { Queryable } from '../../../store/port.ts';

const SELECT_TASK_KEY = 'select task_id from crm_task_keys where crm = $1 and dedupe_key = $2';

export async function selectTaskKey(db: Queryable, key: string): Promise<string | undefined> {
  const { rows } = await db.query<{ task_id: string }>(SELECT_TASK_KEY, ['salesforce', key]);
  return rows[0]?.task_id;
}

// the key is unique: a racing twin inserts nothing and reads the winner's task id back
const CLAIM_TASK_KEY = `
  with claimed as (
    insert into crm_task_keys (crm, dedupe_key, task_id, created_at) values ($1, $2, $3, $4)
    on conflict (crm, dedupe_key) do nothing
    returning task_id)
  select task_id from claimed
  union all
  select task_id from crm_task_keys where crm = $1 and dedupe_key = $2 and not exists (select 1 from claimed)`;

/** Records the task for the key; returns the task id that holds the key (ours, or a twin's). */
export async function claimTaskKey(db: Queryable, key: string, taskId: string, at: Date): Promise<string> {
  const { rows } = await db.query<{ task_id: string }>(CLAIM_TASK_KEY, ['salesforce', key, taskId, at]);
  return rows[0]?.task_id ?? (await selectTaskKey(db, key)) ?? taskId;
}

export interface Watermark {
  /** SystemModstamp of the last record taken, and its Id (the keyset tie-breaker). */
  modstamp: Date;
  lastId: string;
}

const SELECT_WATERMARK = 'select modstamp, last_id from crm_change_watermarks where stream = $1';

export async function selectWatermark(db: Queryable, stream: string): Promise<Watermark | undefined> {
  const { rows } = await db.query<{ modstamp: Date | string; last_id: string }>(SELECT_WATERMARK, [stream]);
  const row = rows[0];
  return row === undefined ? undefined : { modstamp: new Date(row.modstamp), lastId: row.last_id };
}

// never moves backwards: a slower twin poller that read an older page cannot undo a newer watermark
const SAVE_WATERMARK = `
  insert into crm_change_watermarks (stream, modstamp, last_id, updated_at) values ($1, $2, $3, $4)
  on conflict (stream) do update set modstamp = excluded.modstamp, last_id = excluded.last_id,
    updated_at = excluded.updated_at
  where (crm_change_watermarks.modstamp, crm_change_watermarks.last_id) < (excluded.modstamp, excluded.last_id)`;

export async function saveWatermark(db: Queryable, stream: string, wm: Watermark, at: Date): Promise<void> {
  await db.query(SAVE_WATERMARK, [stream, wm.modstamp, wm.lastId, at]);
}
