/**
 * Switchyard's own store and logs as a DSR system. The `OwnStoreEraser` is the seam to the
 * privacy module (crypto-shredding, branch i18-pii): its first implementation deletes or
 * anonymises the subject's rows in our tables — sends, events, propagation records, profiles,
 * consent personal fields, and the subject's address inside bus messages, the outbox, staged
 * chunks and dead letters — and, when a `shred` function is composed in, destroys the subject's
 * data key first, so every sealed copy anywhere (backups, logs) becomes unreadable too.
 * The subject stays suppressed (reason `erased`): erasure is never a way back onto the list.
 */
import type { Clock } from '../../clock/port.ts';
import type { DsrType } from '../../core/dsr/deadlines.ts';
import type { Db } from '../../store/port.ts';
import type { DsrSubject, DsrSystem, StepOutcome } from './port.ts';

export interface OwnStoreEraser {
  /** Removes the subject's personal data; idempotent. Returns rows touched per table. */
  erase(subject: DsrSubject): Promise<Record<string, number>>;
  /** The subject's data held here, for an access bundle. */
  export(subject: DsrSubject): Promise<{ found: boolean; data: Record<string, unknown> }>;
}

/** Contacts of the subject: given ones, and those our sends and events recorded for its addresses. */
const CONTACTS = `
  select distinct contact_id from send_ledger where email = any($1::text[])
  union select distinct contact_id from engagement_events where email = any($1::text[]) and contact_id is not null
  union select unnest($2::text[])`;

// the suppression stays, so the person is never mailed again: as a row, or (with the privacy
// module) as the fingerprint shred recorded, and then no row may keep the address in plain text
const KEEP_SUPPRESSED = `
  insert into suppressions (email, reason, source, created_at)
  select e, 'erased', 'dsr', $3 from unnest($1::text[]) e
  on conflict (email) do nothing`;
const DROP_PLAIN_SUPPRESSION = 'delete from suppressions where email = any($1::text[])';

const ERASE_STATEMENTS: [string, string][] = [
  [
    'send_ledger',
    `update send_ledger set email = $4 where email = any($1::text[]) or contact_id in (select id from contacts)`,
  ],
  [
    'engagement_events',
    `update engagement_events set email = null, raw = null, url = null
     where (email = any($1::text[]) or contact_id in (select id from contacts))
       and (email is not null or raw is not null)`,
  ],
  ['sandbox_events', 'delete from sandbox_events where email = any($1::text[])'],
  ['suppression_export', 'update suppression_export set email = $4 where email = any($1::text[])'],
  ['suppression_propagations', 'update suppression_propagations set email = $4 where email = any($1::text[])'],
  ['compliance_suppression_log', 'update compliance_suppression_log set email = $4 where email = any($1::text[])'],
  [
    'review_items',
    `update review_items set excerpt = '[erased]'
     where contact_id in (select id from contacts) and excerpt <> '[erased]'`,
  ],
  ['crm_profiles', 'delete from crm_profiles where contact_id in (select id from contacts)'],
  ['contact_engagement', 'delete from contact_engagement where contact_id in (select id from contacts)'],
  ['consents', 'delete from consents where contact_id in (select id from contacts)'],
  ['consent_pii', 'delete from consent_pii where subject_hash = $5'],
];

/**
 * The whole erasure of our rows as one statement (one round trip, atomic on its own): the
 * subject's contacts first, then one data-modifying CTE per table, each returning a row per row
 * it touched, counted at the end. Every CTE reads the statement's one snapshot, and no two touch
 * the same table, so the order among them does not matter.
 */
function eraseStatement(suppression: string): string {
  const parts = [['suppressions', suppression] as [string, string], ...ERASE_STATEMENTS];
  return [
    'with params as (select $3::timestamptz as at, $4::text as placeholder, $5::text as subject_hash),',
    `contacts(id) as (${CONTACTS.trim()}),`,
    parts.map(([, sql], i) => `t${i} as (${sql.trim()} returning 1)`).join(',\n'),
    `select ${parts.map(([table], i) => `(select count(*) from t${i})::int as "${table}"`).join(', ')}`,
  ].join('\n');
}
const ERASE_KEEPING_SUPPRESSION = eraseStatement(KEEP_SUPPRESSED);
const ERASE_WITH_FINGERPRINT = eraseStatement(DROP_PLAIN_SUPPRESSION);

/**
 * Logs of messages: the address is replaced wherever it occurs in the payload text. A scan per
 * request (strpos over the text); the privacy module's per-subject keys make it unnecessary.
 */
