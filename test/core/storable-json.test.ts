import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { boundJson, DEAD_LETTER_BOUNDS, hasUnstorableChars, toStorableText } from '../../src/core/storable-json.ts';
import { jsonNestingExceeds } from '../../src/core/json-depth.ts';

/** Independent oracle for what jsonb refuses: NUL, or text not well-formed UTF-16 (String#isWellFormed). */
function storable(v: unknown): boolean {
  const ok = (s: string): boolean =>
    !s.includes('\u0000') && (s as unknown as { isWellFormed(): boolean }).isWellFormed();
  if (typeof v === 'string') return ok(v);
  if (typeof v === 'object' && v !== null) return Object.entries(v).every(([k, x]) => ok(k) && storable(x));
  return true;
}

const hostile = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s + '\u0000' + '\ud800');

describe('storable text and JSON', () => {
  it('replaces NUL and unpaired surrogates, keeps pairs and everything else', () => {
    assert.equal(toStorableText('a\u0000b\ud800c\udc00d😀'), 'a\uFFFDb\uFFFDc\uFFFDd😀');
    assert.equal(hasUnstorableChars('ok 😀'), false);
  });
  it('property: any JSON-like value becomes storable in jsonb, and stays valid JSON', () => {
    const anyKeyValue = fc.anything({
      key: fc.oneof(fc.string({ unit: 'binary' }), hostile),
      maxDepth: 6,
      withNullPrototype: true,
      values: [fc.string({ unit: 'binary' }), hostile, fc.double(), fc.boolean(), fc.constant(null)],
    });
    fc.assert(
      fc.property(anyKeyValue, (v) => {
        const text = JSON.stringify(boundJson(v)) ?? 'null';
        assert.equal(storable(JSON.parse(text)), true, text);
      }),
      { numRuns: 500 },
    );
  });
  it('property: dead-letter bounds keep any value to a few KB', () => {
    const big = fc.anything({ maxDepth: 10, maxKeys: 60, values: [fc.string({ maxLength: 5000 }), fc.integer()] });
    fc.assert(
      fc.property(big, (v) => {
        assert.ok(Buffer.byteLength(JSON.stringify(boundJson(v, DEAD_LETTER_BOUNDS)) ?? '') < 64 * 1024);
      }),
      { numRuns: 200 },
    );
    const wide = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'x'.repeat(10_000)]));
    assert.ok(JSON.stringify(boundJson(wide, DEAD_LETTER_BOUNDS)).length < 8 * 1024);
  });
  it('returns the same value when nothing had to change, and never lets "__proto__" become a prototype', () => {
    const v = { a: [1, 'two', { b: null }] };
    assert.equal(boundJson(v), v);
    const parsed = JSON.parse('{"__proto__":{"polluted":"\\u0000"}}') as object;
    const out = boundJson(parsed) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { polluted: '\uFFFD' });
  });
});

describe('jsonNestingExceeds', () => {
  it('counts brackets outside strings only', () => {
    assert.equal(jsonNestingExceeds(Buffer.from('[[[1]]]'), 3), false);
    assert.equal(jsonNestingExceeds(Buffer.from('[[[[1]]]]'), 3), true);
    assert.equal(jsonNestingExceeds(Buffer.from('["[[[[[[", "\\"[[[[[["]'), 1), false);
    assert.equal(jsonNestingExceeds(Buffer.from('['.repeat(100_000)), 32), true);
  });
  it('property: agrees with the depth of the parsed value', () => {
    const depth = (v: unknown): number =>
      typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depth)) : 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.nat({ max: 9 }), (v, max) => {
        assert.equal(jsonNestingExceeds(Buffer.from(JSON.stringify(v)), max), depth(v) > max);
      }),
      { numRuns: 1000 },
    );
  });
});
