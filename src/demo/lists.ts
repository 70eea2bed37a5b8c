/**
 * The demo workspace's lists and the journey they drive: west- and east-coast contacts (by US
 * state), pricing interest (a click on a /pricing link in the last 14 days), engaged contacts, and
 * a ladder of 15 lists over the west coast, each reading the one below it and a higher lead score
 * (≥ 5, ≥ 10, … ≥ 75), so one change of state or score cascades through all of them. Entering
 * the top of the ladder starts the "hot west-coast leads" journey. Saved once on start; lists and
 * journeys already there (or deleted: list ids are never reused) are left as they are.
 */
import type { JourneyDefinition } from '../core/journeys/types.ts';
import type { SegmentCondition } from '../core/segments/types.ts';

export const DEMO_WEST = 'demo-west-coast';
export const DEMO_EAST = 'demo-east-coast';
export const DEMO_LADDER_DEPTH = 15;
export const DEMO_HOT_JOURNEY_ID = 'demo-hot-leads';

/** The ladder list whose members are west-coast leads scoring at least `5 × step`. */
export const demoLadderId = (step: number): string => `demo-west-score-${step * 5}`;
export const DEMO_LADDER_TOP = demoLadderId(DEMO_LADDER_DEPTH);

export interface DemoListInput {
  id: string;
  name: string;
  kind: 'dynamic';
  definition: SegmentCondition;
}

/** In dependency order: each list only reads lists before it. */
export function demoLists(): DemoListInput[] {
  const lists: DemoListInput[] = [
    {
      id: DEMO_WEST,
      name: 'Demo: west-coast contacts',
      kind: 'dynamic',
      definition: { attribute: 'state', in: ['CA', 'OR', 'WA'] },
    },
    {
      id: DEMO_EAST,
      name: 'Demo: east-coast contacts',
      kind: 'dynamic',
      definition: { attribute: 'state', in: ['NY', 'MA', 'NJ', 'CT', 'ME'] },
    },
    {
      id: 'demo-pricing-interest',
      name: 'Demo: clicked pricing in the last 14 days',
      kind: 'dynamic',
      definition: { clicked: { tag: 'path:pricing', withinDays: 14 } },
    },
    {
      id: 'demo-engaged',
      name: 'Demo: opened at least one of the last three campaigns',
      kind: 'dynamic',
      definition: { opened: { atLeast: 1, ofLast: 3 } },
    },
  ];
  for (let step = 1; step <= DEMO_LADDER_DEPTH; step++) {
    lists.push({
      id: demoLadderId(step),
      name: `Demo: west-coast leads scoring ${step * 5}+`,
      kind: 'dynamic',
      definition: {
        and: [
          { inList: step === 1 ? DEMO_WEST : demoLadderId(step - 1) },
          { attribute: 'score', range: { gte: step * 5 } },
        ],
      },
    });
  }
  return lists;
}

/** The journey a contact enters on reaching the top of the ladder. */
export function demoHotLeadsJourney(): JourneyDefinition {
  return {
    name: 'Demo: hot west-coast leads',
    trigger: { type: 'list', list: DEMO_LADDER_TOP },
    reentry: { mode: 'after', days: 30 },
    goals: [{ id: 'enterprise', condition: { attribute: 'plan', equals: 'enterprise' } }],
    frequencyCap: { max: 3, windowHours: 24 * 7 },
    from: { address: 'sales@demo.example.com', name: 'Switchyard Demo' },
    postalAddress: 'Demo Corp, 1 Example Street, Springfield, 12345, US',
    start: 'intro',
    steps: [
      {
        id: 'intro',
        type: 'email',
        subject: 'A West Coast team near you',
        template: { text: 'Our West Coast team would like to show you around: https://demo.example.com/meet' },
        next: 'three-days',
      },
      { id: 'three-days', type: 'wait', duration: { days: 3 }, next: 'opened' },
      { id: 'opened', type: 'branchEngagement', step: 'intro', on: 'opened', yes: 'done', no: 'reminder' },
      {
        id: 'reminder',
        type: 'email',
        subject: 'Still interested?',
        template: { text: 'Book a slot with our West Coast team: https://demo.example.com/meet' },
        next: 'done',
      },
      { id: 'done', type: 'exit' },
    ],
  };
}

const STATES = ['CA', 'OR', 'WA', 'NY', 'MA', 'NJ', 'TX', 'IL', 'CO', 'FL'];

/** Attributes of the n-th seeded demo contact: a state and a lead score, spread deterministically. */
export function demoProfileAttributes(n: number): { state: string; score: number } {
  return { state: STATES[n % STATES.length] as string, score: (n * 37) % 101 };
}
