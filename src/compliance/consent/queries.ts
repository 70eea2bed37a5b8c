/**
 * SQL of the consent ledger; private to src/compliance/consent/. Appends run under an advisory
 * transaction lock so concurrent writers never link to the same predecessor.
 */
import { type ChainedConsentEntry, consentFieldValues } from '../../core/dsr/consent-chain.ts';
import type { Queryable } from '../../store/port.ts';

// distinct from the audit log's lock key (src/access/queries.ts)
const CONSENT_LOCK_KEY = 0x5e_c0_25e7;

export async function lockConsentTail(tx: Queryable): Promise<{ prevHash: string | null; nextId: number }> {
  await tx.query('select pg_advisory_xact_lock($1)', [CONSENT_LOCK_KEY]);
  const tail = await tx.query<{ hash: string }>('select hash from consent_records order by id desc limit 1');
  const next = await tx.query<{ id: number }>(`select nextval(pg_get_serial_sequence('consent_records', 'id')) as id`);
  return { prevHash: tail.rows[0]?.hash ?? null, nextId: Number(next.rows[0]!.id) };
}

const INSERT = `
  insert into consent_records (id, at, occurred_at, subject_hash, contact_id, topic, channel, basis, action, source,
    actor, wording_id, wording_version, wording_hash, locale, doi_token_id, doi_sent_at, doi_confirmed_at, gpc,
    jurisdiction, evidence_ref, withdrawn_via, expires_at, pii_digest, prev_hash, hash)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
    $24, $25, $26)`;

export async function insertConsent(tx: Queryable, e: ChainedConsentEntry): Promise<void> {
  await tx.query(INSERT, [...consentFieldValues(e), e.prevHash, e.hash]);
}

export async function insertConsentPii(
  tx: Queryable,
  recordId: number,
  subjectHash: string,
  pii: Record<string, string>,
): Promise<void> {
  await tx.query('insert into consent_pii (record_id, subject_hash, pii) values ($1, $2, $3)', [
    recordId,
    subjectHash,
    JSON.stringify(pii),
  ]);
}

const UPSERT_SUBSCRIPTION = `
  insert into topic_subscriptions (subject_hash, topic, subscribed, record_id, updated_at)
  values ($1, $2, $3, $4, $5)
  on conflict (subject_hash, topic) do update
    set subscribed = excluded.subscribed, record_id = excluded.record_id, updated_at = excluded.updated_at`;

export async function setSubscription(
  tx: Queryable,
  subjectHash: string,
  topic: string,
  subscribed: boolean,
  recordId: number,
  at: Date,
): Promise<void> {
  await tx.query(UPSERT_SUBSCRIPTION, [subjectHash, topic, subscribed, recordId, at]);
}

export async function insertCheckpoint(tx: Queryable, recordId: number, hash: string, at: Date): Promise<void> {
  await tx.query('insert into consent_checkpoints (record_id, hash, at) values ($1, $2, $3) on conflict do nothing', [
    recordId,
    hash,
    at,
  ]);
}

interface Row {
  id: number;
  at: Date;
  occurred_at: Date;
  subject_hash: string;
  contact_id: string | null;
  topic: string;
  channel: string;
  basis: ChainedConsentEntry['basis'];
  action: ChainedConsentEntry['action'];
  source: string;
  actor: string;
  wording_id: string | null;
  wording_version: string | null;
  wording_hash: string | null;
  locale: string | null;
  doi_token_id: string | null;
  doi_sent_at: Date | null;
  doi_confirmed_at: Date | null;
  gpc: boolean | null;
  jurisdiction: string | null;
  evidence_ref: string | null;
  withdrawn_via: string | null;
  expires_at: Date | null;
  pii_digest: string;
  prev_hash: string;
  hash: string;
  pii?: Record<string, string> | null;
}

