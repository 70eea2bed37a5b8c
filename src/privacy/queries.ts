/**
 * SQL of the privacy module (private to src/privacy/): the subject key table and the suppression
 * fingerprints. Every statement takes a whole set of subjects (bytea arrays), one round trip per chunk.
 */
import type { Queryable } from '../store/port.ts';
import { SUBJECT_BYTES } from './crypto.ts';

export interface SubjectKeyRow {
  subject: Buffer;
  masterKeyId: string | null;
  wrapped: Buffer | null;
}

const FIND_KEYS = `
  select subject, master_key_id, wrapped_key from subject_keys where subject = any($1::bytea[])`;

export async function findKeys(db: Queryable, subjects: readonly Buffer[]): Promise<SubjectKeyRow[]> {
  if (subjects.length === 0) return [];
  const { rows } = await db.query<{
    subject: Uint8Array;
    master_key_id: string | null;
    wrapped_key: Uint8Array | null;
  }>(FIND_KEYS, [subjects]);
  return rows.map((r) => ({
    subject: Buffer.from(r.subject),
    masterKeyId: r.master_key_id,
    wrapped: r.wrapped_key === null ? null : Buffer.from(r.wrapped_key),
  }));
}

// Key rows commit without waiting for the WAL flush: a caller writes what refers to a new key (a
// ledger row naming the subject) in a later statement, whose own flush covers this commit's WAL, so a
// crash cannot keep the reference and lose the key; it can only lose both, and the next seal creates
// the key again. One flush less per chunk (decision 0036).
const ASYNC_COMMIT = `async_commit as (select set_config('synchronous_commit', 'off', true) as setting)`;

// Subjects and wrapped keys arrive as one binary parameter each, cut in SQL ($5: the wrapped keys'
// common length): a bytea array parameter travels as text, two hex strings per subject.
const OFFERED = `
  x as (
    select substring($1::bytea from ${SUBJECT_BYTES} * i + 1 for ${SUBJECT_BYTES}) as s,
      substring($3::bytea from $5::int4 * i + 1 for $5::int4) as w
    from generate_series(0, length($1::bytea) / ${SUBJECT_BYTES} - 1) as i)`;

// A chunk whose subjects are all new (a first blast): a plain insert. Reading the existing rows in
// the same statement probed the primary key once more per subject for rows that are not there, and
// ON CONFLICT's speculative insertion costs a probe and a WAL record per row (PostgreSQL's CPU per
// key measured in bench/README.md ## blast). Any subject that has a key fails it as a whole (nothing
// is written) and the ON CONFLICT form below decides.
const INSERT_KEYS = `
  with ${ASYNC_COMMIT}, ${OFFERED}
  insert into subject_keys (subject, master_key_id, wrapped_key, created_at)
  select s, $2, w, $4 from x cross join async_commit`;

/** SQLSTATE of a unique constraint violation. */
const UNIQUE_VIOLATION = '23505';

// A chunk where some subjects had keys: one round trip inserts the offered keys of subjects that
// have none and returns the rows that existed (read from the statement's snapshot: the CTE's inserts
// are not visible to it) and how many rows it inserted, not the new rows themselves. A row a
// concurrent writer committed after the snapshot is in neither: then the count does not add up and
// the caller reads them again.
const FIND_OR_INSERT_KEYS = `
  with ${ASYNC_COMMIT}, ${OFFERED},
  ins as (
    insert into subject_keys (subject, master_key_id, wrapped_key, created_at)
    select s, $2, w, $4 from x cross join async_commit
    on conflict (subject) do nothing
    returning 1)
  select k.subject, k.master_key_id, k.wrapped_key, null::int8 as inserted from subject_keys k
  where k.subject = any(array(select s from x))
  union all
  select null, null, null, count(*) from ins`;

