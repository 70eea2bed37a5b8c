/**
 * The two compilers of a segment agree: for random valid definitions and random profiles (odd
 * values included: wrong types, nested JSON, near-miss dates, ties between campaigns), the SQL
 * expression run on PGlite (and PostgreSQL when reachable) selects exactly the profiles the
 * in-memory predicate accepts, at the same instant.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compilePredicate } from '../../../src/core/segments/predicate.ts';
import { compileSql } from '../../../src/core/segments/sql.ts';
import type { ProfileSnapshot, SegmentCondition } from '../../../src/core/segments/types.ts';
import { validateSegment } from '../../../src/core/segments/validate.ts';
import type { Db } from '../../../src/store/port.ts';
import { testDatabases } from '../../support/databases.ts';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const DAY = 86_400_000;
const ATTRS = ['a', 'b', 'when'];
const TAGS = ['pricing', 'docs', '*'];
const LISTS = ['l1', 'l2'];

const text = fc.string({ unit: fc.constantFrom('a', 'B', 'c', 'É', 'é', '-', 'x', 'Z', ' '), maxLength: 6 });
const dateText = fc
  .tuple(
    fc.integer({ min: -40 * DAY, max: 40 * DAY }),
    fc.constantFrom(10, 19, 24, 20),
    fc.constantFrom('', 'Z', '+02:00', 'junk'),
  )
  .map(([off, len, tail]) => new Date(NOW + off).toISOString().slice(0, len) + (len === 24 ? '' : tail));
const scalar = fc.oneof(
  text,
  fc.integer({ min: -5, max: 5 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
);
const value = fc.oneof(
  scalar,
  dateText,
  fc.constant(null),
  fc.array(scalar, { maxLength: 2 }),
  fc.dictionary(text, scalar, { maxKeys: 2 }),
);

const attr = fc.constantFrom(...ATTRS);
const leaf: fc.Arbitrary<SegmentCondition> = fc.oneof(
  fc.record({ attribute: attr, equals: scalar }),
  fc.record({ attribute: attr, in: fc.array(scalar, { minLength: 1, maxLength: 3 }) }),
  fc.record({ attribute: attr, exists: fc.boolean() }),
  fc
    .record(
      { gt: fc.integer({ min: -5, max: 5 }), lte: fc.double({ noNaN: true, noDefaultInfinity: true }) },
      { requiredKeys: [] },
    )
    .filter((r) => Object.keys(r).length > 0)
    .map((range) => ({ attribute: 'a', range })),
  fc
    .tuple(attr, fc.constantFrom('contains', 'startsWith', 'endsWith'), text, fc.boolean())
    .map(([attribute, op, t, ignoreCase]) => ({ attribute, matches: { [op]: t, ignoreCase } })),
  fc
    .tuple(
      attr,
      fc.option(fc.integer({ min: -30, max: 0 }), { nil: undefined }),
      fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
      fc.constantFrom('days', 'hours', 'minutes'),
    )
    .filter(([, from, to]) => from !== undefined || to !== undefined)
    .map(([attribute, from, to, unit]) => ({
      attribute,
      within: { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }), unit },
    })),
  fc
    .record(
      { tag: fc.constantFrom('pricing', 'docs'), withinDays: fc.integer({ min: 1, max: 20 }) },
      { requiredKeys: ['withinDays'] },
    )
    .map((clicked) => ({ clicked })),
  fc
    .integer({ min: 1, max: 5 })
    .chain((ofLast) => fc.integer({ min: 1, max: ofLast }).map((atLeast) => ({ opened: { atLeast, ofLast } }))),
  fc.constantFrom(...LISTS).map((inList) => ({ inList })),
) as fc.Arbitrary<SegmentCondition>;

const definition: fc.Arbitrary<SegmentCondition> = fc.letrec<{ node: SegmentCondition }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('node'), { minLength: 1, maxLength: 3 }).map((and) => ({ and })),
    fc.array(tie('node'), { minLength: 1, maxLength: 3 }).map((or) => ({ or })),
    tie('node').map((not) => ({ not })),
  ),
})).node;

const profile = fc.record({
  attributes: fc.dictionary(fc.constantFrom(...ATTRS, 'other'), value, { maxKeys: 4 }),
  clicks: fc.dictionary(fc.constantFrom(...TAGS), fc.integer({ min: -25 * DAY, max: 0 }), { maxKeys: 3 }),
  campaigns: fc.uniqueArray(
    fc.record({
      campaignId: fc.constantFrom('k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'K1'),
      day: fc.integer({ min: 0, max: 3 }),
      opened: fc.boolean(),
    }),
    { selector: (c) => c.campaignId, maxLength: 6 },
  ),
  lists: fc.subarray(LISTS),
});
type GenProfile = typeof profile extends fc.Arbitrary<infer T> ? T : never;

function snapshotOf(id: string, g: GenProfile): ProfileSnapshot {
  return {
    contactId: id,
    attributes: g.attributes,
    lastClickByTag: new Map(Object.entries(g.clicks).map(([t, off]) => [t, NOW + off])),
    campaigns: g.campaigns.map((c) => ({ campaignId: c.campaignId, sentAt: NOW - c.day * DAY, opened: c.opened })),
    lists: new Set(g.lists),
  };
}

async function insert(db: Db, snaps: ProfileSnapshot[]): Promise<void> {
  const ids = snaps.map((s) => s.contactId);
  await db.query(
    `insert into contact_profiles (contact_id, attributes, created_at, updated_at)
     select id, a::jsonb, now(), now() from unnest($1::text[], $2::text[]) as x(id, a)`,
    [ids, snaps.map((s) => JSON.stringify(s.attributes))],
  );
  const clicks = snaps.flatMap((s) =>
    [...s.lastClickByTag].map(([tag, at]) => [s.contactId, tag, new Date(at)] as const),
  );
  await db.query(
    `insert into profile_click_tags (contact_id, tag, last_at)
     select * from unnest($1::text[], $2::text[], $3::timestamptz[])`,
    [clicks.map((c) => c[0]), clicks.map((c) => c[1]), clicks.map((c) => c[2])],
  );
  const sends = snaps.flatMap((s) =>
    s.campaigns.map((c) => [s.contactId, c.campaignId, new Date(c.sentAt), c.opened] as const),
  );
  await db.query(
    `insert into profile_campaigns (contact_id, campaign_id, sent_at, opened)
     select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::boolean[])`,
    [sends.map((c) => c[0]), sends.map((c) => c[1]), sends.map((c) => c[2]), sends.map((c) => c[3])],
  );
  const members = snaps.flatMap((s) => [...s.lists].map((l) => [l, s.contactId] as const));
  await db.query(
    `insert into list_members (list_id, contact_id, entered_at)
     select l, c, now() from unnest($1::text[], $2::text[]) as x(l, c)`,
    [members.map((m) => m[0]), members.map((m) => m[1])],
  );
}

for (const tdb of await testDatabases()) {
  describe(`segment SQL and predicate agree on ${tdb.label}`, { skip: tdb.skip }, () => {
    let passed = false;
    after(() => tdb.close(passed));

    it('selects exactly the profiles the predicate accepts', async () => {
      const db = await tdb.open();
      let run = 0;
      await fc.assert(
        fc.asyncProperty(definition, fc.array(profile, { minLength: 1, maxLength: 8 }), async (def, gens) => {
          assert.equal(validateSegment(def).ok, true, JSON.stringify(validateSegment(def)));
          run += 1;
          const snaps = gens.map((g, i) => snapshotOf(`r${run}-${i}`, g));
          await insert(db, snaps);
          const { sql, params } = compileSql(def, { now: new Date(NOW), firstParam: 2 });
          const { rows } = await db.query<{ contact_id: string }>(
            `select p.contact_id from contact_profiles p where p.contact_id like $1 and ${sql} order by p.contact_id`,
            [`r${run}-%`, ...params],
          );
          const predicate = compilePredicate(def);
          const expected = snaps
            .filter((s) => predicate(s, NOW))
            .map((s) => s.contactId)
            .sort();
          assert.deepEqual(rows.map((r) => r.contact_id).sort(), expected);
        }),
        { numRuns: 150, seed: 17 },
      );
      passed = true;
    });
  });
}
