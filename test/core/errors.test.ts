import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, SwitchyardError, isSwitchyardError } from '../../src/core/errors.ts';

describe('error registry', () => {
  it('docs/errors.md lists exactly the registered codes', () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(documented.sort(), Object.keys(ERROR_CODES).sort());
  });

  it('codes are UPPER_SNAKE with a one-line meaning', () => {
    // issue 12 names the two access codes as the API contract, without an area prefix
    const unprefixed = new Set(['UNAUTHENTICATED', 'FORBIDDEN']);
    for (const [code, meaning] of Object.entries(ERROR_CODES)) {
      assert.match(code, unprefixed.has(code) ? /^[A-Z]+$/ : /^[A-Z]+(_[A-Z0-9]+)+$/);
      assert.ok(meaning.length > 10 && !meaning.includes('\n'), code);
    }
  });

  it('a SwitchyardError carries code, retryable and retry hint, and is recognised by shape', () => {
    const e = new SwitchyardError('ESP_RATE_LIMITED', 'slow down', {
      retryable: true,
      retryAfterMs: 2000,
      details: { status: 429 },
    });
    assert.equal(e.retryable, true);
    assert.equal(e.retryAfterMs, 2000);
    assert.ok(isSwitchyardError(e));
    assert.ok(isSwitchyardError({ name: 'SwitchyardError', code: 'X' }));
    assert.ok(!isSwitchyardError(new Error('x')));
  });
});
