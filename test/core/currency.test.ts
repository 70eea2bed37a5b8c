import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decimalToMinor, formatMinor, minorDigits } from '../../src/core/currency.ts';

describe('currency minor units', () => {
  it('counts zero-, two- and three-decimal currencies as Stripe does, in any case', () => {
    assert.equal(minorDigits('JPY'), 0);
    assert.equal(minorDigits('krw'), 0);
    assert.equal(minorDigits('usd'), 2);
    assert.equal(minorDigits('EUR'), 2);
    assert.equal(minorDigits('kwd'), 3);
  });

  it('reads a CRM decimal amount in the currency minor units', () => {
    assert.equal(decimalToMinor('1200.50', 'usd'), 120_050);
    assert.equal(decimalToMinor('1200', 'jpy'), 1200);
    assert.equal(decimalToMinor(1.234, 'kwd'), 1234);
    assert.equal(decimalToMinor('0.1', 'eur'), 10);
    for (const bad of ['', ' ', 'abc', '-5', null, undefined, Number.NaN, Number.POSITIVE_INFINITY, 1e300])
      assert.equal(decimalToMinor(bad, 'usd'), undefined, String(bad));
  });

  it('prints minor units with the currency decimals and thousands separators', () => {
    assert.equal(formatMinor(123_456_789, 'usd'), '1,234,567.89');
    assert.equal(formatMinor(-5, 'usd'), '-0.05');
    assert.equal(formatMinor(1_200_000, 'jpy'), '1,200,000');
    assert.equal(formatMinor(1234, 'kwd'), '1.234');
  });

  it('printing then reading gives the same minor units back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.constantFrom('usd', 'jpy', 'kwd', 'eur'), (minor, cur) => {
        assert.equal(decimalToMinor(formatMinor(minor, cur).replaceAll(',', ''), cur), minor);
      }),
    );
  });
});
