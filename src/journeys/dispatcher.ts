/**
 * The journey dispatcher: runs are durable timers (`journey_runs.due_at`), taken set-wise in due
 * order under a lease, advanced in memory (src/core/journeys/advance.ts), their effects performed
 * and their new state written in one transaction per pass. Never one timeout per contact.
 *
 * Exactly-once sends: an email step's recipients are queued as chunks of the step's message
 * stream (src/campaigns/streams.ts) through the outbox, in the transaction that moves the runs on
 * and records (run, step) in the history, so a chunk exists exactly when the run has passed the
 * step. The stream is per (journey, version, step, entry), so even a run replayed by a second
 * dispatcher (its lease expired) meets the send ledger's (stream, contact) key and sends nothing
 * twice. The run update is fenced by the lease: a dispatcher that lost its lease writes nothing.
 * CRM field updates are outbox messages of that same transaction too (crm-updates.ts makes the
 * calls, with retries). List and webhook effects happen before the commit and repeat if it fails:
 * each is idempotent (effects.ts).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Bus } from '../bus/port.ts';
import { addToOutbox, type Outboxed, publishOutboxed } from '../bus/outbox.ts';
import type { OutgoingMessage } from '../bus/port.ts';
import { type JourneyCrmUpdatePayload, TOPICS } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import {
  complyStreamChunk,
  contactsOverCap,
  nextStreamSeq,
  openStream,
  splitStreamByVariant,
  type StreamDefinition,
  streamChunk,
} from '../campaigns/streams.ts';

/** One stream's eligible recipients of a pass, and the stream's variants when the step has them. */
interface EmailGroup {
  priority: 'triggered';
  recipients: MappedContact[];
  abTest?: StreamDefinition['abTest'];
}
import { CHUNK_SIZE } from '../campaigns/types.ts';
import type { BlastDeps } from '../campaigns/stages.ts';
import {
  advanceRun,
  type AdvanceResult,
  type CompiledJourney,
  compileJourney,
  goalReached,
} from '../core/journeys/advance.ts';
import type { JourneyStep } from '../core/journeys/types.ts';
import { isSwitchyardError, SwitchyardError } from '../core/errors.ts';
import type { MappedContact } from '../connectors/warehouse/port.ts';
import type { Db } from '../store/port.ts';
import type { JourneyContact, JourneyContacts } from './contacts.ts';
import { callWebhook, changeList, type EffectDeps } from './effects.ts';
import * as q from './queries.ts';

export interface DispatcherDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
  contacts: JourneyContacts;
  effects: EffectDeps;
  /** Names this dispatcher's leases (one per process). */
  owner: string;
  /** What the blast's comply step uses besides the store: sealing, geographic overrides, topics. */
  eligibility?: Pick<BlastDeps, 'pii' | 'geoOverrides' | 'topics'>;
}

export interface DispatcherOptions {
  batchSize: number;
  leaseMs: number;
  /** When a run whose effect failed is tried again. */
  retryDelayMs?: number;
  /** How long the loop sleeps (clock time) when nothing was due. */
  idleMs?: number;
}

export interface JourneyDispatcher {
  /** Advances the runs due now (one claimed set); returns how many runs it took. */
  runOnce(): Promise<number>;
  /** Runs passes until `signal` aborts, sleeping on the clock when nothing is due. */
  run(signal: AbortSignal): Promise<void>;
  /** The compiled definition of a journey version (cached; versions never change). */
  version(journeyId: string, version: number): Promise<CompiledJourney | null>;
}

/** The outbox message id of one run's CRM step: the same (run, step) is the same message. */
export function crmUpdateId(runId: string, stepId: string): string {
  return `crm:${runId}:${stepId}`;
}

/** The message stream of one email step for one entry number (the ledger's campaign id). */
export function streamIdOf(journeyId: string, version: number, stepId: string, entry: number): string {
  const h = createHash('sha256').update(`${journeyId}\u0000${version}\u0000${stepId}\u0000${entry}`).digest('hex');
  return `jrn_${h.slice(0, 24)}`;
}

interface Plan {
  run: q.ClaimedRun;
  journey: CompiledJourney | null;
  contact: JourneyContact;
  result: AdvanceResult;
  /** Replaces the outcome of a visit (email capped, no address…), by step id. */
  outcomes: Map<string, string>;
  streams: Map<string, string>;
}

