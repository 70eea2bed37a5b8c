/**
 * SQL shared by the vendor CRM adapters: the dedupe keys of tasks they created (crm_task_keys,
 * migration 0018, one namespace per CRM), so a redelivered request returns the first task instead
 * of creating a second. Nothing else reads these rows.
 */
import type { Queryable } from '../../store/port.ts';

const SELECT_TASK_KEY = 'select task_id from crm_task_keys where crm = $1 and dedupe_key = $2';

export async function selectTaskKey(db: Queryable, crm: string, key: string): Promise<string | undefined> {
  const { rows } = await db.query<{ task_id: string }>(SELECT_TASK_KEY, [crm, key]);
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
export async function claimTaskKey(db: Queryable, crm: string, key: string, taskId: string, at: Date): Promise<string> {
  const { rows } = await db.query<{ task_id: string }>(CLAIM_TASK_KEY, [crm, key, taskId, at]);
  // a twin that committed after this statement's snapshot is visible to a new statement only
  return rows[0]?.task_id ?? (await selectTaskKey(db, crm, key)) ?? taskId;
}
