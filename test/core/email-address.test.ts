import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkEmailAddress } from '../../src/core/email-address.ts';

const ok = (s: string): string | undefined => {
  const r = checkEmailAddress(s);
  return r.ok ? r.address : undefined;
};

describe('checkEmailAddress', () => {
  it('accepts ordinary, plus, dotted, SMTPUTF8 and IDN addresses and lowercases the domain only', () => {
    assert.equal(ok('Alice.Smith+news@Example.COM'), 'Alice.Smith+news@example.com');
    assert.equal(ok("o'brien_x-y@mail.example.co.uk"), "o'brien_x-y@mail.example.co.uk");
    assert.equal(ok('josé@exämple.de'), 'josé@exämple.de');
  });
  it('refuses the probe address and other shapes no ESP reports for a real recipient', () => {
    for (const bad of [
      '<script>@x.y',
      'a b@x.y',
      '"quoted"@x.y',
      'a@[127.0.0.1]',
      'a@localhost',
      'a@x..y',
      '.a@x.y',
      'a.@x.y',
      'a..b@x.y',
      'a@-x.y',
      'a@x-.y',
      'a@x.123',
      'a\u0000@x.y',
      'a\ud800@x.y',
      'a@x.y\n',
      '@x.y',
      'a@',
      'nope',
      '',
      'a(b)@x.y',
      'a,b@x.y',
      'a@x_y.z',
    ]) {
      assert.equal(checkEmailAddress(bad).ok, false, JSON.stringify(bad));
    }
  });
  it('enforces the RFC 5321 lengths', () => {
    assert.equal(checkEmailAddress(`${'a'.repeat(64)}@x.y`).ok, true);
    assert.equal(checkEmailAddress(`${'a'.repeat(65)}@x.y`).ok, false);
    assert.equal(checkEmailAddress(`a@${'b'.repeat(63)}.y`).ok, true);
    assert.equal(checkEmailAddress(`a@${'b'.repeat(64)}.y`).ok, false);
    assert.equal(checkEmailAddress(`a@${Array.from({ length: 50 }, () => 'abcd').join('.')}.com`).ok, false);
  });
  it(
    'property: an accepted address has no control character, whitespace or angle bracket, is ≤ 254 long and '
      + 'is a fixed point',
    () => {
      fc.assert(
        fc.property(
          fc.oneof(fc.emailAddress(), fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 })),
          (s) => {
            const r = checkEmailAddress(s);
            if (!r.ok) return;
            assert.ok(r.address.length <= 254);
            assert.doesNotMatch(r.address, /[\u0000-\u001f\u007f\s<>"]/);
            assert.deepEqual(checkEmailAddress(r.address), r);
          },
        ),
        { numRuns: 2000 },
      );
    },
  );
  it(
    'property: addresses fast-check generates per RFC are accepted unless over-long, with the domain ' + 'lowercased',
    () => {
      fc.assert(
        fc.property(fc.emailAddress(), (s) => {
          const r = checkEmailAddress(s);
          const [, domain] = /@([^@]+)$/.exec(s)!;
          if (s.length > 254 || s.indexOf('@') > 64 || /(^|\.)[0-9]+$/.test(domain!)) return;
          assert.equal(r.ok, true, s);
          assert.ok(r.ok && r.address.endsWith(`@${domain!.toLowerCase()}`));
        }),
        { numRuns: 1000 },
      );
    },
  );
  it('problems never contain the address', () => {
    // The marker keeps a short input from matching a fixed phrase ("co" in "control") by chance.
    fc.assert(
      fc.property(
        fc.string({ minLength: 3, maxLength: 40 }).map((x) => `\u2603${x}`),
        (s) => {
          const r = checkEmailAddress(`<${s}>@x.y`);
          assert.ok(!r.ok && !r.problem.includes(s));
        },
      ),
    );
  });
});
