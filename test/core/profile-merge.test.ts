/**
 * Out-of-order and repeated changes: applying the same changes in any order, any number of times,
 * leaves the same profile, the one the newest change of each attribute makes; a repeat or an
 * older change reports no changed attribute.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type AttributeChange, mergeAttributes, type ProfileAttributes } from '../../src/core/profile-merge.ts';

const empty = (): ProfileAttributes => ({ attributes: {}, versions: {} });
const applyAll = (changes: readonly AttributeChange[]): ProfileAttributes =>
  changes.reduce<ProfileAttributes>((p, c) => {
    const { attributes, versions } = mergeAttributes(p, c);
    return { attributes, versions };
  }, empty());

// per source, either every change has a version or none does (the documented contract)
const changes = fc.boolean().chain((versioned) =>
  fc.array(
    fc.record({
      attributes: fc.dictionary(
        fc.constantFrom('a', 'b', 'c'),
        fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(null), fc.string({ maxLength: 2 })),
        {
          minKeys: 1,
          maxKeys: 3,
        },
      ),
      at: fc.integer({ min: 0, max: 5 }),
      version: versioned ? fc.integer({ min: 0, max: 5 }) : fc.constant(undefined),
    }),
    { maxLength: 8 },
  ),
);

describe('profile merge', () => {
  it('ends in the same state whatever the order and however often changes are applied', () => {
    fc.assert(
      fc.property(changes, fc.infiniteStream(fc.nat()), (cs, seeds) => {
        const clean = cs.map((c) => (c.version === undefined ? { attributes: c.attributes, at: c.at } : c));
        const expected = applyAll(clean);
        const shuffled = [...clean, ...clean]
          .map((c) => ({ c, k: seeds.next().value as number }))
          .sort((x, y) => x.k - y.k);
        assert.deepEqual(applyAll(shuffled.map((x) => x.c)), expected);
      }),
      { seed: 17 },
    );
  });

  it('a repeat and an older change change nothing; a newer one does', () => {
    const first = mergeAttributes(empty(), { attributes: { region: 'west' }, at: 10 });
    assert.deepEqual(first.changed, ['region']);
    assert.deepEqual(mergeAttributes(first, { attributes: { region: 'west' }, at: 10 }).changed, []);
    const stale = mergeAttributes(first, { attributes: { region: 'east' }, at: 9 });
    assert.deepEqual([stale.changed, stale.attributes.region], [[], 'west']);
    const newer = mergeAttributes(first, { attributes: { region: 'east' }, at: 11 });
    assert.deepEqual([newer.changed, newer.attributes.region], [['region'], 'east']);
    // a version decides before the time does
    const v2 = mergeAttributes(empty(), { attributes: { tier: 'gold' }, at: 50, version: 2 });
    assert.deepEqual(mergeAttributes(v2, { attributes: { tier: 'free' }, at: 99, version: 1 }).changed, []);
  });
});
