import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatApiKey, parseApiKey, roleAllows, ROLES, SCOPES, scopesOf } from '../../src/core/access-roles.ts';

describe('roles and scopes', () => {
  it('admin holds every scope; only admin manages keys; analyst only reads', () => {
    assert.deepEqual(scopesOf('admin'), [...SCOPES]);
    for (const role of ROLES) assert.equal(roleAllows(role, 'keys:manage'), role === 'admin', role);
    for (const scope of scopesOf('analyst')) assert.match(scope, /:read$/);
  });

  it('operator actions that push held mail back out stay with admin', () => {
    for (const role of ROLES.filter((r) => r !== 'admin')) {
      assert.equal(roleAllows(role, 'deliverability:write'), false, role);
      assert.equal(roleAllows(role, 'dead-letters:write'), false, role);
    }
  });

  it('the audit log is readable by admin and compliance only', () => {
    assert.deepEqual(
      ROLES.filter((r) => roleAllows(r, 'audit:read')),
      ['admin', 'compliance'],
    );
  });

  it('a formatted key parses back; anything not shaped like a key is refused before a lookup', () => {
    const prefix = fc.stringMatching(/^[a-z0-9]{8}$/);
    const secret = fc.stringMatching(/^[A-Za-z0-9_-]{43}$/);
    fc.assert(
      fc.property(prefix, secret, (p, s) => {
        assert.deepEqual(parseApiKey(formatApiKey({ prefix: p, secret: s })), { prefix: p, secret: s });
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        const parsed = parseApiKey(text);
        if (parsed !== null) assert.equal(formatApiKey(parsed), text);
      }),
    );
    for (const bad of [
      '',
      'sy__',
      `sy_ABCDEFGH_${'a'.repeat(43)}`,
      `sy_abcdefgh_${'a'.repeat(42)}`,
      `sy_abcdefgh_${'a'.repeat(43)}\n`,
      ` sy_abcdefgh_${'a'.repeat(43)}`,
    ]) {
      assert.equal(parseApiKey(bad), null, JSON.stringify(bad));
    }
  });
});
