/**
 * The consent ledger: every grant, confirmation, withdrawal and expiry of consent to a topic, as
 * an append-only, hash-chained record (law.md §10), plus the current per-topic subscription state
 * derived from it in the same transaction. Personal fields go to consent_pii and only their keyed
 * digest into the chain, so erasure deletes them without breaking it. Every `checkpointEvery`
 * records a checkpoint (record id and hash) is stored and logged; verify checks the chain and the
 * checkpoints, names the first broken record, and never repairs anything.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../clock/port.ts';
import {
  canonicalConsentText,
  checkConsentChain,
  subscribedAfter,
  type ChainedConsentEntry,
  type ConsentEntry,
} from '../../core/dsr/consent-chain.ts';
import { GENESIS_HASH } from '../../core/hash-chain.ts';
import type { Db, Queryable } from '../../store/port.ts';
import * as q from './queries.ts';
import { normalizeEmail, type SubjectKeys } from './subject-keys.ts';

/** What a caller records; ids, times, hashes and digests are added here. */
export type ConsentInput = Omit<
  ConsentEntry,
  'id' | 'at' | 'subjectHash' | 'piiDigest' | 'occurredAt' | keyof OptionalFields
> &
  Partial<OptionalFields> & {
    /** The subject's address; or, for a record that follows an earlier one (a confirmation), its subjectHash. */
    email?: string;
    subjectHash?: string;
    occurredAt?: Date;
    ip?: string;
    userAgent?: string;
    /** A grant that waits for double opt-in: recorded, but does not subscribe yet. */
    awaitingConfirmation?: boolean;
  };

type OptionalFields = Pick<
  ConsentEntry,
  | 'contactId'
  | 'wordingId'
  | 'wordingVersion'
  | 'wordingHash'
  | 'locale'
  | 'doiTokenId'
  | 'doiSentAt'
  | 'doiConfirmedAt'
  | 'gpc'
  | 'jurisdiction'
  | 'evidenceRef'
  | 'withdrawnVia'
  | 'expiresAt'
>;

export type ConsentVerify =
  | { ok: true; rows: number; lastHash: string; checkpoints: number }
  | { ok: false; rows: number; brokenId: number; reason: 'prev_hash' | 'hash' | 'checkpoint' };

export interface ConsentHistory {
  records: (ChainedConsentEntry & { pii: Record<string, string> | null })[];
  subscriptions: { topic: string; subscribed: boolean; updatedAt: Date }[];
}

export interface ConsentLedger {
  /** Appends one record (and updates the topic's subscription) in its own transaction. */
  record(input: ConsentInput): Promise<ChainedConsentEntry>;
  /** Appends inside the caller's transaction. */
  recordIn(tx: Queryable, input: ConsentInput): Promise<ChainedConsentEntry>;
  /** Walks the chain oldest first, a page at a time, then the checkpoints. */
  verify(): Promise<ConsentVerify>;
  /** One subject's records (with personal fields while not erased) and current subscriptions. */
  history(email: string): Promise<ConsentHistory>;
  /** Deletes the subject's personal fields (erasure); the chained records stay. Returns rows removed. */
  erasePii(subjectHash: string): Promise<number>;
  /** Of these addresses, the ones (normalised) whose subject withdrew from `topic`, by one query on
   *  the subscription state; a subject who never chose anything for the topic is not among them. */
  unsubscribedFrom(emails: readonly string[], topic: string): Promise<Set<string>>;
}

