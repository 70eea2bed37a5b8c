/**
 * Journeys: definitions (validated, versioned), entries, explicit version moves and the run
 * history. Saving a journey that exists creates a new version: new entries start on it, runs in
 * flight stay on the version they entered on until `moveRuns` moves them. Runs move only in the
 * dispatcher (dispatcher.ts); triggers (triggers.ts) and the API enter contacts through `enter`.
 */
import type { Clock } from '../clock/port.ts';
import { validateTemplate } from '../campaigns/render/compile.ts';
import { streamOutcomes } from '../campaigns/streams.ts';
import { SwitchyardError } from '../core/errors.ts';
import { isTimeZone } from '../core/journeys/local-time.ts';
import type { JourneyDefinition, JourneyProblem } from '../core/journeys/types.ts';
import { validateJourney } from '../core/journeys/validate.ts';
import type { Db } from '../store/port.ts';
import * as q from './queries.ts';

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export interface JourneyView {
  id: string;
  name: string;
  status: string;
  currentVersion: number;
  definition: JourneyDefinition;
  runs: { version: number; status: string; stepId: string | null; n: number }[];
}

export interface EnterContact {
  id: string;
  email?: string;
  timezone?: string;
  attributes?: Record<string, unknown>;
}

export interface RunHistory {
  contactId: string;
  runs: {
    id: string;
    journeyId: string;
    version: number;
    entry: number;
    status: string;
    trigger: Record<string, unknown>;
    startedAt: string;
    endedAt: string | null;
    endReason: string | null;
    nextStep: string | null;
    dueAt: string | null;
    steps: {
      stepId: string;
      type: string;
      outcome: string;
      at: string;
      /** Email steps: the message stream (ledger campaign id) and what became of the message. */
      email?: { streamId: string; state: string; reason: string | null; sentAt: string | null };
    }[];
  }[];
}

export interface JourneyService {
  /** Checks a definition; every problem by path (templates included). */
  validate(input: unknown): Promise<JourneyProblem[]>;
  /** Creates the journey or, when it exists, saves a new version of it. */
  save(id: string, input: unknown): Promise<{ id: string; version: number; created: boolean }>;
  get(id: string): Promise<JourneyView>;
  list(): Promise<q.JourneyRow[]>;
  setStatus(id: string, status: 'active' | 'paused' | 'archived'): Promise<q.JourneyRow>;
  /** Enters contacts now (re-entry rules apply); returns the ids that entered. */
  enter(
    id: string,
    contacts: readonly EnterContact[],
    trigger: { key: string; [k: string]: unknown },
  ): Promise<string[]>;
  moveRuns(id: string, from: number, to: number): Promise<{ moved: number; stayed: number }>;
  /** "Why did I get this email?": every run of the contact, step by step, with each email's fate. */
  history(contactId: string): Promise<RunHistory>;
}

export function createJourneyService(deps: { db: Db; clock: Clock }): JourneyService {
  const { db, clock } = deps;

  async function validate(input: unknown): Promise<JourneyProblem[]> {
    const checked = validateJourney(input, { isTimeZone });
    if (!checked.ok) return checked.problems;
    const problems: JourneyProblem[] = [];
    const def = checked.definition;
    for (const [i, s] of def.steps.entries()) {
      if (s.type !== 'email') continue;
      const t = await validateTemplate({ subject: s.subject, ...s.template }, { postalAddress: def.postalAddress });
      for (const e of t.errors) problems.push({ path: `$.steps[${i}].template`, message: e });
    }
    return problems;
  }

  async function mustGet(id: string): Promise<q.JourneyRow> {
    const j = await q.getJourney(db, id);
    if (j === null) throw new SwitchyardError('NOT_FOUND', `journey ${id} not found`);
    return j;
  }

  return {
    validate,
    async save(id, input) {
      if (!ID.test(id))
        throw new SwitchyardError('JOURNEY_INVALID', 'journey id must match ^[a-z0-9][a-z0-9_-]{0,63}$');
      const problems = await validate(input);
      if (problems.length > 0)
        throw new SwitchyardError(
          'JOURNEY_INVALID',
          `journey refused: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
          { details: { problems } },
        );
      const def = input as JourneyDefinition;
      const version = await db.transaction(async (tx) => {
        // a date trigger's attribute joins the profile-date index before the first scan reads it
        if (def.trigger.type === 'date') await q.watchDateAttribute(tx, def.trigger.attribute);
        return q.saveVersion(tx, id, def, clock.now());
      });
      return { id, version, created: version === 1 };
    },
    async get(id) {
      const j = await mustGet(id);
      const definition = (await q.getVersion(db, id, j.currentVersion))!;
      return {
        id,
        name: j.name,
        status: j.status,
        currentVersion: j.currentVersion,
        definition,
        runs: await q.runCounts(db, id),
      };
    },
    list: () => q.listJourneys(db),
    async setStatus(id, status) {
      await mustGet(id);
      await q.setStatus(db, id, status, clock.now());
      return mustGet(id);
    },
    async enter(id, contacts, trigger) {
      const j = await mustGet(id);
      if (j.status !== 'active') throw new SwitchyardError('JOURNEY_STATE_CONFLICT', `journey ${id} is ${j.status}`);
      const def = (await q.getVersion(db, id, j.currentVersion))!;
      const distinct = new Map(contacts.map((c) => [c.id, c]));
      return q.enterRuns(
        db,
        { id, version: j.currentVersion, start: def.start, reentry: def.reentry },
        [...distinct.values()].map((c) => ({
          contactId: c.id,
          contact: {
            email: c.email ?? null,
            ...(c.timezone === undefined ? {} : { timezone: c.timezone }),
            attributes: c.attributes ?? {},
          },
          trigger,
        })),
        clock.now(),
      );
    },
    async moveRuns(id, from, to) {
      await mustGet(id);
      const target = await q.getVersion(db, id, to);
      if (target === null || (await q.getVersion(db, id, from)) === null)
        throw new SwitchyardError('NOT_FOUND', `journey ${id} has no version ${target === null ? to : from}`);
      return q.moveRuns(
        db,
        id,
        from,
        to,
        target.steps.map((s) => s.id),
        clock.now(),
      );
    },
    async history(contactId) {
      const { runs, steps } = await q.runsOfContact(db, contactId, 100);
      const emails = await streamOutcomes(
        db,
        steps.filter((s) => s.streamId !== null).map((s) => ({ streamId: s.streamId!, contactId })),
      );
      const fate = new Map(emails.map((e) => [e.streamId, e]));
      return {
        contactId,
        runs: runs.map((r) => ({
          id: r.id,
          journeyId: r.journeyId,
          version: r.version,
          entry: r.entry,
          status: r.status,
          trigger: r.trigger,
          startedAt: r.startedAt.toISOString(),
          endedAt: r.endedAt?.toISOString() ?? null,
          endReason: r.endReason,
          nextStep: r.status === 'active' ? r.stepId : null,
          dueAt: r.status === 'active' ? (r.dueAt?.toISOString() ?? null) : null,
          steps: steps
            .filter((s) => s.runId === r.id)
            .map((s) => {
              const f = s.streamId === null ? undefined : fate.get(s.streamId);
              return {
                stepId: s.stepId,
                type: s.type,
                outcome: s.outcome,
                at: s.at.toISOString(),
                ...(s.streamId === null
                  ? {}
                  : {
                      email: {
                        streamId: s.streamId,
                        state: f?.state ?? 'queued',
                        reason: f?.reason ?? null,
                        sentAt: f?.sentAt?.toISOString() ?? null,
                      },
                    }),
              };
            }),
        })),
      };
    },
  };
}
