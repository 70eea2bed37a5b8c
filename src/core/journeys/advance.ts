/**
 * How a run moves, pure: from the step that is due, walk the step graph at `now` — deciding
 * branches, collecting the effects of email, CRM, list and webhook steps — until a wait (the run's
 * next due time) or the end. The caller performs the effects idempotently by (run, step) and
 * stores the result; nothing here reads the clock or the store, so a run replayed after a crash
 * walks the same path and asks for the same effects.
 */
import { compilePredicate } from '../segments/predicate.ts';
import type { ProfileSnapshot } from '../segments/types.ts';
import { localTimeAfter } from './local-time.ts';
import { durationMs, type JourneyDefinition, type JourneyStep } from './types.ts';

export type StepEffect =
  | { kind: 'email'; stepId: string }
  | { kind: 'updateCrm'; stepId: string; fields: Record<string, string | number | boolean | null> }
  | { kind: 'addToList' | 'removeFromList'; stepId: string; list: string }
  | { kind: 'webhook'; stepId: string; url: string };

/** One step the run went through in this walk, with what happened (the run history's line). */
export interface Visit {
  stepId: string;
  type: JourneyStep['type'];
  outcome: string;
}

export type RunNext =
  | { kind: 'wait'; stepId: string; dueAt: Date }
  | { kind: 'end'; status: 'completed' | 'exited' | 'goal'; reason: string };

export interface AdvanceResult {
  visits: Visit[];
  effects: StepEffect[];
  next: RunNext;
}

export interface AdvanceFacts {
  now: Date;
  profile: ProfileSnapshot;
  /** The contact's IANA time zone (already defaulted to the journey's, then UTC). */
  timezone: string;
  /** Whether the message of an earlier email step of this run was opened / clicked by now. */
  engaged(stepId: string, on: 'opened' | 'clicked'): boolean;
}

/** A compiled definition: steps by id and predicates compiled once per version. */
export interface CompiledJourney {
  definition: JourneyDefinition;
  steps: ReadonlyMap<string, JourneyStep>;
  branch: ReadonlyMap<string, (p: ProfileSnapshot, nowMs: number) => boolean>;
  goals: readonly { id: string; holds: (p: ProfileSnapshot, nowMs: number) => boolean }[];
}

export function compileJourney(definition: JourneyDefinition): CompiledJourney {
  const branch = new Map<string, (p: ProfileSnapshot, nowMs: number) => boolean>();
  for (const s of definition.steps) if (s.type === 'branch') branch.set(s.id, compilePredicate(s.condition));
  const goals = (definition.goals ?? []).flatMap((g) =>
    'condition' in g ? [{ id: g.id, holds: compilePredicate(g.condition) }] : [],
  );
  return { definition, steps: new Map(definition.steps.map((s) => [s.id, s])), branch, goals };
}

/** The first condition goal that holds now, if any (event and list goals arrive as events). */
export function goalReached(j: CompiledJourney, profile: ProfileSnapshot, now: Date): string | null {
  for (const g of j.goals) if (g.holds(profile, now.getTime())) return g.id;
  return null;
}

/** Walks from `stepId` (the step due now) to the next wait or the end. */
export function advanceRun(j: CompiledJourney, stepId: string, facts: AdvanceFacts): AdvanceResult {
  const visits: Visit[] = [];
  const effects: StepEffect[] = [];
  const nowMs = facts.now.getTime();
  // a list step's change is visible to the conditions after it in the same walk
  const lists = new Set(facts.profile.lists);
  const profile = { ...facts.profile, lists };
  let current: string | undefined = stepId;
  // the graph is acyclic (validated), so this ends within the number of steps
  for (let guard = 0; current !== undefined && guard <= j.steps.size; guard++) {
    const step = j.steps.get(current);
    if (step === undefined)
      return {
        visits,
        effects,
        next: { kind: 'end', status: 'exited', reason: `step ${current} not in this version` },
      };
    switch (step.type) {
      case 'wait': {
        const dueAt = new Date(nowMs + durationMs(step.duration));
        visits.push({ stepId: step.id, type: step.type, outcome: `wait until ${dueAt.toISOString()}` });
        if (step.next === undefined) return { visits, effects, next: end('completed') };
        return { visits, effects, next: { kind: 'wait', stepId: step.next, dueAt } };
      }
      case 'waitUntil': {
        const dueAt = localTimeAfter(facts.now, facts.timezone, step.time);
        visits.push({
          stepId: step.id,
          type: step.type,
          outcome: `wait until ${step.time} ${facts.timezone} (${dueAt.toISOString()})`,
        });
        if (step.next === undefined) return { visits, effects, next: end('completed') };
        return { visits, effects, next: { kind: 'wait', stepId: step.next, dueAt } };
      }
      case 'branch': {
        const taken = j.branch.get(step.id)!(profile, nowMs);
        visits.push({
          stepId: step.id,
          type: step.type,
          outcome: taken ? 'condition held: yes' : 'condition false: no',
        });
        current = taken ? step.yes : step.no;
        break;
      }
      case 'branchEngagement': {
        const taken = facts.engaged(step.step, step.on);
        visits.push({
          stepId: step.id,
          type: step.type,
          outcome: `${step.step} ${taken ? '' : 'not '}${step.on}: ${taken ? 'yes' : 'no'}`,
        });
        current = taken ? step.yes : step.no;
        break;
      }
      case 'email':
        effects.push({ kind: 'email', stepId: step.id });
        visits.push({ stepId: step.id, type: step.type, outcome: 'email queued' });
        current = step.next;
        break;
      case 'updateCrm':
        effects.push({ kind: 'updateCrm', stepId: step.id, fields: step.fields });
        visits.push({ stepId: step.id, type: step.type, outcome: `CRM fields ${Object.keys(step.fields).join(', ')}` });
        current = step.next;
        break;
      case 'addToList':
      case 'removeFromList':
        effects.push({ kind: step.type, stepId: step.id, list: step.list });
        if (step.type === 'addToList') lists.add(step.list);
        else lists.delete(step.list);
        visits.push({ stepId: step.id, type: step.type, outcome: `${step.type} ${step.list}` });
        current = step.next;
        break;
      case 'webhook':
        effects.push({ kind: 'webhook', stepId: step.id, url: step.url });
        visits.push({ stepId: step.id, type: step.type, outcome: 'webhook called' });
        current = step.next;
        break;
      case 'exit':
        visits.push({ stepId: step.id, type: step.type, outcome: 'exit' });
        return { visits, effects, next: end('exited', 'exit step') };
    }
  }
  return { visits, effects, next: end('completed') };
}

function end(status: 'completed' | 'exited', reason = 'reached the end'): RunNext {
  return { kind: 'end', status, reason };
}