export function createJourneyDispatcher(deps: DispatcherDeps, options: DispatcherOptions): JourneyDispatcher {
  const { db, clock, log } = deps;
  const compiled = new Map<string, Promise<CompiledJourney | null>>();
  const version = (journeyId: string, v: number): Promise<CompiledJourney | null> => {
    const key = `${journeyId}@${v}`;
    let hit = compiled.get(key);
    if (hit === undefined) {
      hit = q.getVersion(db, journeyId, v).then((d) => (d === null ? null : compileJourney(d)));
      hit.catch(() => compiled.delete(key));
      compiled.set(key, hit);
    }
    return hit;
  };

  async function plan(claimed: q.ClaimedRun[], now: Date): Promise<Plan[]> {
    const contacts = await deps.contacts.load(new Map(claimed.map((r) => [r.contactId, r.contact])));
    const journeys = await Promise.all(claimed.map((r) => version(r.journeyId, r.version)));
    const needsEngagement = claimed.filter((_, i) =>
      journeys[i]?.definition.steps.some((s) => s.type === 'branchEngagement'),
    );
    const engaged = new Set(
      (
        await q.engagementOf(
          db,
          needsEngagement.map((r) => r.id),
        )
      ).map((e) => `${e.runId}\u0000${e.stepId}\u0000${e.type}`),
    );
    return claimed.map((run, i) => {
      const journey = journeys[i] ?? null;
      const contact = contacts.get(run.contactId)!;
      const base = { run, journey, contact, outcomes: new Map<string, string>(), streams: new Map<string, string>() };
      if (journey === null) return { ...base, result: ended('exited', `version ${run.version} not found`) };
      const goal = goalReached(journey, contact.profile, now);
      if (goal !== null) return { ...base, result: ended('goal', `goal ${goal}`) };
      const result = advanceRun(journey, run.stepId, {
        now,
        profile: contact.profile,
        timezone: contact.timezone ?? journey.definition.timezone ?? 'UTC',
        engaged: (stepId, on) => engaged.has(`${run.id}\u0000${stepId}\u0000${on}`),
      });
      return { ...base, result };
    });
  }

  /** CRM, list and webhook effects; returns the runs whose effect failed (they are retried later). */
  async function performEffects(plans: Plan[], now: Date): Promise<Set<string>> {
    const failed = new Set<string>();
    const fail = (runIds: readonly string[], err: unknown, what: string) => {
      for (const id of runIds) failed.add(id);
      log.warn({ err: isSwitchyardError(err) ? err.code : String(err), runs: runIds.length }, what);
    };
    // lists: one call per (journey, list, direction)
    const listCalls = new Map<
      string,
      { kind: 'addToList' | 'removeFromList'; list: string; journeyId: string; runs: Plan[] }
    >();
    const webhooks: { p: Plan; stepId: string; url: string }[] = [];
    for (const p of plans) {
      for (const e of p.result.effects) {
        if (e.kind === 'addToList' || e.kind === 'removeFromList') {
          const key = `${p.run.journeyId}\u0000${e.kind}\u0000${e.list}`;
          const call = listCalls.get(key) ?? { kind: e.kind, list: e.list, journeyId: p.run.journeyId, runs: [] };
          call.runs.push(p);
          listCalls.set(key, call);
        } else if (e.kind === 'webhook') webhooks.push({ p, stepId: e.stepId, url: e.url });
      }
    }
    for (const call of listCalls.values()) {
      try {
        await changeList(
          deps.effects,
          call.kind,
          call.list,
          call.runs.map((p) => p.run.contactId),
          call.journeyId,
        );
      } catch (err) {
        fail(
          call.runs.map((p) => p.run.id),
          err,
          'journey list step failed; runs retried later',
        );
      }
    }
    // webhooks: a few at a time, each its own request
    for (let i = 0; i < webhooks.length; i += 8) {
      await Promise.all(
        webhooks.slice(i, i + 8).map(async ({ p, stepId, url }) => {
          try {
            await callWebhook(
              deps.effects,
              {
                runId: p.run.id,
                stepId,
                url,
                body: {
                  journey: p.run.journeyId,
                  version: p.run.version,
                  run: p.run.id,
                  step: stepId,
                  contactId: p.run.contactId,
                  at: now.toISOString(),
                },
              },
              now,
            );
          } catch (err) {
            fail([p.run.id], err, 'journey webhook failed; run retried later');
          }
        }),
      );
    }
    return failed;
  }

  /** Email effects → eligible recipients per stream (frequency cap, consent and suppression applied). */
  async function prepareEmails(plans: Plan[], now: Date): Promise<Map<string, EmailGroup>> {
    const byStream = new Map<
      string,
      { journey: CompiledJourney; step: JourneyStep & { type: 'email' }; plans: Plan[] }
    >();
    for (const p of plans) {
      for (const e of p.result.effects) {
        if (e.kind !== 'email') continue;
        const journey = p.journey!;
        const step = journey.steps.get(e.stepId) as JourneyStep & { type: 'email' };
        const streamId = streamIdOf(p.run.journeyId, p.run.version, e.stepId, p.run.entry);
        p.streams.set(e.stepId, streamId);
        if (p.contact.email === null) {
          p.outcomes.set(e.stepId, 'not sent: no email address known');
          continue;
        }
        const group = byStream.get(streamId) ?? { journey, step, plans: [] };
        group.plans.push(p);
        byStream.set(streamId, group);
      }
    }
    const out = new Map<string, EmailGroup>();
    for (const [streamId, g] of byStream) {
      const d = g.journey.definition;
      await openStream(
        db,
        streamId,
        {
          name: `${d.name} · ${g.step.id}`,
          from: d.from,
          ...(d.replyTo === undefined ? {} : { replyTo: d.replyTo }),
          subject: g.step.subject,
          template: g.step.template,
          postalAddress: d.postalAddress,
          ...(d.topic === undefined ? {} : { topic: d.topic }),
          priority: 'triggered',
          tags: [`journey:${g.plans[0]!.run.journeyId}`, `step:${g.step.id}`],
          // variants tried on everyone who reaches the step (no holdout, never decided: compared)
          ...(g.step.variants === undefined
            ? {}
            : { abTest: { variants: g.step.variants, testShare: 1, decideWithinHours: 24 * 30 } }),
        },
        now,
      );
      let plansToSend = g.plans;
      if (d.frequencyCap !== undefined) {
        const since = new Date(now.getTime() - d.frequencyCap.windowHours * 3_600_000);
        const capped = await contactsOverCap(
          db,
          g.plans.map((p) => p.run.contactId),
          since,
          d.frequencyCap.max,
        );
        for (const p of g.plans)
          if (capped.has(p.run.contactId))
            p.outcomes.set(
              g.step.id,
              `not sent: frequency cap (${d.frequencyCap.max} per ${d.frequencyCap.windowHours} h)`,
            );
        plansToSend = g.plans.filter((p) => !capped.has(p.run.contactId));
      }
      const recipients: MappedContact[] = [];
      for (let i = 0; i < plansToSend.length; i += CHUNK_SIZE) {
        const part = plansToSend.slice(i, i + CHUNK_SIZE).map((p) => recipientOf(p));
        // consent, country and suppression: the blast's comply step; refusals get their ledger row
        const eligible = await complyStreamChunk(
          { db, clock, ...deps.eligibility },
          { campaignId: streamId, seq: 0, recipients: part },
          d.topic,
        );
        recipients.push(...eligible);
      }
      out.set(streamId, {
        priority: 'triggered',
        recipients,
        ...(g.step.variants === undefined
          ? {}
          : { abTest: { variants: g.step.variants, testShare: 1, decideWithinHours: 24 * 30 } }),
      });
    }
    return out;
  }

  /**
   * The CRM field updates of a pass, as outbox messages keyed by (run, step): the consumer
   * (crm-updates.ts) makes the call with retries and records the outcome in the run history.
   */
  function crmUpdatesOf(plans: Plan[]): OutgoingMessage<JourneyCrmUpdatePayload>[] {
    const out: OutgoingMessage<JourneyCrmUpdatePayload>[] = [];
    for (const p of plans)
      for (const e of p.result.effects) {
        if (e.kind !== 'updateCrm') continue;
        if (deps.effects.crm === undefined) {
          p.outcomes.set(e.stepId, 'skipped: no CRM is configured');
          continue;
        }
        p.outcomes.set(e.stepId, `CRM update queued: ${Object.keys(e.fields).join(', ')}`);
        out.push({
          id: crmUpdateId(p.run.id, e.stepId),
          key: p.run.contactId,
          payload: {
            journeyId: p.run.journeyId,
            runId: p.run.id,
            stepId: e.stepId,
            contactId: p.run.contactId,
            fields: e.fields,
          },
        });
      }
    return out;
  }

  async function runOnce(): Promise<number> {
    const now = clock.now();
    const claimed = await q.claimDue(db, now, new Date(now.getTime() + options.leaseMs), deps.owner, options.batchSize);
    if (claimed.length === 0) return 0;
    const plans = await plan(claimed, now);
    const failed = await performEffects(plans, now);
    const moving = plans.filter((p) => !failed.has(p.run.id));
    const emails = await prepareEmails(moving, now);
    const crmUpdates = crmUpdatesOf(moving);
    const updates: q.RunUpdate[] = moving.map((p) => {
      const n = p.result.next;
      return n.kind === 'wait'
        ? { id: p.run.id, status: 'active', stepId: n.stepId, dueAt: n.dueAt, endReason: null }
        : { id: p.run.id, status: n.status, stepId: null, dueAt: null, endReason: n.reason };
    });
    const history: q.StepRecord[] = moving.flatMap((p) =>
      p.result.visits.map((v) => ({
        runId: p.run.id,
        stepId: v.stepId,
        type: v.type,
        outcome: p.outcomes.get(v.stepId) ?? v.outcome,
        streamId: p.streams.get(v.stepId) ?? null,
      })),
    );
    const written = await db
      .transaction(async (tx) => {
        const n = await q.updateRuns(tx, deps.owner, updates, now);
        // a lease lost meanwhile (this pass outlived it): write nothing, the new holder replays
        if (n !== updates.length)
          throw new SwitchyardError('JOURNEY_STATE_CONFLICT', 'runs lost their lease during a pass', {
            details: { lost: updates.length - n },
          });
        await q.recordSteps(tx, history, now);
        const outboxed: Outboxed[] = [];
        if (crmUpdates.length > 0) outboxed.push(await addToOutbox(tx, TOPICS.journeyCrmUpdate, crmUpdates, now));
        for (const [streamId, s] of emails) {
          for (const group of await splitStreamByVariant(tx, streamId, s, s.recipients, now)) {
            for (let i = 0; i < group.recipients.length; i += CHUNK_SIZE) {
              const seq = await nextStreamSeq(tx, streamId);
              const chunk = streamChunk(streamId, seq, group.recipients.slice(i, i + CHUNK_SIZE), group.variant);
              outboxed.push(await addToOutbox(tx, TOPICS.ready(s.priority), [chunk], now));
            }
          }
        }
        return outboxed;
      })
      .catch((err: unknown) => {
        if (isSwitchyardError(err) && err.code === 'JOURNEY_STATE_CONFLICT') {
          log.warn({ runs: err.details }, 'journey runs lost their lease during a pass; left to their new holder');
          return null;
        }
        throw err;
      });
    if (written !== null) await publishOutboxed({ db, bus: deps.bus }, written);
    if (failed.size > 0)
      await q.postponeRuns(db, deps.owner, [...failed], new Date(now.getTime() + (options.retryDelayMs ?? 60_000)));
    return claimed.length;
  }

  return {
    runOnce,
    version,
    async run(signal) {
      while (!signal.aborted) {
        let n = 0;
        try {
          n = await runOnce();
        } catch (err) {
          log.error({ err }, 'journey dispatcher pass failed');
        }
        if (n === 0) await clock.sleep(options.idleMs ?? 1000, signal).catch(() => undefined);
      }
    },
  };
}

function ended(status: 'exited' | 'goal', reason: string): AdvanceResult {
  return { visits: [], effects: [], next: { kind: 'end', status, reason } };
}

function recipientOf(p: Plan): MappedContact {
  const attributes = p.contact.profile.attributes;
  const country = typeof attributes.country === 'string' ? attributes.country.toUpperCase() : undefined;
  return {
    id: p.run.contactId,
    email: p.contact.email!,
    ...(p.contact.timezone === undefined ? {} : { timezone: p.contact.timezone }),
    ...(country === undefined ? {} : { country }),
    fields: { ...attributes },
  };
}
