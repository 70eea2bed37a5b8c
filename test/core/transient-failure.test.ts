import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/core/errors.ts';
import { isTransientFailure } from '../../src/core/transient-failure.ts';

const withCode = (code: string): Error => Object.assign(new Error('x'), { code });

describe('transient or permanent', () => {
  it('outages may pass: retryable errors, connection SQLSTATEs, socket errors, unknown errors', () => {
    assert.equal(isTransientFailure(new SwitchyardError('STORE_UNREACHABLE', 'down', { retryable: true })), true);
    for (const code of ['08006', '57P01', '53300', '40001', '40P01', 'ECONNREFUSED', 'ETIMEDOUT'])
      assert.equal(isTransientFailure(withCode(code)), true, code);
    assert.equal(isTransientFailure(new Error('PGlite is closed')), true);
  });

  it('failures that repeat for the same input are permanent: bad data, constraints, bugs, non-retryable codes', () => {
    for (const code of ['22P05', '23505', '42601', '22021'])
      assert.equal(isTransientFailure(withCode(code)), false, code);
    assert.equal(isTransientFailure(new SwitchyardError('VALIDATION_FAILED', 'bad')), false);
    assert.equal(isTransientFailure(new TypeError('x is undefined')), false);
    assert.equal(isTransientFailure(new RangeError('too deep')), false);
  });
});
