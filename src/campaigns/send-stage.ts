/**
 * The send stage: last-moment suppression check, render, ledger claim, ESP hand-off, outcome.
 * Ledger discipline (the idempotency record): a recipient is sent only under a claim this chunk
 * made (row → `rendered`); it becomes `sending` at the provider's commit point (SMTP: before the
 * final dot, group-committed; a provider that commits on the request itself is claimed straight
 * as `sending`, one write instead of two) and `sent` when the provider answered. A crash before the commit
 * point leaves `rendered` — the provider never accepted it, so the redelivered chunk claims it
 * again; a crash after it leaves `sending`, which the redelivered chunk marks `unknown` (in doubt:
 * reported, never resent, because a resend could be a duplicate). A chunk is acknowledged only
 * once each of its recipients is final: one still held by another claim makes it retry.
 *
 * Deliverability (when deps.governor is set): after render, the chunk's messages are admitted
 * per receiving domain a slice at a time (admitSlice), and each slice is claimed and handed off
 * once admitted, so a slow receiver gets a paced stream; a DELIVERABILITY_PAUSED answer defers
 * the chunk (before the first slice: unattempted, holding no claims). After each hand-off every
 * result is reported back (accepted with latency, deferred, failed) so AIMD and the breakers see it.
 */
import type { Logger } from 'pino';
import type { Deferral } from '../bus/consumer.ts';
import type { Bus, Delivery } from '../bus/port.ts';
import type { StageDefinition } from '../bus/stage.ts';
import type { Clock } from '../clock/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import type { BatchResult, Esp, OutboundMessage } from '../connectors/esp/port.ts';
import type { Governor } from '../deliverability/governor.ts';
import { admitSlice, reportResults } from '../deliverability/send-admission.ts';
import { findSuppressed, normalizeEmail } from '../compliance/suppression.ts';
import type { Db } from '../store/port.ts';
import { finishIfDone } from './completion.ts';
import * as q from './queries.ts';
import * as ledger from './send-ledger.ts';
import { renderMessage } from './render/render-message.ts';
import type { TemplateCache, RenderSettings } from './template-cache.ts';
import { renderCampaignOf } from './template-cache.ts';
import { TOPICS, type ChunkPayload } from '../bus/topics.ts';
import { carriedSubjects, fingerprintsOf, type PiiSealer, sealed } from './pii.ts';
import { PRIORITIES } from './types.ts';
import type { TopicSubscriptions } from '../compliance/consent/ledger.ts';

export interface SendDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
  esp: Esp;
  templates: TemplateCache;
  render: RenderSettings;
  maxAttempts: number;
  /** Lease of a chunk; a `rendered` claim older than this belongs to a worker that died. */
  leaseMs: number;
  /** Deliverability governor: admits sends per receiving domain and learns from outcomes. */
  governor?: Governor;
  /** PII at rest: ledger addresses sealed per subject, erased people found by fingerprint (src/privacy/). */
  pii?: PiiSealer;
  /** The preference centre's per-topic state: withdrawn from the campaign's topic stops the send. */
  topics?: TopicSubscriptions;
}

const RECHECK_MS = 5_000;