const REDACT_STATEMENTS: [string, string][] = [
  ['bus_messages', `update bus_messages set payload = replace(payload, $1, '[erased]') where strpos(payload, $1) > 0`],
  ['bus_outbox', `update bus_outbox set payload = replace(payload, $1, '[erased]') where strpos(payload, $1) > 0`],
  [
    'dead_letters',
    `update dead_letters set payload = replace(payload::text, $1, '[erased]')::jsonb
     where payload is not null and strpos(payload::text, $1) > 0`,
  ],
  [
    'staged_chunks',
    `update staged_chunks set payload = replace(payload::text, $1, '[erased]')::jsonb
     where strpos(payload::text, $1) > 0`,
  ],
];

export function createOwnStoreEraser(deps: {
  db: Db;
  clock: Clock;
  /** The privacy module's shred (destroys the subject's data key); absent until it is composed in. */
  shred?: (email: string) => Promise<unknown>;
}): OwnStoreEraser {
  const { db, clock } = deps;
  return {
    async erase(subject) {
      for (const email of subject.emails) await deps.shred?.(email);
      const placeholder = `erased:${subject.subjectHash.slice(0, 32)}`;
      const {
        rows: [row],
      } = await db.query<Record<string, number>>(deps.shred ? ERASE_WITH_FINGERPRINT : ERASE_KEEPING_SUPPRESSION, [
        subject.emails,
        subject.contactIds,
        clock.now(),
        placeholder,
        subject.subjectHash,
      ]);
      const counts: Record<string, number> = { ...row };
      // with the privacy module, message logs hold addresses sealed under the key just destroyed:
      // nothing to rewrite. Without it, the plain text is replaced where it occurs.
      const plainInLogs = deps.shred === undefined;
      for (const email of plainInLogs ? [...subject.emails, ...subject.names.filter((n) => n.length >= 4)] : [])
        for (const [table, sql] of REDACT_STATEMENTS)
          counts[table] = (counts[table] ?? 0) + (await db.query(sql, [email])).rowCount;
      return counts;
    },
    async export(subject) {
      const contacts = (
        await db.query<{ contact_id: string }>(CONTACTS, [subject.emails, subject.contactIds])
      ).rows.map((r) => r.contact_id);
      const sends = await db.query(
        `select campaign_id, state, sent_at, updated_at from send_ledger
         where email = any($1::text[]) or contact_id = any($2::text[]) order by updated_at limit 10000`,
        [subject.emails, contacts],
      );
      const events = await db.query(
        `select type, provider, occurred_at, campaign_id, is_machine, url from engagement_events
         where email = any($1::text[]) or contact_id = any($2::text[]) order by occurred_at limit 10000`,
        [subject.emails, contacts],
      );
      const suppression = await db.query(
        'select email, reason, source, created_at from suppressions where email = any($1::text[])',
        [subject.emails],
      );
      const consent = await db.query(
        `select c.id, c.at, c.topic, c.basis, c.action, c.source, c.wording_id, c.wording_version,
           c.doi_confirmed_at, p.pii
         from consent_records c left join consent_pii p on p.record_id = c.id where c.subject_hash = $1 order by c.id`,
        [subject.subjectHash],
      );
      const data = {
        contacts,
        sends: sends.rows,
        // machine events (proxy prefetch, scanners) are flagged, as law.md §11 asks
        events: events.rows,
        suppressions: suppression.rows,
        consent: consent.rows,
      };
      const found =
        contacts.length + sends.rows.length + events.rows.length + suppression.rows.length + consent.rows.length > 0;
      return { found, data };
    },
  };
}

/** The own-store step: erasure through the eraser, access through its export, opt-out as a suppression. */
export function ownStoreSystem(eraser: OwnStoreEraser, deps: { db: Db; clock: Clock }): DsrSystem {
  return {
    name: 'own-store',
    async handle(type: DsrType, subject: DsrSubject): Promise<StepOutcome> {
      switch (type) {
        case 'erasure': {
          const counts = await eraser.erase(subject);
          const touched = Object.entries(counts).some(([t, n]) => t !== 'suppressions' && n > 0);
          return touched
            ? { kind: 'confirmed', evidence: { rows: counts } }
            : { kind: 'nothing_found', evidence: { rows: counts } };
        }
        case 'access':
        case 'portability': {
          const { found, data } = await eraser.export(subject);
          return found ? { kind: 'exported', data, evidence: { found } } : { kind: 'nothing_found', evidence: {} };
        }
        case 'opt_out_of_sale': {
          const { rowCount } = await deps.db.query(
            `insert into suppressions (email, reason, source, created_at) select e, 'manual', 'dsr_opt_out', $2
             from unnest($1::text[]) e on conflict (email) do nothing`,
            [subject.emails, deps.clock.now()],
          );
          return { kind: 'confirmed', evidence: { suppressed: rowCount } };
        }
        case 'rectification':
          return {
            kind: 'not_applicable',
            reason: 'Switchyard keeps no master data to correct; the sources of truth are the CRM and warehouse',
          };
      }
    },
  };
}
