/**
 * The DSR fan-out runner: a loop on the injected clock that claims due steps set-wise, calls each
 * system (bounded concurrency), settles the outcomes in one statement, and moves requests along:
 * unverified requests expire with the reason, requests past 80 % of their time and steps that
 * failed past their retries or met a legal hold go to the exceptions queue, finished requests
 * complete (erasure: the subject's identities are deleted; access: the bundle is assembled), and
 * signed status callbacks are delivered with backoff. A crash leaves claimed steps `running`
 * under a lease; the next claim after the lease takes them over, and confirmed steps are never
 * claimed again, so a restart resumes without repeating confirmed work.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../clock/port.ts';
import type { DsrType } from '../../core/dsr/deadlines.ts';
import { isSwitchyardError, toError } from '../../core/errors.ts';
import type { Db } from '../../store/port.ts';
import { renderBundleHtml } from './bundle.ts';
import type { DsrSubject, DsrSystem, StepOutcome } from './port.ts';
import * as q from './queries.ts';
import { statusBody } from './service.ts';

export type PostJson = (url: string, body: string, headers: Record<string, string>) => Promise<number>;

export interface DsrRunnerDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  systems: readonly DsrSystem[];
  postJson: PostJson;
  callbackSecret: string;
}

export interface DsrRunnerOptions {
  /** Steps claimed per tick. */
  batchSize: number;
  /** System calls in flight at once. */
  concurrency: number;
  maxAttempts: number;
  /** First retry delay; doubles per attempt up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** A claimed step not settled within this is taken over (its worker died). */
  leaseMs: number;
  pollMs: number;
  bundleTtlMs: number;
  /** Step loops of `run`, each claiming batchSize/lanes steps with concurrency/lanes calls in flight. */
  lanes: number;
}

export const DEFAULT_RUNNER_OPTIONS: DsrRunnerOptions = {
  batchSize: 500,
  concurrency: 64,
  maxAttempts: 6,
  backoffMs: 2_000,
  maxBackoffMs: 15 * 60_000,
  leaseMs: 5 * 60_000,
  pollMs: 1_000,
  bundleTtlMs: 7 * 86_400_000,
  lanes: 4,
};

interface Settled {
  requestId: string;
  system: string;
  attempts: number;
  status: string;
  nextAttemptAt: Date | null;
  evidence: unknown;
  lastError: string | null;
}

const STATUS_OF: Record<StepOutcome['kind'], string> = {
  confirmed: 'confirmed',
  nothing_found: 'nothing_found',
  not_applicable: 'not_applicable',
  restricted: 'restricted',
  exported: 'exported',
};

export interface DsrRunner {
  /** One pass: expiries, escalations, due steps, completions, callbacks. Returns how many steps ran. */
  runOnce(): Promise<number>;
  /** Runs until aborted: `lanes` step loops and one upkeep loop (expiries, escalations, completions,
   *  callbacks), each sleeping pollMs on the clock when its pass found nothing to do. */
  run(signal: AbortSignal): Promise<void>;
}