export async function handleSend(
  deps: SendDeps,
  m: Delivery<ChunkPayload>,
  context?: { signal: AbortSignal },
): Promise<void | Deferral> {
  const { db, clock } = deps;
  const { campaignId, seq, part = 0, recipients, variant } = m.payload;
  const c = await q.getCampaign(db, campaignId);
  if (c === null) throw new SwitchyardError('NOT_FOUND', `campaign ${campaignId} not found`);
  if (c.status === 'paused' || c.status === 'draft')
    return { kind: 'defer', delayMs: RECHECK_MS, reason: `campaign ${c.status}` };
  if (c.status !== 'running') {
    if (c.status === 'cancelled') {
      await ledger.recordExclusions(
        db,
        campaignId,
        seq,
        await sealed(
          deps.pii,
          recipients.map((r) => ({
            contactId: r.id,
            email: r.email,
            state: 'cancelled',
            reason: 'campaign cancelled',
          })),
          carriedSubjects(recipients),
        ),
        clock.now(),
        { redelivered: m.attempt > 1 },
      );
    }
    return;
  }
  // an earlier delivery of this chunk failed or lost its lease: rows it left `sending` are in doubt
  const redelivered = m.attempt > 1;
  if (redelivered)
    await ledger.markInDoubt(
      db,
      campaignId,
      recipients.map((r) => r.id),
      clock.now(),
    );

  // last moment: an unsubscribe that landed while this chunk waited stops it here
  const fingerprints = deps.pii === undefined ? undefined : fingerprintsOf(deps.pii, recipients);
  const carried = fingerprints?.subjects ?? new Map<string, Buffer>();
  const suppressed = await findSuppressed(
    db,
    recipients.map((r) => r.email),
    fingerprints?.packed,
  );
  // a withdrawal from the campaign's topic (preference centre) that landed while the chunk waited
  const topic = c.definition.topic;
  const withdrawn =
    topic === undefined || deps.topics === undefined
      ? undefined
      : await deps.topics.unsubscribedFrom(
          recipients.map((r) => r.email),
          topic,
        );
  const exclusions: ledger.LedgerExclusion[] = [];
  const compiled = await deps.templates.get(c, variant);
  const campaign = renderCampaignOf(c, deps.render, variant);
  const now = clock.now();
  const messages: OutboundMessage[] = [];
  for (const r of recipients) {
    const reason = suppressed.get(normalizeEmail(r.email));
    if (reason !== undefined && c.definition.passSuppression?.includes(reason) !== true) {
      exclusions.push({
        contactId: r.id,
        email: r.email,
        state: 'suppressed',
        reason: `suppressed_before_send:${reason}`,
      });
      continue;
    }
    if (withdrawn?.has(normalizeEmail(r.email)) === true) {
      exclusions.push({
        contactId: r.id,
        email: r.email,
        state: 'suppressed',
        reason: `topic_unsubscribed_before_send:${topic}`,
      });
      continue;
    }
    try {
      const msg = renderMessage(compiled, {
        contact: { ...r.fields, id: r.id, email: r.email },
        campaign,
        sendAt: now,
      });
      if (c.definition.attachments !== undefined) msg.attachments = c.definition.attachments;
      messages.push(msg);
    } catch (err) {
      exclusions.push({
        contactId: r.id,
        email: r.email,
        state: 'failed',
        reason: `${(err as SwitchyardError).code ?? 'TEMPLATE_RENDER_FAILED'}: ${(err as Error).message}`,
      });
    }
  }
  const excluded = await ledger.recordExclusions(
    db,
    campaignId,
    seq,
    await sealed(deps.pii, exclusions, carried),
    now,
    {
      firstTry: m.attempt === 1,
      redelivered,
    },
  );
  const renderFailures = exclusions.filter((e) => e.state === 'failed');
  if (renderFailures.length > 0) {
    await deps.bus.deadLetters.add({
      stage: 'render',
      payload: { campaignId, seq, part, contactIds: renderFailures.map((f) => f.contactId) },
      code: 'TEMPLATE_RENDER_FAILED',
      message:
        `${renderFailures.length} recipient(s) of campaign ${campaignId} failed to render; first: `
        + `${renderFailures[0]!.reason}`,
    });
  }

  // a provider that commits on the request itself: the claim is the commit (one write, not two)
  const commitsOnRequest = deps.esp.commitPoint !== 'before-final-dot';
  // while every recipient's row is one this delivery wrote, and every write of its claims applied,
  // the chunk needs no check before it is acknowledged (the common case: a first delivery)
  let allOwn = excluded === exclusions.length;
  const claimed = new Map<string, ledger.LedgerClaim>();
  const batcher = createLedgerBatcher(db, campaignId, claimed, clock);
  const toSend: OutboundMessage[] = [];
  const results: BatchResult[] = [];
  // Paced by the governor: each slice is admitted, then claimed, then handed off, so a receiver
  // limited below a chunk per second sees a steady rate, not a chunk's tokens spent at once.
  // Without limits in the way the first slice is the whole chunk. Admission comes before the
  // claim: a deferred slice holds no claims; one deferred after earlier slices went out is handed
  // back like any deferral, and its redelivery finds those recipients' rows final.
  let deferral: Deferral | undefined;
  for (let rest: readonly OutboundMessage[] = messages; rest.length > 0; ) {
    let slice = rest;
    rest = [];
    if (deps.governor !== undefined) {
      const admitted = await admitSlice(deps.governor, deps.esp.name, campaignId, slice, context?.signal);
      if ('kind' in admitted) {
        if (toSend.length === 0) return admitted;
        deferral = admitted;
        break;
      }
      ({ admitted: slice, rest } = admitted);
    }
    const sliceClaims = await ledger.claim(
      db,
      campaignId,
      seq,
      await sealed(
        deps.pii,
        slice.map((msg) => ({
          contactId: msg.correlation.contactId,
          email: msg.to.address,
          messageId: msg.messageId,
        })),
        carried,
      ),
      deps.esp.name,
      now,
      {
        as: commitsOnRequest ? 'sending' : 'rendered',
        firstTry: m.attempt === 1,
        redelivered,
        staleBefore: new Date(now.getTime() - deps.leaseMs),
      },
    );
    allOwn &&= sliceClaims.size === slice.length;
    for (const [contactId, claim] of sliceClaims) claimed.set(contactId, claim);
    const sliceToSend = slice.filter((msg) => sliceClaims.has(msg.correlation.contactId));
    if (sliceToSend.length === 0) continue;
    let sliceResults: BatchResult[];
    if (!commitsOnRequest) {
      sliceResults = await deps.esp.sendBatch(sliceToSend, {
        beforeCommit: (msg) => batcher.commit(msg.correlation.contactId),
        // returned: the message keeps its place in the adapter's commit window until `sent` is written
        afterAccepted: (msg, receipt) => batcher.confirm(msg.correlation.contactId, receipt.providerMessageId),
      });
    } else {
      // claimed as `sending` above: recorded (at most once) before the request, then sent
      sliceResults = await deps.esp.sendBatch(sliceToSend);
      // the whole batch answered at once: one confirmation statement, no per-message waiters
      const accepted: { contactId: string; espMessageId: string }[] = [];
      sliceResults.forEach((res, i) => {
        if (res.ok)
          accepted.push({
            contactId: sliceToSend[i]!.correlation.contactId,
            espMessageId: res.receipt.providerMessageId,
          });
      });
      await batcher.confirmAll(accepted);
    }
    // each result carries the provider's own answer time, when the adapter measured it
    if (deps.governor !== undefined) reportResults(deps.governor, deps.esp.name, campaignId, sliceToSend, sliceResults);
    toSend.push(...sliceToSend);
    results.push(...sliceResults);
  }
  await batcher.settled();
  const lastAttempt = m.attempt >= deps.maxAttempts;
  let retryAfterMs = 0;
  const failures: Parameters<typeof ledger.recordFailures>[2][number][] = [];
  results.forEach((res, i) => {
    if (res.ok) return;
    const contactId = toSend[i]!.correlation.contactId;
    const error = `${res.error.code}: ${res.error.message}`;
    const retry = res.error.retryable && !lastAttempt;
    if (retry) retryAfterMs = Math.max(retryAfterMs, res.error.retryAfterMs ?? 0);
    failures.push({ contactId, ...batcher.claimOf(contactId), state: retry ? 'retry' : 'failed', error });
  });
  const failed = await ledger.recordFailures(db, campaignId, failures, clock.now());
  const retrying = failures.filter((f) => f.state === 'retry');
  if (retrying.length > 0) {
    throw new SwitchyardError(
      'ESP_UNAVAILABLE',
      `${retrying.length} of ${toSend.length} message(s) of chunk ${seq} part ${part} must be retried: `
        + `${retrying[0]!.error}`,
      { retryable: true, retryAfterMs: retryAfterMs || undefined },
    );
  }
  batcher.throwIfUnconfirmed();
  // paused after some slices went out: the rest comes back with the chunk
  if (deferral !== undefined) return deferral;
  allOwn &&= batcher.allApplied() && failed === failures.length;
  // Acknowledged, nothing would come back to a recipient still held by another claim (an
  // earlier attempt's row that moved on meanwhile, or another chunk's): retry until it is final.
  if (!allOwn) {
    const held = await ledger.findUnsettled(
      db,
      campaignId,
      recipients.map((r) => r.id),
    );
    if (held.length > 0) {
      throw new SwitchyardError(
        'SEND_CLAIMS_UNSETTLED',
        `${held.length} recipient(s) of chunk ${seq} part ${part} are held by another claim, first ${held[0]}`,
        { retryable: true },
      );
    }
  }
  await q.markPartDone(db, campaignId, seq, part);
  await finishIfDone(deps, campaignId, clock.now());
}