/** What the send roads need of the ledger: who withdrew from a topic (src/campaigns/). */
export type TopicSubscriptions = Pick<ConsentLedger, 'unsubscribedFrom'>;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export function createConsentLedger(
  deps: { db: Db; clock: Clock; log: Logger; keys: SubjectKeys },
  options: { checkpointEvery: number } = { checkpointEvery: 1000 },
): ConsentLedger {
  const { db, clock, log, keys } = deps;
  const recordIn = async (tx: Queryable, input: ConsentInput): Promise<ChainedConsentEntry> => {
    const { prevHash, nextId } = await q.lockConsentTail(tx);
    const now = clock.now();
    const subjectHash = input.email !== undefined ? keys.hash(input.email) : input.subjectHash;
    if (subjectHash === undefined) throw new Error('a consent record needs an email or a subjectHash');
    const pii: Record<string, string> = input.email !== undefined ? { email: input.email } : {};
    if (input.ip !== undefined) pii.ip = input.ip;
    if (input.userAgent !== undefined) pii.userAgent = input.userAgent;
    const entry: ConsentEntry = {
      id: nextId,
      at: now,
      occurredAt: input.occurredAt ?? now,
      subjectHash,
      contactId: input.contactId ?? null,
      topic: input.topic,
      channel: input.channel,
      basis: input.basis,
      action: input.action,
      source: input.source,
      actor: input.actor,
      wordingId: input.wordingId ?? null,
      wordingVersion: input.wordingVersion ?? null,
      wordingHash: input.wordingHash ?? null,
      locale: input.locale ?? null,
      doiTokenId: input.doiTokenId ?? null,
      doiSentAt: input.doiSentAt ?? null,
      doiConfirmedAt: input.doiConfirmedAt ?? null,
      gpc: input.gpc ?? null,
      jurisdiction: input.jurisdiction ?? null,
      evidenceRef: input.evidenceRef ?? null,
      withdrawnVia: input.withdrawnVia ?? null,
      expiresAt: input.expiresAt ?? null,
      piiDigest: keys.digest(pii),
    };
    const prev = prevHash ?? GENESIS_HASH;
    const row: ChainedConsentEntry = { ...entry, prevHash: prev, hash: sha256(canonicalConsentText(prev, entry)) };
    await q.insertConsent(tx, row);
    await q.insertConsentPii(tx, row.id, subjectHash, pii);
    const subscribed = subscribedAfter(input.action, input.awaitingConfirmation === true);
    if (subscribed !== null) await q.setSubscription(tx, subjectHash, input.topic, subscribed, row.id, now);
    if (row.id % options.checkpointEvery === 0) {
      await q.insertCheckpoint(tx, row.id, row.hash, now);
      log.info({ consentCheckpoint: row.id, hash: row.hash }, 'consent ledger checkpoint');
    }
    return row;
  };
  return {
    recordIn,
    record: (input) => db.transaction((tx) => recordIn(tx, input)),
    async verify() {
      const PAGE = 1000;
      let state = { rows: 0, lastHash: GENESIS_HASH };
      let after = 0;
      const seen = new Map<number, string>();
      const checkpoints = await q.listCheckpoints(db);
      const wanted = new Set(checkpoints.map((c) => c.recordId));
      for (;;) {
        const page = await q.consentPage(db, after, PAGE);
        const check = checkConsentChain(page, sha256, state);
        if (!check.ok) return check;
        for (const r of page) if (wanted.has(r.id)) seen.set(r.id, r.hash);
        state = check;
        if (page.length < PAGE) break;
        after = page[page.length - 1]!.id;
      }
      // a checkpoint whose record is gone or differs: the chain was cut or rebuilt after it
      for (const c of checkpoints)
        if (seen.get(c.recordId) !== c.hash)
          return { ok: false, rows: state.rows, brokenId: c.recordId, reason: 'checkpoint' };
      return { ok: true, rows: state.rows, lastHash: state.lastHash, checkpoints: checkpoints.length };
    },
    async history(email) {
      const h = keys.hash(email);
      return { records: await q.subjectHistory(db, h), subscriptions: await q.subjectSubscriptions(db, h) };
    },
    erasePii: (subjectHash) => q.deleteSubjectPii(db, subjectHash),
    async unsubscribedFrom(emails, topic) {
      if (emails.length === 0) return new Set();
      const normalized = emails.map(normalizeEmail);
      const hashes = normalized.map((e) => keys.hash(e));
      const withdrawn = await q.unsubscribedFromTopic(db, hashes, topic, false);
      return new Set(normalized.filter((_, i) => withdrawn.has(hashes[i]!)));
    },
  };
}
