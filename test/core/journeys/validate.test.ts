/**
 * The journey validator: every problem by path, cycles named, references and reachability,
 * engagement branches only after their email on every path; the demo journey is valid; and a
 * property: whatever random mutation is made to a valid definition, the validator either accepts
 * it or names at least one problem, never throws.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateJourney } from '../../../src/core/journeys/validate.ts';
import { isTimeZone } from '../../../src/core/journeys/local-time.ts';
import { demoJourney } from '../../../src/demo/journey.ts';

const base = () => ({
  name: 'J',
  trigger: { type: 'manual' },
  from: { address: 'a@mail.example.com' },
  postalAddress: '1 Main St',
  start: 'a',
  steps: [
    { id: 'a', type: 'email', subject: 'Hi', template: { text: 'x' }, next: 'b' },
    { id: 'b', type: 'wait', duration: { days: 1 }, next: 'c' },
    { id: 'c', type: 'branchEngagement', step: 'a', on: 'opened', yes: 'd' },
    { id: 'd', type: 'exit' },
  ],
});

function paths(input: unknown): string[] {
  const r = validateJourney(input, { isTimeZone });
  return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
}

describe('validateJourney', () => {
  it('accepts a valid definition and the demo journey', () => {
    assert.deepEqual(paths(base()), []);
    assert.deepEqual(paths(demoJourney()), []);
  });

  it('names a cycle in order', () => {
    const def = base();
    def.steps[1]!.next = 'a';
    const problems = paths(def);
    assert.ok(
      problems.some((p) => p.includes('a → b → a')),
      problems.join('\n'),
    );
  });

  it('lists every problem at once, each by path', () => {
    const problems = paths({
      name: '',
      trigger: { type: 'date', offsetDays: 1.5 },
      from: { address: 'nope' },
      postalAddress: 'x',
      timezone: 'Mars/Olympus',
      start: 'missing',
      goals: [{ id: 'g', event: 'clicked', list: 'both' }],
      steps: [
        { id: 'a', type: 'waitUntil', time: '25:00', next: 'z' },
        { id: 'a', type: 'teleport' },
        { id: 'b', type: 'updateCrm', fields: {} },
      ],
    }).map((p) => p.split(':')[0]);
    for (const path of [
      '$.name',
      '$.trigger.attribute',
      '$.trigger.offsetDays',
      '$.from.address',
      '$.timezone',
      '$.start',
      '$.goals[0]',
      '$.steps[0].time',
      '$.steps[0].next',
      '$.steps[1].id',
      '$.steps[1].type',
      '$.steps[2].fields',
    ])
      assert.ok(problems.includes(path), `${path} in ${problems.join(', ')}`);
  });

  it('refuses unreachable steps and an engagement branch that may run before its email', () => {
    const def = base();
    def.start = 'b';
    const problems = paths(def);
    assert.ok(
      problems.some((p) => p.startsWith('$.steps[0]: step a is not reachable')),
      problems.join('\n'),
    );
    assert.ok(problems.some((p) => p.startsWith('$.steps[2].step: email step a does not run before')));
  });

  it('never throws on random mutations; a refusal always names a problem', () => {
    const mutation = fc.tuple(
      fc.constantFrom('name', 'trigger', 'start', 'steps', 'goals', 'reentry', 'frequencyCap', 'from'),
      fc.anything(),
    );
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 3 }), (mutations) => {
        const def: Record<string, unknown> = base();
        for (const [k, v] of mutations) def[k] = v;
        const r = validateJourney(def, { isTimeZone });
        return r.ok || r.problems.length > 0;
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