/**
 * Group commits for the ledger during a hand-off: `commit` (rendered → sending, at the commit
 * point) and `confirm` (sending → sent, as each acceptance arrives) join the next statement; one
 * is in flight at a time and carries both kinds, so concurrent SMTP transactions share round trips
 * and at most the messages in flight are ever in doubt.
 */
function createLedgerBatcher(db: Db, campaignId: string, claims: Map<string, ledger.LedgerClaim>, clock: Clock) {
  type Step = { contactId: string } & ({ to: 'sending' } | { to: 'sent'; espMessageId: string });
  type Waiter = { step: Step; resolve: () => void; reject: (e: Error) => void };
  const inFlight = new Set<Promise<void>>();
  let failure: Error | undefined;
  let pending: Waiter[] = [];
  let running = false;
  // a commit or confirmation that did not apply: the row moved on under someone else
  let refused = 0;
  const claimOf = (contactId: string): ledger.LedgerClaim => claims.get(contactId)!;
  // what arrives while a statement is in flight joins the next one, so a slow round trip makes
  // the next batch larger instead of adding statements
  const flush = async (): Promise<void> => {
    running = true;
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        const updated = await ledger.commitOrConfirm(
          db,
          campaignId,
          batch.map((w) => ({ ...w.step, ...claimOf(w.step.contactId) })),
          clock.now(),
        );
        // the row moved to a new version: later updates of this claim look there
        for (const [contactId, row] of updated) claims.set(contactId, { ...claimOf(contactId), row });
        for (const { step, resolve, reject } of batch) {
          // a confirmation of a row taken over meanwhile is no error (the row says what happened);
          // a commit of one is: that message must not be sent
          if (!updated.has(step.contactId)) refused++;
          if (step.to === 'sent' || updated.has(step.contactId)) resolve();
          else reject(new Error(`ledger claim of ${step.contactId} was taken over`));
        }
      } catch (err) {
        for (const w of batch) w.reject(err as Error);
      }
    }
    running = false;
  };
  const enqueue = (step: Step): Promise<void> => {
    const p = new Promise<void>((resolve, reject) => {
      if (pending.length === 0 && !running) setImmediate(() => void flush());
      pending.push({ step, resolve, reject });
    });
    // a failed commit withholds its message, which then fails like any refused hand-off; a failed
    // confirmation leaves an accepted message `sending`, so the chunk must not be acknowledged
    const tracked = p.then(
      () => undefined,
      (err: Error) => {
        if (step.to === 'sent') failure ??= err;
      },
    );
    inFlight.add(tracked);
    void tracked.then(() => inFlight.delete(tracked));
    return p;
  };
  return {
    claimOf,
    commit: (contactId: string) => enqueue({ contactId, to: 'sending' }),
    confirm: (contactId: string, espMessageId: string) => enqueue({ contactId, to: 'sent', espMessageId }),
    /** Confirms many acceptances in one statement (a provider that answers a batch at once). */
    async confirmAll(accepted: readonly { contactId: string; espMessageId: string }[]): Promise<void> {
      try {
        const confirmed = await ledger.confirm(
          db,
          campaignId,
          accepted.map(({ contactId, espMessageId }) => {
            const { attempt, row } = claimOf(contactId);
            return { contactId, espMessageId, attempt, row };
          }),
          clock.now(),
        );
        refused += accepted.length - confirmed;
      } catch (err) {
        failure ??= err as Error;
      }
    },
    /** Whether every commit and confirmation issued so far changed its row. */
    allApplied: () => refused === 0,
    /** Waits for every commit and confirm issued so far. */
    async settled(): Promise<void> {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    /** Throws if the write of an acceptance failed. */
    throwIfUnconfirmed(): void {
      if (failure !== undefined)
        throw new SwitchyardError('STORE_UNREACHABLE', `ledger write during send failed: ${failure.message}`, {
          retryable: true,
          cause: failure,
        });
    },
  };
}

export function sendStage(deps: SendDeps): StageDefinition {
  // one consumer per priority; transactional gets the most handlers so it overtakes bulk
  const concurrency = { transactional: 8, triggered: 6, bulk: 2 } as const;
  return {
    name: 'send',
    consumers: PRIORITIES.map((p) => ({
      options: {
        topic: TOPICS.ready(p),
        group: 'send',
        batchSize: concurrency[p],
        concurrency: concurrency[p],
        maxAttempts: deps.maxAttempts,
        leaseMs: deps.leaseMs,
      },
      handler: (m: Delivery<ChunkPayload>, context: { signal: AbortSignal }) => handleSend(deps, m, context),
    })),
  };
}
