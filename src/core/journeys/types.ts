/**
 * The journey definition language (JSON, versioned by the service) and what a run is. A journey
 * has one trigger, steps that form a directed acyclic graph from `start` (acyclic so that every
 * step is visited at most once per run, which is what makes (run, step) the idempotency key of
 * each step's effect), optional goals that take a contact out early, a re-entry rule and a
 * frequency cap for its emails. Pure types; `validate.ts` checks an unknown value against them.
 */
import type { SegmentCondition } from '../segments/types.ts';

/** A span of time, summed (`{ days: 1, hours: 2 }`). */
export interface Duration {
  days?: number;
  hours?: number;
  minutes?: number;
}

export type JourneyTrigger =
  /** A contact entered a list (`list.entered`). */
  | { type: 'list'; list: string }
  /** A human click on a tracked link, optionally only one carrying `tag` (tags as the clicks stage makes them). */
  | { type: 'event'; event: 'clicked'; tag?: string }
  /**
   * A date attribute of the profile (`YYYY-MM-DD…`): entered on the day `offsetDays` after it
   * (negative: before; renewal minus 30 days is -30). `yearly` repeats on its anniversary (birthday).
   */
  | { type: 'date'; attribute: string; offsetDays?: number; yearly?: boolean }
  /** Entered only through the API (`POST /v1/journeys/:id/entries`). */
  | { type: 'manual' };

/** Whether a contact may enter again: never (default), once its last run ended, or `days` after its last entry. */
export type Reentry = { mode: 'never' } | { mode: 'after-exit' } | { mode: 'after'; days: number };

/** A goal: the contact leaves the journey as converted as soon as it holds. */
export type JourneyGoal =
  | { id: string; condition: SegmentCondition }
  | { id: string; event: 'clicked'; tag?: string }
  | { id: string; list: string };

export type JourneyStep =
  | { id: string; type: 'wait'; duration: Duration; next?: string }
  /** Until the next `time` (HH:MM) in the contact's time zone (attribute `timezone`, else the journey's). */
  | { id: string; type: 'waitUntil'; time: string; next?: string }
  | {
      id: string;
      type: 'email';
      subject: string;
      template: { html?: string; text?: string };
      /**
       * An A/B test inside the journey: 2–8 variants, each contact dealt one by a hash of (step
       * stream, contact), no holdout; the report compares them (docs/ab-tests.md). Variant 0 is
       * usually `{}`, the step's own subject and template.
       */
      variants?: { name?: string; subject?: string; preheader?: string; template?: { html?: string; text?: string } }[];
      next?: string;
    }
  | { id: string; type: 'branch'; condition: SegmentCondition; yes?: string; no?: string }
  /** On whether the email of an earlier step was opened or clicked (by the time the run reaches this step). */
  | { id: string; type: 'branchEngagement'; step: string; on: 'opened' | 'clicked'; yes?: string; no?: string }
  | { id: string; type: 'updateCrm'; fields: Record<string, string | number | boolean | null>; next?: string }
  | { id: string; type: 'addToList'; list: string; next?: string }
  | { id: string; type: 'removeFromList'; list: string; next?: string }
  /** POST of the run to `url`, signed (HMAC-SHA256 over timestamp + body, like POST /v1/changes). */
  | { id: string; type: 'webhook'; url: string; next?: string }
  | { id: string; type: 'exit' };

export type StepType = JourneyStep['type'];

export interface JourneyDefinition {
  name: string;
  trigger: JourneyTrigger;
  reentry?: Reentry;
  goals?: JourneyGoal[];
  /** At most `max` emails (from anything: blasts, journeys, messages) per contact per `windowHours`. */
  frequencyCap?: { max: number; windowHours: number };
  from: { address: string; name?: string };
  replyTo?: { address: string; name?: string };
  postalAddress: string;
  /** The preference-centre topic of its emails: contacts who withdrew from it are not sent them. */
  topic?: string;
  /** Time zone for `waitUntil` when the contact has none (IANA name; default UTC). */
  timezone?: string;
  start: string;
  steps: JourneyStep[];
}

/** One problem of a definition, with the path of the bad part (`$.steps[2].next`). */
export interface JourneyProblem {
  path: string;
  message: string;
}

export const RUN_STATUSES = ['active', 'completed', 'goal', 'exited'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export function durationMs(d: Duration): number {
  return ((d.days ?? 0) * 24 * 60 + (d.hours ?? 0) * 60 + (d.minutes ?? 0)) * 60_000;
}

/** The step ids a step may go to next (absent: the run completes there). */
export function successors(step: JourneyStep): string[] {
  switch (step.type) {
    case 'branch':
    case 'branchEngagement':
      return [step.yes, step.no].filter((s): s is string => s !== undefined);
    case 'exit':
      return [];
    default:
      return step.next === undefined ? [] : [step.next];
  }
}
