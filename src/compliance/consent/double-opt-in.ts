/**
 * Double opt-in and the preference centre. A sign-up records a `grant` that does not subscribe
 * yet, and mails a signed, expiring confirmation link on the transactional lane; the confirmation
 * (a POST from the page the link opens, so mail scanners that fetch links confirm nothing) records
 * `confirm` with its time, IP and user agent, which subscribes. Preference changes record `grant`
 * or `withdraw` per topic. Every answer to a sign-up is the same, so the endpoint tells nobody
 * whether an address is known.
 */
import { escapeHtml } from '../../core/html-escape.ts';
import type { Clock } from '../../clock/port.ts';
import { signLink, verifyLink } from '../../core/dsr/signed-link.ts';
import { SwitchyardError } from '../../core/errors.ts';
import type { Db } from '../../store/port.ts';
import type { SendTransactional } from '../dsr/service.ts';
import type { ConsentLedger } from './ledger.ts';
import * as q from './queries.ts';
import type { SubjectKeys } from './subject-keys.ts';

export interface SignUp {
  email: string;
  topic: string;
  source: string;
  wordingId?: string;
  wordingVersion?: string;
  /** The exact text and checkbox label shown; only its SHA-256 is kept. */
  wordingHash?: string;
  locale?: string;
  ip?: string;
  userAgent?: string;
  gpc?: boolean;
  jurisdiction?: string;
}

export interface DoubleOptIn {
  signUp(s: SignUp): Promise<{ status: 'confirmation_sent' }>;
  confirm(
    token: string,
    ctx: { ip?: string; userAgent?: string },
  ): Promise<{ topic: string; alreadyConfirmed: boolean }>;
  /** Records the subject's choice per topic (preference centre); only changes are recorded. */
  setPreferences(
    email: string,
    topics: Record<string, boolean>,
    ctx: { via: string; ip?: string; userAgent?: string },
  ): Promise<{ topic: string; subscribed: boolean }[]>;
}

export function createDoubleOptIn(
  deps: {
    db: Db;
    clock: Clock;
    consent: ConsentLedger;
    keys: SubjectKeys;
    sendMail: SendTransactional;
    newId: () => string;
  },
  options: { publicUrl: string; ttlMs: number },
): DoubleOptIn {
  const { db, clock, consent, keys } = deps;
  return {
    async signUp(s) {
      const now = clock.now();
      const tokenId = `doi_${deps.newId()}`;
      const expiresAt = new Date(now.getTime() + options.ttlMs);
      await db.transaction(async (tx) => {
        const rec = await consent.recordIn(tx, {
          email: s.email,
          topic: s.topic,
          channel: 'email',
          basis: 'express',
          action: 'grant',
          source: s.source,
          actor: 'end_user',
          awaitingConfirmation: true,
          doiTokenId: tokenId,
          doiSentAt: now,
          ...(s.wordingId ? { wordingId: s.wordingId } : {}),
          ...(s.wordingVersion ? { wordingVersion: s.wordingVersion } : {}),
          ...(s.wordingHash ? { wordingHash: s.wordingHash } : {}),
          ...(s.locale ? { locale: s.locale } : {}),
          ...(s.ip ? { ip: s.ip } : {}),
          ...(s.userAgent ? { userAgent: s.userAgent } : {}),
          ...(s.gpc !== undefined ? { gpc: s.gpc } : {}),
          ...(s.jurisdiction ? { jurisdiction: s.jurisdiction } : {}),
        });
        await q.insertDoi(tx, {
          tokenId,
          subjectHash: rec.subjectHash,
          topic: s.topic,
          recordId: rec.id,
          sentAt: now,
          expiresAt,
        });
      });
      const token = signLink(keys.linkSecrets[0]!, { kind: 'doi', id: tokenId, exp: expiresAt.getTime() });
      const url = `${options.publicUrl}/consent/confirm/${token}`;
      await deps.sendMail({
        to: s.email,
        subject: 'Please confirm your subscription',
        text: [
          `Please confirm that you want to receive "${s.topic}" from us:`,
          url,
          '',
          'If this was not you, ignore this message.',
        ].join('\n'),
        html:
          `<p>Please confirm that you want to receive "${escapeHtml(s.topic)}" from us: `
          + `<a href="${url}">confirm</a>.</p><p>If this was not you, ignore this message.</p>`,
      });
      return { status: 'confirmation_sent' };
    },
    async confirm(token, ctx) {
      const check = verifyLink(keys.linkSecrets, token, 'doi', clock.now());
      if (!check.ok) throw new SwitchyardError('LINK_INVALID', `confirmation link ${check.reason.replace('_', ' ')}`);
      const now = clock.now();
      return db.transaction(async (tx) => {
        const doi = await q.confirmDoi(tx, check.id, now);
        if (doi === null) {
          const again = await tx.query<{ topic: string }>('select topic from consent_doi where token_id = $1', [
            check.id,
          ]);
          if (again.rows[0]) return { topic: again.rows[0].topic, alreadyConfirmed: true };
          throw new SwitchyardError('LINK_INVALID', 'confirmation link unknown');
        }
        await consent.recordIn(tx, {
          subjectHash: doi.subjectHash,
          topic: doi.topic,
          channel: 'email',
          basis: 'express',
          action: 'confirm',
          source: 'double_opt_in',
          actor: 'end_user',
          doiTokenId: check.id,
          doiSentAt: doi.sentAt,
          doiConfirmedAt: now,
          evidenceRef: `consent_record:${doi.recordId}`,
          ...(ctx.ip ? { ip: ctx.ip } : {}),
          ...(ctx.userAgent ? { userAgent: ctx.userAgent } : {}),
        });
        return { topic: doi.topic, alreadyConfirmed: false };
      });
    },
    async setPreferences(email, topics, ctx) {
      const current = new Map((await consent.history(email)).subscriptions.map((s) => [s.topic, s.subscribed]));
      const changes = Object.entries(topics).filter(([topic, on]) => current.get(topic) !== on);
      await db.transaction(async (tx) => {
        for (const [topic, on] of changes)
          await consent.recordIn(tx, {
            email,
            topic,
            channel: 'email',
            basis: 'express',
            action: on ? 'grant' : 'withdraw',
            source: 'preference_centre',
            actor: 'end_user',
            ...(on ? {} : { withdrawnVia: ctx.via }),
            ...(ctx.ip ? { ip: ctx.ip } : {}),
            ...(ctx.userAgent ? { userAgent: ctx.userAgent } : {}),
          });
      });
      return changes.map(([topic, subscribed]) => ({ topic, subscribed }));
    },
  };
}
