/**
 * Data-subject requests: intake (API, CLI, inbound mail after review), the identity check by an
 * emailed signed link, status, the exceptions queue and legal holds. The fan-out itself is the
 * runner (runner.ts). A request's clock starts at receipt (law.md §11). A duplicate (same subject
 * and type while one is open) joins the open request, enforced by a unique index, never by
 * check-then-insert. Nothing irreversible runs before the identity is verified; an opt-out of
 * sale is reversible and needs no verification (CCPA §7026).
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../clock/port.ts';
import { dsrDeadline, type DsrType, type Jurisdiction } from '../../core/dsr/deadlines.ts';
import { signLink, verifyLink } from '../../core/dsr/signed-link.ts';
import { SwitchyardError } from '../../core/errors.ts';
import type { Db } from '../../store/port.ts';
import { normalizeEmail, type SubjectKeys } from '../consent/subject-keys.ts';
import * as q from './queries.ts';

export type { ExceptionRow, RequestRow, StepRow } from './queries.ts';

export interface DsrIdentity {
  type: 'email' | 'name' | 'contact_id';
  value: string;
}

export interface DsrIntake {
  /** The requester's own id (OpenDSR subject_request_id); repeats return the same request. */
  externalId?: string;
  type: DsrType;
  identities: DsrIdentity[];
  jurisdiction: Jurisdiction;
  receivedAt?: Date;
  callbackUrl?: string;
  channel: 'api' | 'cli' | 'email';
  /** The caller (an admin or an upstream DSR platform) vouches that the identity was verified. */
  identityVerified?: boolean;
}

/** A plain message on the transactional lane (confirmation and identity-check mail). */
export type SendTransactional = (msg: { to: string; subject: string; text: string; html: string }) => Promise<void>;

export interface DsrServiceDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  keys: SubjectKeys;
  newId: () => string;
  sendMail: SendTransactional;
  /** The step names of the systems a request fans out to, in order. */
  systems: readonly string[];
}

export interface DsrServiceOptions {
  publicUrl: string;
  /** How long the emailed identity link (and the request waiting for it) stays valid. */
  verifyTtlMs: number;
}

export interface IntakeResult {
  request: q.RequestRow;
  joined: boolean;
  receipt: { body: Record<string, unknown>; signature: string };
}

export interface DsrService {
  submit(intake: DsrIntake): Promise<IntakeResult>;
  /** The emailed link's token: marks the identity verified and starts the fan-out. */
  verifyIdentity(token: string): Promise<q.RequestRow>;
  get(
    id: string,
  ): Promise<{ request: q.RequestRow; steps: q.StepRow[]; events: Awaited<ReturnType<typeof q.listEvents>> }>;
  list(f: { status?: string; after?: string; limit: number }): Promise<q.RequestRow[]>;
  exceptions(open: boolean): Promise<q.ExceptionRow[]>;
  /** retry puts the step back to pending; accept closes the exception and lets the step stand as waived. */
  resolveException(id: number, by: string, action: 'retry' | 'accept', note?: string): Promise<void>;
  placeLegalHold(email: string, reason: string): Promise<void>;
  releaseLegalHold(email: string): Promise<boolean>;
  /** A signed, expiring download link for an access/portability bundle. */
  bundleLink(requestId: string, ttlMs: number): Promise<string>;
  /** Reads a bundle by its signed token. */
  openBundle(token: string): Promise<{ json: unknown; html: string }>;
}

function subjectOf(identities: readonly DsrIdentity[]): { emails: string[]; names: string[]; contactIds: string[] } {
  const pick = (t: DsrIdentity['type']) => [
    ...new Set(identities.filter((i) => i.type === t).map((i) => i.value.trim())),
  ];
  return { emails: pick('email').map(normalizeEmail), names: pick('name'), contactIds: pick('contact_id') };
}