export function createDsrRunner(deps: DsrRunnerDeps, options: DsrRunnerOptions = DEFAULT_RUNNER_OPTIONS): DsrRunner {
  const { db, clock, log } = deps;
  const systems = new Map(deps.systems.map((s) => [s.name, s]));

  async function callSystem(
    step: q.StepRow & { type: string },
    subject: DsrSubject | null,
    hold: string | undefined,
  ): Promise<{ settled: Settled; exception?: { kind: string; reason: string } }> {
    const base = { requestId: step.requestId, system: step.system, attempts: step.attempts };
    if (hold !== undefined && step.type === 'erasure')
      return {
        settled: { ...base, status: 'held', nextAttemptAt: null, evidence: null, lastError: `legal hold: ${hold}` },
        exception: { kind: 'legal_hold', reason: `legal hold: ${hold}` },
      };
    const system = systems.get(step.system);
    if (system === undefined || subject === null) {
      const why = system === undefined ? `no system named ${step.system} is configured` : 'subject identities missing';
      return {
        settled: { ...base, status: 'failed', nextAttemptAt: null, evidence: null, lastError: why },
        exception: { kind: 'step_failed', reason: why },
      };
    }
    try {
      const outcome = await system.handle(step.type as DsrType, subject, step.requestId);
      const evidence =
        outcome.kind === 'not_applicable'
          ? { reason: outcome.reason }
          : outcome.kind === 'restricted'
            ? { ...outcome.evidence, reason: outcome.reason }
            : outcome.kind === 'exported'
              ? { ...outcome.evidence, data: outcome.data }
              : outcome.evidence;
      return { settled: { ...base, status: STATUS_OF[outcome.kind], nextAttemptAt: null, evidence, lastError: null } };
    } catch (thrown) {
      const err = toError(thrown);
      const code = isSwitchyardError(err) ? err.code : 'UNEXPECTED';
      const retryable = isSwitchyardError(err) ? err.retryable : true;
      // the message names the system's answer, never the subject: adapters keep addresses out of errors
      const what = `${code}: ${err.message}`.slice(0, 500);
      if (retryable && step.attempts < options.maxAttempts) {
        const backoff = Math.min(options.maxBackoffMs, options.backoffMs * 2 ** (step.attempts - 1));
        const wait = Math.max(backoff, isSwitchyardError(err) ? (err.retryAfterMs ?? 0) : 0);
        return {
          settled: {
            ...base,
            status: 'retry',
            nextAttemptAt: new Date(clock.now().getTime() + wait),
            evidence: null,
            lastError: what,
          },
        };
      }
      const reason = retryable ? `failed after ${step.attempts} attempts: ${what}` : `failed permanently: ${what}`;
      return {
        settled: { ...base, status: 'failed', nextAttemptAt: null, evidence: null, lastError: what },
        exception: { kind: 'step_failed', reason },
      };
    }
  }

  async function runSteps(limit: number, concurrency: number): Promise<number> {
    const now = clock.now();
    const claimed = await q.claimSteps(db, now, new Date(now.getTime() + options.leaseMs), limit);
    if (claimed.length === 0) return 0;
    const ids = [...new Set(claimed.map((s) => s.requestId))];
    const [subjects, holds, requests] = await Promise.all([
      q.findSubjects(db, ids),
      q.findHolds(db, ids),
      db.query<{ id: string; subject_hash: string }>(
        'select id, subject_hash from dsr_requests where id = any($1::text[])',
        [ids],
      ),
    ]);
    const hashOf = new Map(requests.rows.map((r) => [r.id, r.subject_hash]));
    const results: Awaited<ReturnType<typeof callSystem>>[] = [];
    let next = 0;
    const worker = async () => {
      while (next < claimed.length) {
        const step = claimed[next++]!;
        const ids = subjects.get(step.requestId) as Omit<DsrSubject, 'subjectHash'> | undefined;
        const subject = ids ? { ...ids, subjectHash: hashOf.get(step.requestId)! } : null;
        results.push(await callSystem(step, subject, holds.get(step.requestId)));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, claimed.length) }, worker));
    const at = clock.now();
    await q.settleSteps(
      db,
      results.map((r) => r.settled),
      at,
    );
    await q.insertEvents(
      db,
      results.map((r) => ({
        requestId: r.settled.requestId,
        system: r.settled.system,
        event: `step_${r.settled.status}`,
        detail: { attempt: r.settled.attempts, ...(r.settled.lastError ? { error: r.settled.lastError } : {}) },
      })),
      at,
    );
    for (const r of results)
      if (r.exception) {
        await q.openException(db, { requestId: r.settled.requestId, system: r.settled.system, ...r.exception }, at);
        log.warn(
          { dsr: r.settled.requestId, system: r.settled.system, kind: r.exception.kind },
          'dsr exception opened',
        );
      }
    return claimed.length;
  }

  async function completeFinished(): Promise<number> {
    const now = clock.now();
    // every type but access/portability: the whole finished set in one transaction (a statement
    // each for the requests, their events and, for erasure, the identities), not ~6 per request
    const done = await db.transaction(async (tx) => {
      const rows = await q.completeFinishedRequests(tx, now, options.batchSize);
      if (rows.length === 0) return rows;
      await q.insertEvents(
        tx,
        rows.map((r) => ({ requestId: r.id, system: null, event: 'completed', detail: { result: r.result } })),
        now,
      );
      // erasure: the identities were the last plain copy of the subject these requests held
      await q.deleteSubjects(
        tx,
        rows.filter((r) => r.type === 'erasure').map((r) => r.id),
      );
      for (const r of rows) if (r.callbackUrl) await q.enqueueCallback(tx, r.id, r.callbackUrl, statusBody(r), now);
      return rows;
    });
    for (const r of done) log.info({ dsr: r.id, result: r.result }, 'dsr completed');
    const ids = await q.findFinishedBundleRequests(db, options.batchSize);
    for (const id of ids) {
      const steps = await q.listSteps(db, id);
      const now = clock.now();
      // nothing found = no system held anything; a confirmation marked `held: false` (a suppression) does not count
      const found = steps.some(
        (s) =>
          (s.status === 'confirmed' || s.status === 'restricted' || s.status === 'exported')
          && (s.evidence as { held?: unknown } | null)?.held !== false,
      );
      const result = found ? 'completed' : 'nothing_found';
      const request = await q.getRequest(db, id);
      if (request === null) continue;
      if (request.type === 'access' || request.type === 'portability') {
        const parts = steps.map((s) => ({
          system: s.system,
          status: s.status,
          data: (s.evidence as { data?: unknown } | null)?.data ?? null,
        }));
        const json = {
          request: { id, type: request.type, receivedAt: request.receivedAt.toISOString() },
          systems: parts,
        };
        await q.saveBundle(db, {
          requestId: id,
          json,
          html: renderBundleHtml(json),
          createdAt: now,
          expiresAt: new Date(now.getTime() + options.bundleTtlMs),
        });
        // the bundle holds the data now; the step rows keep only their evidence of what was found
        await db.query(`update dsr_steps set evidence = evidence - 'data' where request_id = $1`, [id]);
      }
      const finished = await db.transaction(async (tx) => {
        const r = await q.setRequestStatus(tx, id, ['in_progress'], { status: 'completed', result, completedAt: now });
        if (r === null) return null;
        await q.insertEvents(tx, [{ requestId: id, system: null, event: 'completed', detail: { result } }], now);
        // erasure: the identities were the last plain copy of the subject this request held
        if (r.type === 'erasure') await q.deleteSubject(tx, id);
        if (r.callbackUrl) await q.enqueueCallback(tx, id, r.callbackUrl, statusBody(r), now);
        return r;
      });
      if (finished) log.info({ dsr: id, result }, 'dsr completed');
    }
    return done.length + ids.length;
  }

  async function housekeeping(): Promise<number> {
    const now = clock.now();
    const expired = await q.expireUnverified(db, now, 'identity not verified: the emailed link was not used in time');
    for (const r of expired) {
      await q.insertEvents(
        db,
        [{ requestId: r.id, system: null, event: 'expired', detail: { reason: r.reason } }],
        now,
      );
      if (r.callbackUrl) await q.enqueueCallback(db, r.id, r.callbackUrl, statusBody(r), now);
      await q.deleteSubject(db, r.id);
    }
    const late = await q.findEscalations(db, now, options.batchSize);
    for (const r of late)
      await q.openException(
        db,
        {
          requestId: r.id,
          system: '',
          kind: 'deadline_near',
          reason: `80 % of the time used; due ${r.dueAt.toISOString()}`,
        },
        now,
      );
    await q.deleteExpiredBundles(db, now);
    return expired.length + late.length;
  }

  async function deliverCallbacks(): Promise<number> {
    const now = clock.now();
    const due = await q.dueCallbacks(db, now, 100);
    for (const c of due) {
      const body = JSON.stringify(c.body);
      const t = String(Math.floor(now.getTime() / 1000));
      const sig = createHmac('sha256', deps.callbackSecret).update(`${t}.${body}`).digest('hex');
      let status = 0;
      let error: string | null = null;
      try {
        status = await deps.postJson(c.url, body, {
          'content-type': 'application/json',
          'x-switchyard-signature': `t=${t},v1=${sig}`,
        });
      } catch (err) {
        error = toError(err).message.slice(0, 200);
      }
      const ok = status >= 200 && status < 300;
      const wait = Math.min(options.maxBackoffMs, options.backoffMs * 2 ** c.attempts);
      await q.settleCallback(db, c.id, {
        delivered: ok ? now : null,
        nextAttemptAt: new Date(now.getTime() + wait),
        error: ok ? null : (error ?? `HTTP ${status}`),
      });
    }
    return due.length;
  }

  const runOnce = async (): Promise<number> => {
    await housekeeping();
    const ran = await runSteps(options.batchSize, options.concurrency);
    await completeFinished();
    await deliverCallbacks();
    return ran;
  };

  /** Repeats `pass` until aborted; sleeps pollMs on the clock when a pass found nothing to do. */
  async function loop(signal: AbortSignal, what: string, pass: () => Promise<number>): Promise<void> {
    while (!signal.aborted) {
      try {
        if ((await pass()) > 0) continue;
      } catch (err) {
        log.warn({ err, loop: what }, 'dsr runner pass failed');
      }
      await clock.sleep(options.pollMs, signal).catch(() => undefined);
    }
  }

  return {
    runOnce,
    run(signal) {
      // Step lanes claim disjoint steps (skip locked) and each waits only for its own batch, so a
      // slow call holds back one lane's batch, not the fan-out; completion, escalation and
      // callbacks run beside them instead of between batches.
      const lanes = Math.max(1, options.lanes);
      const limit = Math.max(1, Math.ceil(options.batchSize / lanes));
      const concurrency = Math.max(1, Math.ceil(options.concurrency / lanes));
      return Promise.all([
        ...Array.from({ length: lanes }, (_, i) => loop(signal, `steps-${i}`, () => runSteps(limit, concurrency))),
        loop(signal, 'upkeep', async () => {
          await housekeeping();
          const completed = await completeFinished();
          return completed + (await deliverCallbacks());
        }),
      ]).then(() => undefined);
    },
  };
}
