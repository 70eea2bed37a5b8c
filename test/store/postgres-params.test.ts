import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
// the driver's own conversion, which encodeParams must reproduce character for character
// @ts-expect-error pg ships no declarations for its internal utils; the one function used is typed below
import pgUtilsUntyped from 'pg/lib/utils.js';
import { arrayLiteral, encodeParams } from '../../src/store/postgres/params.ts';

const pgUtils = pgUtilsUntyped as { prepareValue(value: unknown): unknown };
const driver = (values: readonly unknown[]): unknown[] => values.map((v) => pgUtils.prepareValue(v));

describe('postgres parameters', () => {
  it('arrays of strings, numbers, booleans, bigints, nulls and dates are sent as the driver writes them', () => {
    const params = [
      ['a', 'with "quotes"', 'back\\slash', '', 'NULL', 'comma, {brace}', 'ünïcödé ✓', ' spaced '],
      [1, -0, 2.5, 1e21, Number.NaN, Number.POSITIVE_INFINITY],
      [true, false, null, undefined],
      [10n, -3n],
      [new Date('2026-12-07T20:00:00.123Z'), new Date('0001-01-01T00:00:00Z'), new Date('9999-12-31T23:59:59.999Z')],
      [],
      'plain',
      42,
      new Date('2026-12-07T20:00:00Z'),
      null,
    ];
    assert.deepEqual(driver(encodeParams(params)), driver(params));
  });

  it('leaves the shapes it does not build to the driver', () => {
    for (const values of [
      [{ a: 1 }],
      [['nested']],
      [Buffer.from('x')],
      [new Date(Number.NaN)],
      [new Date('0000-06-01T00:00:00Z')],
      [new Date('+010000-01-01T00:00:00Z')],
    ]) {
      assert.equal(arrayLiteral(values), undefined);
      assert.deepEqual(driver(encodeParams([values])), driver([values]));
    }
  });

  it('does not change the caller’s array', () => {
    const params = [['a'], new Date('2026-12-07T20:00:00Z')];
    const copy = [...params];
    encodeParams(params);
    assert.deepEqual(params, copy);
  });
});
