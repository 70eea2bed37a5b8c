/**
 * What makes contacts enter or leave journeys, as the `journeys` stage: `link.clicked` (journeys
 * triggered by a click, optionally on a tag — what used to be the fixed nurture hand-off of the
 * clicks stage) and `list.entered` enter contacts and end the runs whose goal they meet; the
 * dispatcher loop moves runs, and `journey.crm-update` makes the CRM calls of updateCrm steps.
 * Each trigger's key is the message that carried it, so a redelivered message enters nobody twice
 * (journey_entries.last_trigger) and a repeated goal changes nothing.
 */
import type { Logger } from 'pino';
import type { StageDefinition } from '../bus/stage.ts';
import {
  consumerOf,
  type LinkClickedPayload,
  type ListTransition,
  type ListTransitionsPayload,
  listTransitions,
  TOPICS,
} from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import type { JourneyGoal } from '../core/journeys/types.ts';
import type { Db } from '../store/port.ts';
import { CRM_UPDATE_ATTEMPTS, CRM_UPDATE_BACKOFF, handleCrmUpdate } from './crm-updates.ts';
import type { JourneyDispatcher } from './dispatcher.ts';
import type { EffectDeps } from './effects.ts';
import * as q from './queries.ts';

export interface TriggerDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  dispatcher: JourneyDispatcher;
  /** The CRM for updateCrm steps (the same effects the dispatcher was given). */
  effects: EffectDeps;
}

type Fact = { kind: 'click'; tags: readonly string[] } | { kind: 'list'; list: string };

function goalMet(goal: JourneyGoal, fact: Fact): boolean {
  if ('event' in goal) return fact.kind === 'click' && (goal.tag === undefined || fact.tags.includes(goal.tag));
  if ('list' in goal) return fact.kind === 'list' && fact.list === goal.list;
  return false;
}

type ActiveJourneys = { id: string; version: number }[];
type TriggeredJourneys = { id: string; version: number; key: string | null }[];

/** Ends active runs of journeys whose goal (event or list) this fact meets. */
async function endByGoals(
  deps: TriggerDeps,
  items: readonly { contactId: string; fact: Fact }[],
  active?: ActiveJourneys,
): Promise<void> {
  const journeys = active ?? (await q.activeJourneys(deps.db));
  const pairs: { journeyId: string; contactId: string; goal: string }[] = [];
  for (const j of journeys) {
    const compiled = await deps.dispatcher.version(j.id, j.version);
    const goals = compiled?.definition.goals ?? [];
    for (const item of items) {
      const goal = goals.find((g) => goalMet(g, item.fact));
      if (goal !== undefined) pairs.push({ journeyId: j.id, contactId: item.contactId, goal: goal.id });
    }
  }
  if (pairs.length === 0) return;
  await deps.db.transaction(async (tx) => {
    const ended = await q.endRunsAsGoal(tx, pairs, deps.clock.now());
    await q.releaseEntries(tx, ended);
  });
}

async function enterByTrigger(
  deps: TriggerDeps,
  type: 'event' | 'list',
  matches: (key: string | null) => boolean,
  contacts: readonly { contactId: string; triggerKey: string; trigger: Record<string, unknown> }[],
  triggered?: TriggeredJourneys,
): Promise<void> {
  const journeys = (triggered ?? (await q.journeysTriggeredBy(deps.db, type))).filter((j) => matches(j.key));
  for (const j of journeys) {
    const compiled = await deps.dispatcher.version(j.id, j.version);
    if (compiled === null) continue;
    const distinct = new Map(contacts.map((c) => [c.contactId, c]));
    await q.enterRuns(
      deps.db,
      { id: j.id, version: j.version, start: compiled.definition.start, reentry: compiled.definition.reentry },
      [...distinct.values()].map((c) => ({
        contactId: c.contactId,
        contact: { email: null, attributes: {} },
        trigger: { key: c.triggerKey, ...c.trigger },
      })),
      deps.clock.now(),
    );
  }
}

/**
 * A chunk of clicks (one reaction batch's), in order, each as its own trigger keyed by the click's
 * source id. The journeys are read once per chunk: with none active (most clicks of a flood) the
 * chunk costs one read, not two per click.
 */
export async function handleClicks(deps: TriggerDeps, clicks: readonly LinkClickedPayload[]): Promise<void> {
  if (clicks.length === 0) return;
  const active = await q.activeJourneys(deps.db);
  if (active.length === 0) return;
  const triggered = await q.journeysTriggeredBy(deps.db, 'event');
  for (const click of clicks) {
    await endByGoals(deps, [{ contactId: click.contactId, fact: { kind: 'click', tags: click.tags } }], active);
    // a click journey without a tag listens to every click; with one, to clicks carrying it
    await enterByTrigger(
      deps,
      'event',
      (key) => key === null || click.tags.includes(key),
      [
        {
          contactId: click.contactId,
          triggerKey: `clicked:${click.sourceId}`,
          trigger: { type: 'click', campaignId: click.campaignId, tags: click.tags, at: click.occurredAt },
        },
      ],
      triggered,
    );
  }
}

/** One `list.entered` message: every transition in it, each keyed by its own history id. */
export async function handleListEntered(deps: TriggerDeps, entered: ListTransitionsPayload): Promise<void> {
  const ts = listTransitions(entered);
  await endByGoals(
    deps,
    ts.map((t) => ({ contactId: t.contactId, fact: { kind: 'list', list: t.listId } as const })),
  );
  const byList = new Map<string, ListTransition[]>();
  for (const t of ts) {
    const into = byList.get(t.listId);
    if (into === undefined) byList.set(t.listId, [t]);
    else into.push(t);
  }
  for (const [listId, into] of byList) {
    await enterByTrigger(
      deps,
      'list',
      (key) => key === listId,
      into.map((t) => ({
        contactId: t.contactId,
        triggerKey: `list:${t.id}`,
        trigger: { type: 'list', list: t.listId, at: t.at },
      })),
    );
  }
}

export function journeysStage(deps: TriggerDeps, loops: ((signal: AbortSignal) => Promise<void>)[]): StageDefinition {
  return {
    name: 'journeys',
    consumers: [
      consumerOf({ topic: TOPICS.linkClicked, group: 'journeys', batchSize: 50 }, (m) =>
        handleClicks(deps, m.payload.clicks),
      ),
      consumerOf({ topic: TOPICS.listEntered, group: 'journeys', batchSize: 5 }, (m) =>
        handleListEntered(deps, m.payload),
      ),
      consumerOf(
        {
          topic: TOPICS.journeyCrmUpdate,
          group: 'journeys',
          batchSize: 20,
          concurrency: 4,
          maxAttempts: CRM_UPDATE_ATTEMPTS,
          ...CRM_UPDATE_BACKOFF,
        },
        (m) => handleCrmUpdate(deps, m),
      ),
    ],
    loops,
  };
}
