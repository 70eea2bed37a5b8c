/**
 * SQL of the Salesforce adapter: the change-polling watermarks (crm_change_watermarks, migration
 * 0019). Nothing else reads these rows.
 */
import type { Queryable } from '../../../store/port.ts';

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