/** The same with array parameters, for wrapped keys of different lengths (a KMS's own format). */
const FIND_OR_INSERT_KEYS_ARRAYS = `
  with ${ASYNC_COMMIT},
  ins as (
    insert into subject_keys (subject, master_key_id, wrapped_key, created_at)
    select s, $2, w, $4 from unnest($1::bytea[], $3::bytea[]) as x(s, w) cross join async_commit
    on conflict (subject) do nothing
    returning 1)
  select k.subject, k.master_key_id, k.wrapped_key, null::int8 as inserted from subject_keys k
  where k.subject = any($1::bytea[])
  union all
  select null, null, null, count(*) from ins`;

/** The key statements' parameters: packed (5) when every key has one length, else arrays (4). */
function keyParams(masterKeyId: string, keys: readonly { subject: Buffer; wrapped: Buffer }[], at: Date): unknown[] {
  const width = keys[0]!.wrapped.length;
  const packed = keys.every((k) => k.wrapped.length === width && k.subject.length === SUBJECT_BYTES);
  return packed
    ? [Buffer.concat(keys.map((k) => k.subject)), masterKeyId, Buffer.concat(keys.map((k) => k.wrapped)), at, width]
    : [keys.map((k) => k.subject), masterKeyId, keys.map((k) => k.wrapped), at];
}

/** The plain insert of packed parameters: the rows inserted, or undefined when a subject had a key. */
async function insertNewKeys(db: Queryable, params: unknown[]): Promise<number | undefined> {
  try {
    return (await db.query(INSERT_KEYS, params)).rowCount;
  } catch (err) {
    if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err;
    return undefined;
  }
}

/**
 * Inserts keys for subjects the caller takes to be new, all in one plain insert, packed as they go
 * on the wire (`subjects` 16 bytes each, `wrapped` `width` bytes each, in the same order); false,
 * with nothing written, when any of them has a key or a tombstone already or appears twice (the
 * caller then takes the reading path). Not inside a transaction: its failure would abort it.
 */
export async function insertPackedKeys(
  db: Queryable,
  masterKeyId: string,
  subjects: Buffer,
  wrapped: Buffer,
  width: number,
  at: Date,
): Promise<boolean> {
  const count = subjects.length / SUBJECT_BYTES;
  if (count === 0) return true;
  if (!Number.isInteger(count) || wrapped.length !== count * width) throw new RangeError('packed keys do not match');
  return (await insertNewKeys(db, [subjects, masterKeyId, wrapped, at, width])) === count;
}

/**
 * Inserts the offered keys of subjects that have none and returns the rows that existed before and
 * how many it inserted (when those fall short of the keys offered, a concurrent writer's rows are
 * missing and the caller reads them). Without `readExisting` (the caller expects only new
 * subjects) a plain insert is tried first; not inside a transaction: its failure would abort it.
 */
export async function findOrInsertKeys(
  db: Queryable,
  masterKeyId: string,
  keys: readonly { subject: Buffer; wrapped: Buffer }[],
  at: Date,
  readExisting = true,
): Promise<{ existing: SubjectKeyRow[]; inserted: number }> {
  if (keys.length === 0) return { existing: [], inserted: 0 };
  const params = keyParams(masterKeyId, keys, at);
  if (params.length === 5 && !readExisting) {
    const inserted = await insertNewKeys(db, params);
    if (inserted !== undefined) return { existing: [], inserted };
  }
  const { rows } = await db.query<{
    subject: Uint8Array | null;
    master_key_id: string | null;
    wrapped_key: Uint8Array | null;
    inserted: string | number | null;
  }>(params.length === 5 ? FIND_OR_INSERT_KEYS : FIND_OR_INSERT_KEYS_ARRAYS, params);
  const existing: SubjectKeyRow[] = [];
  let inserted = 0;
  for (const r of rows) {
    if (r.subject === null) inserted = Number(r.inserted);
    else
      existing.push({
        subject: Buffer.from(r.subject),
        masterKeyId: r.master_key_id,
        wrapped: r.wrapped_key === null ? null : Buffer.from(r.wrapped_key),
      });
  }
  return { existing, inserted };
}

