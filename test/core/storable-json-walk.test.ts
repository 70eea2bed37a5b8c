import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hasUnstorableChars as hasUnstorableText, toStorable, toStorableText } from '../../src/core/storable-json.ts';

/** No lone surrogate (String.prototype.isWellFormed is ES2024, past our lib setting). */
const isWellFormed = (s: string): boolean =>
  !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)
  && Buffer.from(s, 'utf8').toString('utf8') === s;

describe('storable text', () => {
  it('replaces NUL and lone surrogates, keeps pairs and everything else', () => {
    assert.equal(toStorableText('a\u0000b'), 'a\uFFFDb');
    assert.equal(toStorableText('x\uD800y'), 'x\uFFFDy');
    assert.equal(toStorableText('x\uDC00'), 'x\uFFFD');
    assert.equal(toStorableText('\uDC00\uD800'), '\uFFFD\uFFFD', 'reversed pair is two lone halves');
    assert.equal(toStorableText('emoji \u{1F600} ok'), 'emoji \u{1F600} ok');
    assert.equal(hasUnstorableText('plain'), false);
  });

  it('any string comes out well-formed UTF-16 without NUL, and storable text is unchanged', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const out = toStorableText(s);
        assert.equal(out.includes('\u0000'), false);
        assert.equal(isWellFormed(out), true);
        assert.equal(out.length, s.length, 'one replacement per bad code unit');
        assert.equal(toStorableText(out), out);
        if (!s.includes('\u0000') && isWellFormed(s)) assert.equal(out, s);
      }),
    );
  });

  it('cleans nested objects and keys, keeps untouched values by reference', () => {
    const date = new Date(0);
    const clean = { a: 'x', b: [1, 'y'], when: date };
    assert.equal(toStorable(clean), clean);
    const dirty = { 'k\u0000': 'v\u0000', list: ['ok', { deep: '\uD800' }], when: date, n: 3, none: null };
    assert.deepEqual(toStorable(dirty), {
      'k\uFFFD': 'v\uFFFD',
      list: ['ok', { deep: '\uFFFD' }],
      when: date,
      n: 3,
      none: null,
    });
    assert.equal(toStorable(dirty).when, date);
  });
});
