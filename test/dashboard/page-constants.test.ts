/**
 * The dashboard's pages are plain browser modules (no build step), so the lists they show beside
 * the API's own are copies; these tests keep each copy equal to the source the API validates with.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GROUP_BY, REPORT_MODELS } from '../../src/core/attribution/journeys.ts';

function constantOf(file: string, name: string): string[] {
  const text = readFileSync(new URL(`../../web/pages/${file}`, import.meta.url), 'utf8');
  const m = new RegExp(`const ${name} = \\[([^\\]]*)\\]`).exec(text);
  assert.ok(m, `${file} has no ${name} list`);
  return [...m[1]!.matchAll(/'([^']*)'/g)].map((x) => x[1]!);
}

it('the attribution page offers exactly the report models and groupings the API accepts', () => {
  assert.deepEqual(constantOf('attribution.js', 'MODELS'), [...REPORT_MODELS]);
  assert.deepEqual(constantOf('attribution.js', 'GROUPS'), [...GROUP_BY]);
});
