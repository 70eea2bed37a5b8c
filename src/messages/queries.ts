/** SQL of the transactional-message service (table `messages`, migration 0025). Private to src/messages/. */
import type { Queryable } from '../store/port.ts';

export interface MessageRow {
  id: string;
  idempotencyKey: string;
  requestHash: string;
  contactId: string;
  category: string;
  priority: string;
  createdAt: Date;
}

interface Row {
  id: string;
  idempotency_key: string;
  request_hash: string;
  contact_id: string;
  category: string;
  priority: string;
  created_at: Date;
}

function toMessage(r: Row): MessageRow {
  return {
    id: r.id,
    idempotencyKey: r.idempotency_key,
    requestHash: r.request_hash,
    contactId: r.contact_id,
    category: r.category,
    priority: r.priority,
    createdAt: r.created_at,
  };
}

const INSERT = `
  insert into messages (id, idempotency_key, request_hash, contact_id, category, priority, created_at)
  values ($1, $2, $3, $4, $5, $6, $7)
  on conflict do nothing`;

/** Records a key; false when it (or its id) exists already — the database decides, never a prior read. */
export async function insertMessage(
  tx: Queryable,
  m: { id: string; idempotencyKey: string; hash: string; contactId: string; priority: string },
  category: string,
  at: Date,
): Promise<boolean> {
  const { rowCount } = await tx.query(INSERT, [m.id, m.idempotencyKey, m.hash, m.contactId, category, m.priority, at]);
  return rowCount === 1;
}

export async function getMessageByKey(db: Queryable, key: string): Promise<MessageRow | null> {
  const { rows } = await db.query<Row>('select * from messages where idempotency_key = $1', [key]);
  return rows[0] === undefined ? null : toMessage(rows[0]);
}

export async function getMessage(db: Queryable, id: string): Promise<MessageRow | null> {
  const { rows } = await db.query<Row>('select * from messages where id = $1', [id]);
  return rows[0] === undefined ? null : toMessage(rows[0]);
}