// the key row stays as a tombstone, so a later seal for the subject knows it was erased
const SHRED = `
  insert into subject_keys (subject, master_key_id, wrapped_key, created_at, shredded_at)
  values ($1, null, null, $2, $2)
  on conflict (subject) do update set master_key_id = null, wrapped_key = null,
    shredded_at = coalesce(subject_keys.shredded_at, excluded.shredded_at)`;

export async function shredKey(db: Queryable, subject: Buffer, at: Date): Promise<void> {
  await db.query(SHRED, [subject, at]);
}

const IS_SHREDDED = `select shredded_at from subject_keys where subject = $1 and shredded_at is not null`;

export async function shreddedAt(db: Queryable, subject: Buffer): Promise<Date | null> {
  const { rows } = await db.query<{ shredded_at: Date }>(IS_SHREDDED, [subject]);
  return rows[0]?.shredded_at ?? null;
}

const ADD_FINGERPRINT = `
  insert into suppression_fingerprints (fingerprint, reason, source, created_at) values ($1, $2, $3, $4)
  on conflict (fingerprint) do nothing`;

export async function addFingerprint(
  db: Queryable,
  fingerprint: Buffer,
  reason: string,
  source: string,
  at: Date,
): Promise<void> {
  await db.query(ADD_FINGERPRINT, [fingerprint, reason, source, at]);
}

const FIND_FINGERPRINTS = `
  select fingerprint, reason from suppression_fingerprints where fingerprint = any($1::bytea[])`;

export async function findFingerprints(db: Queryable, fps: readonly Buffer[]): Promise<Map<string, string>> {
  if (fps.length === 0) return new Map();
  const { rows } = await db.query<{ fingerprint: Uint8Array; reason: string }>(FIND_FINGERPRINTS, [fps]);
  return new Map(rows.map((r) => [Buffer.from(r.fingerprint).toString('base64url'), r.reason]));
}

// keyset over the subject, so a rotation interrupted half-way resumes where it stopped
const STALE_KEYS = `
  select subject, master_key_id, wrapped_key from subject_keys
  where wrapped_key is not null and master_key_id <> $1 and subject > $2
  order by subject limit $3`;

export async function findStaleKeys(
  db: Queryable,
  currentKeyId: string,
  after: Buffer,
  limit: number,
): Promise<SubjectKeyRow[]> {
  const { rows } = await db.query<{ subject: Uint8Array; master_key_id: string; wrapped_key: Uint8Array }>(STALE_KEYS, [
    currentKeyId,
    after,
    limit,
  ]);
  return rows.map((r) => ({
    subject: Buffer.from(r.subject),
    masterKeyId: r.master_key_id,
    wrapped: Buffer.from(r.wrapped_key),
  }));
}

// only rows still wrapped by the key read: a concurrent shred wins (its null is not overwritten)
const REWRAP = `
  update subject_keys k set master_key_id = $2, wrapped_key = x.w
  from unnest($1::bytea[], $3::bytea[], $4::text[]) as x(s, w, old)
  where k.subject = x.s and k.master_key_id = x.old and k.wrapped_key is not null`;

export async function rewrapKeys(
  db: Queryable,
  masterKeyId: string,
  keys: readonly { subject: Buffer; wrapped: Buffer; oldKeyId: string }[],
): Promise<number> {
  if (keys.length === 0) return 0;
  const { rowCount } = await db.query(REWRAP, [
    keys.map((k) => k.subject),
    masterKeyId,
    keys.map((k) => k.wrapped),
    keys.map((k) => k.oldKeyId),
  ]);
  return rowCount;
}

const COUNT_BY_MASTER = `
  select coalesce(master_key_id, '(shredded)') as id, count(*)::int8 as n from subject_keys group by 1`;

export async function countByMasterKey(db: Queryable): Promise<Record<string, number>> {
  const { rows } = await db.query<{ id: string; n: number }>(COUNT_BY_MASTER);
  return Object.fromEntries(rows.map((r) => [r.id, r.n]));
}
