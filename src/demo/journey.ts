/**
 * The demo workspace's nurture journey: a contact who clicks "Compare plans" (a link to
 * /pricing) in the demo campaign gets a follow-up an hour later, and a nudge two days after that
 * unless they opened the follow-up. Saved once on start when the demo workspace is on; an edited
 * journey is never overwritten.
 */
import type { JourneyDefinition } from '../core/journeys/types.ts';

export const DEMO_JOURNEY_ID = 'nurture';

export function demoJourney(): JourneyDefinition {
  return {
    name: 'Demo: pricing nurture',
    trigger: { type: 'event', event: 'clicked', tag: 'path:pricing' },
    reentry: { mode: 'after', days: 30 },
    goals: [{ id: 'upgraded', condition: { attribute: 'plan', equals: 'enterprise' } }],
    frequencyCap: { max: 3, windowHours: 24 * 7 },
    from: { address: 'news@demo.example.com', name: 'Switchyard Demo' },
    postalAddress: 'Demo Corp, 1 Example Street, Springfield, 12345, US',
    start: 'settle',
    steps: [
      { id: 'settle', type: 'wait', duration: { hours: 1 }, next: 'follow-up' },
      {
        id: 'follow-up',
        type: 'email',
        subject: 'Questions about our plans?',
        template: {
          html:
            '<p>You were looking at our plans. '
            + '<a href="https://demo.example.com/contact-sales">Talk to us</a>.</p>',
        },
        next: 'two-days',
      },
      { id: 'two-days', type: 'wait', duration: { days: 2 }, next: 'opened' },
      { id: 'opened', type: 'branchEngagement', step: 'follow-up', on: 'opened', yes: 'done', no: 'nudge' },
      {
        id: 'nudge',
        type: 'email',
        subject: 'Still deciding?',
        template: { text: 'Here is a summary of every plan: https://demo.example.com/pricing' },
        next: 'done',
      },
      { id: 'done', type: 'exit' },
    ],
  };
}

/** Saves the demo journey unless a journey with its id exists. */
export async function ensureDemoJourney(journeys: {
  list(): Promise<{ id: string }[]>;
  save(id: string, input: unknown): Promise<unknown>;
}): Promise<void> {
  if ((await journeys.list()).some((j) => j.id === DEMO_JOURNEY_ID)) return;
  await journeys.save(DEMO_JOURNEY_ID, demoJourney());
}