function toEntry(r: Row): ChainedConsentEntry {
  return {
    id: Number(r.id),
    at: r.at,
    occurredAt: r.occurred_at,
    subjectHash: r.subject_hash,
    contactId: r.contact_id,
    topic: r.topic,
    channel: r.channel,
    basis: r.basis,
    action: r.action,
    source: r.source,
    actor: r.actor,
    wordingId: r.wording_id,
    wordingVersion: r.wording_version,
    wordingHash: r.wording_hash,
    locale: r.locale,
    doiTokenId: r.doi_token_id,
    doiSentAt: r.doi_sent_at,
    doiConfirmedAt: r.doi_confirmed_at,
    gpc: r.gpc,
    jurisdiction: r.jurisdiction,
    evidenceRef: r.evidence_ref,
    withdrawnVia: r.withdrawn_via,
    expiresAt: r.expires_at,
    piiDigest: r.pii_digest,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export async function consentPage(db: Queryable, afterId: number, limit: number): Promise<ChainedConsentEntry[]> {
  const { rows } = await db.query<Row>('select * from consent_records where id > $1 order by id limit $2', [
    afterId,
    limit,
  ]);
  return rows.map(toEntry);
}

export async function listCheckpoints(db: Queryable): Promise<{ recordId: number; hash: string }[]> {
  const { rows } = await db.query<{ record_id: number; hash: string }>(
    'select record_id, hash from consent_checkpoints order by record_id',
  );
  return rows.map((r) => ({ recordId: Number(r.record_id), hash: r.hash }));
}

export async function subjectHistory(
  db: Queryable,
  subjectHash: string,
): Promise<(ChainedConsentEntry & { pii: Record<string, string> | null })[]> {
  const { rows } = await db.query<Row>(
    `select c.*, p.pii from consent_records c left join consent_pii p on p.record_id = c.id
     where c.subject_hash = $1 order by c.id`,
    [subjectHash],
  );
  return rows.map((r) => ({ ...toEntry(r), pii: r.pii ?? null }));
}

export async function subjectSubscriptions(
  db: Queryable,
  subjectHash: string,
): Promise<{ topic: string; subscribed: boolean; updatedAt: Date }[]> {
  const { rows } = await db.query<{ topic: string; subscribed: boolean; updated_at: Date }>(
    'select topic, subscribed, updated_at from topic_subscriptions where subject_hash = $1 order by topic',
    [subjectHash],
  );
  return rows.map((r) => ({ topic: r.topic, subscribed: r.subscribed, updatedAt: r.updated_at }));
}

/** Subjects (of the given hashes) NOT subscribed to the topic: withdrawn, or never confirmed when required. */
export async function unsubscribedFromTopic(
  db: Queryable,
  subjectHashes: readonly string[],
  topic: string,
  requireOptIn: boolean,
): Promise<Set<string>> {
  const sql = requireOptIn
    ? `select h from unnest($1::text[]) as h where not exists (
         select 1 from topic_subscriptions t where t.subject_hash = h and t.topic = $2 and t.subscribed)`
    : `select subject_hash as h from topic_subscriptions
       where subject_hash = any($1::text[]) and topic = $2 and not subscribed`;
  const { rows } = await db.query<{ h: string }>(sql, [subjectHashes, topic]);
  return new Set(rows.map((r) => r.h));
}

export async function deleteSubjectPii(db: Queryable, subjectHash: string): Promise<number> {
  const { rowCount } = await db.query('delete from consent_pii where subject_hash = $1', [subjectHash]);
  return rowCount;
}

export async function insertDoi(
  tx: Queryable,
  d: { tokenId: string; subjectHash: string; topic: string; recordId: number; sentAt: Date; expiresAt: Date },
): Promise<void> {
  await tx.query(
    `insert into consent_doi (token_id, subject_hash, topic, record_id, sent_at, expires_at)
     values ($1, $2, $3, $4, $5, $6)`,
    [d.tokenId, d.subjectHash, d.topic, d.recordId, d.sentAt, d.expiresAt],
  );
}

/** Marks the token confirmed once; null when unknown or already confirmed. */
export async function confirmDoi(
  tx: Queryable,
  tokenId: string,
  at: Date,
): Promise<{ subjectHash: string; topic: string; recordId: number; sentAt: Date; expiresAt: Date } | null> {
  const { rows } = await tx.query<{
    subject_hash: string;
    topic: string;
    record_id: number;
    sent_at: Date;
    expires_at: Date;
  }>(
    `update consent_doi set confirmed_at = $2 where token_id = $1 and confirmed_at is null
     returning subject_hash, topic, record_id, sent_at, expires_at`,
    [tokenId, at],
  );
  const r = rows[0];
  return r
    ? {
        subjectHash: r.subject_hash,
        topic: r.topic,
        recordId: Number(r.record_id),
        sentAt: r.sent_at,
        expiresAt: r.expires_at,
      }
    : null;
}

export async function findRecordPii(db: Queryable, recordId: number): Promise<Record<string, string> | null> {
  const { rows } = await db.query<{ pii: Record<string, string> }>('select pii from consent_pii where record_id = $1', [
    recordId,
  ]);
  return rows[0]?.pii ?? null;
}