export function createDsrService(deps: DsrServiceDeps, options: DsrServiceOptions): DsrService {
  const { db, clock, log, keys } = deps;
  const sign = (body: unknown) => createHmac('sha256', keys.linkSecrets[0]!).update(JSON.stringify(body)).digest('hex');

  function receiptOf(r: q.RequestRow, joined: boolean): IntakeResult {
    const body = {
      request_id: r.id,
      subject_request_id: r.externalId,
      subject_request_type: r.type,
      jurisdiction: r.jurisdiction,
      received_time: r.receivedAt.toISOString(),
      expected_completion_time: r.dueAt.toISOString(),
      status: r.status,
      joined_open_request: joined,
    };
    return { request: r, joined, receipt: { body, signature: sign(body) } };
  }

  async function mailVerification(r: q.RequestRow, email: string): Promise<void> {
    const token = signLink(keys.linkSecrets[0]!, { kind: 'dsr-verify', id: r.id, exp: r.verifyExpiresAt!.getTime() });
    const url = `${options.publicUrl}/dsr/verify/${token}`;
    await deps.sendMail({
      to: email,
      subject: 'Please confirm your privacy request',
      text: [
        `We received a ${r.type} request for this address. To confirm it was you, open:`,
        url,
        '',
        'If you did not ask for this, ignore this message and nothing will happen.',
      ].join('\n'),
      html:
        `<p>We received a ${r.type} request for this address. To confirm it was you, open `
        + `<a href="${url}">this link</a>.</p><p>If you did not ask for this, ignore this message `
        + 'and nothing will happen.</p>',
    });
  }

  return {
    async submit(intake) {
      const subject = subjectOf(intake.identities);
      if (subject.emails.length === 0)
        throw new SwitchyardError('VALIDATION_FAILED', 'a request needs at least one identity of type email');
      if (intake.externalId !== undefined) {
        const existing = await q.findByExternalId(db, intake.externalId);
        if (existing) return receiptOf(existing, true);
      }
      const now = clock.now();
      const receivedAt = intake.receivedAt && intake.receivedAt < now ? intake.receivedAt : now;
      const deadline = dsrDeadline(intake.type, intake.jurisdiction, receivedAt);
      const needsCheck = intake.type !== 'opt_out_of_sale' && intake.identityVerified !== true;
      const verifyExpiresAt = new Date(Math.min(now.getTime() + options.verifyTtlMs, deadline.dueAt.getTime()));
      const subjectHash = keys.hash(subject.emails[0]!);
      const row: q.RequestRow = {
        id: deps.newId(),
        externalId: intake.externalId ?? null,
        type: intake.type,
        subjectHash,
        jurisdiction: intake.jurisdiction,
        channel: intake.channel,
        status: needsCheck ? 'pending_verification' : 'in_progress',
        receivedAt,
        dueAt: deadline.dueAt,
        extendedDueAt: deadline.extendedDueAt,
        escalateAt: deadline.escalateAt,
        deadlineRule: deadline.rule,
        verifyExpiresAt: needsCheck ? verifyExpiresAt : null,
        verifiedAt: needsCheck ? null : now,
        completedAt: null,
        result: null,
        reason: null,
        callbackUrl: intake.callbackUrl ?? null,
        joinedCount: 0,
      };
      const created = await q.recordNewRequest(db, row, {
        identities: subject,
        systems: deps.systems,
        received: { channel: intake.channel, rule: deadline.rule },
        callbackBody: row.callbackUrl ? statusBody(row) : null,
      });
      const outcome = created
        ? { request: row, joined: false }
        : await db.transaction(async (tx) => {
            const open = await q.joinOpen(tx, subjectHash, intake.type);
            if (open) {
              await q.insertEvents(
                tx,
                [{ requestId: open.id, system: null, event: 'duplicate_joined', detail: { channel: intake.channel } }],
                now,
              );
              return { request: open, joined: true };
            }
            // the external id raced us: the other request is the answer
            const other = intake.externalId ? await q.findByExternalId(tx, intake.externalId) : null;
            if (other) return { request: other, joined: true };
            throw new SwitchyardError('DSR_STATE_CONFLICT', 'request could not be recorded; try again', {
              retryable: true,
            });
          });
      if (!outcome.joined && row.status === 'pending_verification') await mailVerification(row, subject.emails[0]!);
      log.info({ dsr: outcome.request.id, type: intake.type, joined: outcome.joined }, 'dsr received');
      return receiptOf(outcome.request, outcome.joined);
    },
    async verifyIdentity(token) {
      const check = verifyLink(keys.linkSecrets, token, 'dsr-verify', clock.now());
      if (!check.ok) throw new SwitchyardError('LINK_INVALID', `identity link ${check.reason.replace('_', ' ')}`);
      const now = clock.now();
      const r = await db.transaction(async (tx) => {
        const updated = await q.setRequestStatus(tx, check.id, ['pending_verification'], {
          status: 'in_progress',
          verifiedAt: now,
        });
        if (updated) {
          await q.insertEvents(
            tx,
            [{ requestId: updated.id, system: null, event: 'identity_verified', detail: {} }],
            now,
          );
          if (updated.callbackUrl)
            await q.enqueueCallback(tx, updated.id, updated.callbackUrl, statusBody(updated), now);
        }
        return updated;
      });
      if (r) return r;
      const current = await q.getRequest(db, check.id);
      if (current === null) throw new SwitchyardError('NOT_FOUND', 'no such request');
      if (current.status === 'expired') throw new SwitchyardError('DSR_STATE_CONFLICT', 'this request has expired');
      return current;
    },
    async get(id) {
      const request = await q.getRequest(db, id);
      if (request === null) throw new SwitchyardError('NOT_FOUND', 'no such request');
      return { request, steps: await q.listSteps(db, id), events: await q.listEvents(db, id) };
    },
    list: (f) => q.listRequests(db, f),
    exceptions: (open) => q.listExceptions(db, open),
    async resolveException(id, by, action, note) {
      const now = clock.now();
      const done = await db.transaction(async (tx) => {
        const e = await q.resolveException(tx, id, by, note ?? null, now);
        if (e === null) return null;
        if (e.system !== '') {
          if (action === 'retry') await q.retryStep(tx, e.requestId, e.system, now);
          else
            await tx.query(
              `update dsr_steps set status = 'waived', updated_at = $3 where request_id = $1 and system = $2
               and status in ('failed', 'held')`,
              [e.requestId, e.system, now],
            );
        }
        await q.insertEvents(
          tx,
          [
            {
              requestId: e.requestId,
              system: e.system || null,
              event: `exception_${action}`,
              detail: { by, kind: e.kind },
            },
          ],
          now,
        );
        return e;
      });
      if (done === null) throw new SwitchyardError('DSR_STATE_CONFLICT', 'no open exception has that id');
    },
    async placeLegalHold(email, reason) {
      await q.placeLegalHold(db, keys.hash(email), reason, clock.now());
    },
    releaseLegalHold: (email) => q.releaseLegalHold(db, keys.hash(email)),
    async bundleLink(requestId, ttlMs) {
      const b = await q.findBundle(db, requestId);
      if (b === null) throw new SwitchyardError('NOT_FOUND', 'no bundle for this request (yet)');
      const exp = Math.min(clock.now().getTime() + ttlMs, b.expiresAt.getTime());
      const token = signLink(keys.linkSecrets[0]!, { kind: 'dsr-bundle', id: requestId, exp });
      return `${options.publicUrl}/dsr/bundle/${token}`;
    },
    async openBundle(token) {
      const check = verifyLink(keys.linkSecrets, token, 'dsr-bundle', clock.now());
      if (!check.ok) throw new SwitchyardError('LINK_INVALID', `download link ${check.reason.replace('_', ' ')}`);
      const b = await q.findBundle(db, check.id);
      if (b === null || b.expiresAt <= clock.now()) throw new SwitchyardError('NOT_FOUND', 'bundle expired or removed');
      return { json: b.json, html: b.html };
    },
  };
}

/** What a status callback carries: the request's state, never the subject. */
export function statusBody(r: q.RequestRow): Record<string, unknown> {
  return {
    request_id: r.id,
    subject_request_id: r.externalId,
    subject_request_type: r.type,
    request_status: r.status,
    result: r.result,
    reason: r.reason,
    expected_completion_time: r.dueAt.toISOString(),
    completed_time: r.completedAt?.toISOString() ?? null,
  };
}
