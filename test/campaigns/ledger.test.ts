/**
 * The send ledger's operations, on PGlite and PostgreSQL: claims, commits and confirmations find
 * their rows by the row version the claim wrote, fall back to the key when that version moved,
 * and never touch a claim another worker took over; a redelivered chunk takes over uncommitted
 * claims however young. Both statement shapes are covered: a few rows (SMTP group commits) and a
 * whole chunk (index scans off).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  claim,
  commitOrConfirm,
  confirm,
  findUnsettled,
  markInDoubt,
  recordExclusions,
  recordFailures,
  recordOutcomes,
  type HeldClaim,
  type LedgerClaim,
} from '../../src/campaigns/send-ledger.ts';
import type { Db } from '../../src/store/port.ts';
import { testDatabases, uniqueName } from '../support/databases.ts';

const T0 = new Date('2026-11-26T10:00:00Z');
const LATER = new Date('2026-11-26T10:05:00Z');

type Recipients = { contactId: string; email: string; messageId: string }[];

/** claim() with the options spelled positionally, as most tests here vary only these. */
function claimAll(
  db: Db,
  campaign: string,
  seq: number,
  list: Recipients,
  esp: string,
  at: Date,
  staleBefore: Date,
  as: 'rendered' | 'sending' = 'rendered',
  firstTry = false,
  redelivered = false,
): Promise<Map<string, LedgerClaim>> {
  return claim(db, campaign, seq, list, esp, at, { as, firstTry, redelivered, staleBefore });
}

const held = (claims: Map<string, LedgerClaim>): HeldClaim[] =>
  [...claims].map(([contactId, c]) => ({ contactId, ...c }));

const recipients = (campaign: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    contactId: `${campaign}-c${i}`,
    email: `u${i}@example.com`,
    messageId: `${campaign}-m${i}@example.com`,
  }));

async function states(
  db: Db,
  campaign: string,
): Promise<Map<string, { state: string; attempts: number; esp: string | null; error: string | null }>> {
  const { rows } = await db.query<{
    contact_id: string;
    state: string;
    attempts: number;
    esp_message_id: string | null;
    last_error: string | null;
  }>('select contact_id, state, attempts, esp_message_id, last_error from send_ledger where campaign_id = $1', [
    campaign,
  ]);
  return new Map(
    rows.map((r) => [
      r.contact_id,
      { state: r.state, attempts: r.attempts, esp: r.esp_message_id, error: r.last_error },
    ]),
  );
}

for (const tdb of await testDatabases()) {
  describe(`send ledger on ${tdb.label}`, { skip: tdb.skip }, () => {
    after(() => tdb.close(true));

    for (const size of [3, 150]) {
      it(
        `${tdb.label}, ${size} rows: claim straight as ` + `sending, then confirm records sent with each ESP id`,
        async () => {
          const db = await tdb.open();
          const campaign = uniqueName('cmp');
          const list = recipients(campaign, size);
          const claims = await claimAll(db, campaign, 0, list, 'sandbox', T0, new Date(0), 'sending');
          assert.equal(claims.size, size);
          await confirm(
            db,
            campaign,
            [...claims].map(([contactId, c]) => ({ contactId, ...c, espMessageId: `esp-${contactId}` })),
            T0,
          );
          const after = await states(db, campaign);
          for (const r of list)
            assert.deepEqual(after.get(r.contactId), {
              state: 'sent',
              attempts: 1,
              esp: `esp-${r.contactId}`,
              error: null,
            });
          // a replayed chunk claims nothing: every row exists and is not retry or stale-rendered
          assert.equal((await claimAll(db, campaign, 0, list, 'sandbox', LATER, new Date(0), 'sending')).size, 0);
        },
      );

      it(`${tdb.label}, ${size} rows: rendered → sending moves the row; confirm finds the new version`, async () => {
        const db = await tdb.open();
        const campaign = uniqueName('cmp');
        const claims = await claimAll(db, campaign, 0, recipients(campaign, size), 'smtp', T0, new Date(0));
        const committed = await commitOrConfirm(
          db,
          campaign,
          held(claims).map((c) => ({ ...c, to: 'sending' as const })),
          T0,
        );
        assert.equal(committed.size, size);
        for (const [contactId, row] of committed)
          assert.notEqual(row, claims.get(contactId)!.row, 'an update writes a new row version');
        // confirm with the commit's row versions (the send stage's batcher keeps them)
        await confirm(
          db,
          campaign,
          [...committed].map(([contactId, row]) => ({ contactId, attempt: 1, row })),
          T0,
        );
        assert.deepEqual(
          [...(await states(db, campaign)).values()].map((s) => s.state),
          Array(size).fill('sent'),
        );
      });
    }

    it(
      `${tdb.label}: a first try claims fresh rows with a plain insert, and falls back to the full claim `
        + `when any row exists`,
      async () => {
        const db = await tdb.open();
        const campaign = uniqueName('cmp');
        const list = recipients(campaign, 6);
        const fresh = await claimAll(db, campaign, 0, list.slice(0, 3), 'sandbox', T0, new Date(0), 'sending', true);
        assert.deepEqual(
          [...fresh.values()].map((c) => c.attempt),
          [1, 1, 1],
        );
        // rows 0-2 exist (sending): a first try of the whole list must not fail nor claim them again
        const mixed = await claimAll(db, campaign, 1, list, 'sandbox', LATER, LATER, 'sending', true);
        assert.deepEqual(
          [...mixed.keys()].sort(),
          list
            .slice(3)
            .map((r) => r.contactId)
            .sort(),
        );
        const after = await states(db, campaign);
        assert.deepEqual(
          list.map((r) => [after.get(r.contactId)!.state, after.get(r.contactId)!.attempts]),
          Array(6).fill(['sending', 1]),
        );
        // a retry row is claimed again through the fallback, with the next claim number
        await db.query(`update send_ledger set state = 'retry' where campaign_id = $1 and contact_id = $2`, [
          campaign,
          list[0]!.contactId,
        ]);
        const again = await claimAll(db, campaign, 0, list.slice(0, 1), 'sandbox', LATER, new Date(0), 'sending', true);
        assert.deepEqual(
          [...again.values()].map((c) => c.attempt),
          [2],
        );
      },
    );

    it(
      `${tdb.label}: a first try records exclusions with a plain insert, and an existing row still wins when `
        + `one exists`,
      async () => {
        const db = await tdb.open();
        const campaign = uniqueName('cmp');
        const list = recipients(campaign, 4);
        const excluded = (rows: typeof list, reason: string) =>
          rows.map((r) => ({ contactId: r.contactId, email: r.email, state: 'suppressed' as const, reason }));
        await recordExclusions(db, campaign, 0, excluded(list.slice(0, 2), 'first'), T0, { firstTry: true });
        await claimAll(db, campaign, 0, list.slice(2, 3), 'sandbox', T0, new Date(0), 'sending', true);
        // rows 0-2 exist: the plain insert fails as a whole, the fallback adds only row 3
        await recordExclusions(db, campaign, 1, excluded(list, 'second'), LATER, { firstTry: true });
        const after = await states(db, campaign);
        assert.deepEqual(
          list.map((r) => after.get(r.contactId)!.state),
          ['suppressed', 'suppressed', 'sending', 'suppressed'],
        );
        const { rows } = await db.query<{ contact_id: string; reason: string | null }>(
          'select contact_id, reason from send_ledger where campaign_id = $1 order by contact_id',
          [campaign],
        );
        assert.deepEqual(
          rows.map((r) => r.reason),
          ['first', 'first', null, 'second'],
        );
      },
    );

    it(
      `${tdb.label}: one statement commits some claims and ` + `confirms others; each step only from its own state`,
      async () => {
        const db = await tdb.open();
        const campaign = uniqueName('cmp');
        const list = recipients(campaign, 4);
        const [a, b, c, d] = list.map((r) => r.contactId) as [string, string, string, string];
        const claims = await claimAll(db, campaign, 0, list, 'smtp', T0, new Date(0));
        const first = await commitOrConfirm(
          db,
          campaign,
          [
            { contactId: a, ...claims.get(a)!, to: 'sending' },
            { contactId: b, ...claims.get(b)!, to: 'sending' },
          ],
          T0,
        );
        assert.deepEqual([...first.keys()].sort(), [a, b].sort());
        const step = await commitOrConfirm(
          db,
          campaign,
          [
            { contactId: a, attempt: 1, row: first.get(a)!, to: 'sent', espMessageId: 'esp-a' }, // accepted
            { contactId: b, attempt: 1, row: first.get(b)!, to: 'sending' }, // committed already: refused
            { contactId: c, ...claims.get(c)!, to: 'sending' }, // committed now
            { contactId: d, ...claims.get(d)!, to: 'sent', espMessageId: 'esp-d' }, // never committed: not sent
          ],
          LATER,
        );
        assert.deepEqual([...step.keys()].sort(), [a, c].sort());
        const after = await states(db, campaign);
        assert.deepEqual(
          list.map((r) => [after.get(r.contactId)!.state, after.get(r.contactId)!.esp]),
          [
            ['sent', 'esp-a'],
            ['sending', null],
            ['sending', null],
            ['rendered', null],
          ],
        );
      },
    );

    for (const size of [5, 150]) {
      it(
        `${tdb.label}, ${size} rows: a row marked unknown by a redelivered chunk is still confirmed when its `
          + `slow worker's answer arrives`,
        async () => {
          const db = await tdb.open();
          const campaign = uniqueName('cmp');
          const list = recipients(campaign, size);
          const claims = await claimAll(db, campaign, 0, list, 'sandbox', T0, new Date(0), 'sending');
          assert.equal(
            await markInDoubt(
              db,
              campaign,
              list.slice(0, 2).map((r) => r.contactId),
              LATER,
            ),
            2,
          );
          // the old row versions are gone: the confirmation falls back to the key
          await confirm(
            db,
            campaign,
            [...claims].map(([contactId, c]) => ({ contactId, ...c, espMessageId: `esp-${contactId}` })),
            LATER,
          );
          const after = await states(db, campaign);
          for (const r of list)
            assert.deepEqual(after.get(r.contactId), {
              state: 'sent',
              attempts: 1,
              esp: `esp-${r.contactId}`,
              error: null,
            });
        },
      );
    }

    it(
      `${tdb.label}: a claim taken over by another worker ` + `is neither committed nor failed by the first one`,
      async () => {
        const db = await tdb.open();
        const campaign = uniqueName('cmp');
        const list = recipients(campaign, 4);
        const first = await claimAll(db, campaign, 0, list, 'smtp', T0, new Date(0));
        // the first worker looks dead: its `rendered` claims are older than the stale limit
        const second = await claimAll(db, campaign, 0, list, 'smtp', LATER, LATER);
        assert.deepEqual(
          [...second.values()].map((c) => c.attempt),
          [2, 2, 2, 2],
        );
        const late = await commitOrConfirm(
          db,
          campaign,
          held(first).map((c) => ({ ...c, to: 'sending' as const })),
          LATER,
        );
        assert.equal(late.size, 0, 'claim number 1 no longer holds any row');
        await recordFailures(
          db,
          campaign,
          [...first].map(([contactId, c]) => ({ contactId, ...c, state: 'failed' as const, error: 'late' })),
          LATER,
        );
        assert.deepEqual(
          [...(await states(db, campaign)).values()].map((s) => s.state),
          Array(4).fill('rendered'),
        );
        // the new owner's failures are recorded with the reason
        await recordFailures(
          db,
          campaign,
          [...second].map(([contactId, c], i) => ({
            contactId,
            ...c,
            state: i === 0 ? ('failed' as const) : ('retry' as const),
            error: `ESP_UNAVAILABLE: try ${i}`,
          })),
          LATER,
        );
        const after = await states(db, campaign);
        assert.deepEqual(
          list.map((r) => after.get(r.contactId)!.state),
          ['failed', 'retry', 'retry', 'retry'],
        );
        assert.equal(after.get(list[0]!.contactId)!.error, 'ESP_UNAVAILABLE: try 0');
      },
    );

    it(
      `${tdb.label}: a redelivered chunk takes over claims nobody committed, however young; the old holder `
        + `can neither commit nor fail them`,
      async () => {
        const db = await tdb.open();
        const campaign = uniqueName('cmp');
        const list = recipients(campaign, 3);
        const first = await claimAll(db, campaign, 0, list, 'smtp', T0, new Date(0));
        // a first delivery meeting young `rendered` rows leaves them to their holder
        assert.equal((await claimAll(db, campaign, 0, list, 'smtp', T0, new Date(0))).size, 0);
        const second = await claimAll(db, campaign, 0, list, 'smtp', T0, new Date(0), 'rendered', false, true);
        assert.deepEqual(
          [...second.values()].map((c) => c.attempt),
          [2, 2, 2],
        );
        assert.equal(
          (
            await commitOrConfirm(
              db,
              campaign,
              held(first).map((c) => ({ ...c, to: 'sending' as const })),
              T0,
            )
          ).size,
          0,
        );
        assert.equal(
          await recordFailures(
            db,
            campaign,
            held(first).map((c) => ({ ...c, state: 'failed' as const, error: 'late' })),
            T0,
          ),
          0,
        );
        const committed = await commitOrConfirm(
          db,
          campaign,
          held(second).map((c) => ({ ...c, to: 'sending' as const })),
          T0,
        );
        assert.equal(committed.size, 3);
        // committed rows are no longer claimable, not even by a redelivery: they are in doubt
        assert.equal((await claimAll(db, campaign, 0, list, 'smtp', LATER, LATER, 'rendered', false, true)).size, 0);
        assert.equal(
          await markInDoubt(
            db,
            campaign,
            list.map((r) => r.contactId),
            LATER,
          ),
          3,
        );
        const { rows } = await db.query<{ reason: string }>(
          'select distinct reason from send_ledger where campaign_id = $1',
          [campaign],
        );
        assert.deepEqual(
          rows.map((r) => r.reason),
          ['an earlier attempt committed it but its provider answer was not recorded'],
        );
      },
    );

    it(
      `${tdb.label}: a redelivered chunk's exclusions replace uncommitted claims; a first delivery's leave ` + `them`,
      async () => {
        const db = await tdb.open();
        const campaign = uniqueName('cmp');
        const list = recipients(campaign, 3);
        const claims = await claimAll(db, campaign, 0, list, 'smtp', T0, new Date(0));
        await commitOrConfirm(
          db,
          campaign,
          held(claims)
            .slice(0, 1)
            .map((c) => ({ ...c, to: 'sending' as const })),
          T0,
        );
        const suppress = list.map((r) => ({
          contactId: r.contactId,
          email: r.email,
          state: 'suppressed' as const,
          reason: 'unsubscribed',
        }));
        assert.equal(await recordExclusions(db, campaign, 0, suppress, T0), 0);
        assert.equal(
          await recordExclusions(db, campaign, 0, suppress, T0, { redelivered: true }),
          2,
          'the committed row stays',
        );
        assert.deepEqual(
          await findUnsettled(
            db,
            campaign,
            list.map((r) => r.contactId),
          ),
          [list[0]!.contactId],
        );
        assert.equal(
          (
            await commitOrConfirm(
              db,
              campaign,
              held(claims)
                .slice(1)
                .map((c) => ({ ...c, to: 'sending' as const })),
              T0,
            )
          ).size,
          0,
        );
      },
    );

    it(`${tdb.label}: a slow worker's refusal of a row a redelivery put in doubt settles it as failed`, async () => {
      const db = await tdb.open();
      const campaign = uniqueName('cmp');
      const list = recipients(campaign, 2);
      const claims = await claimAll(db, campaign, 0, list, 'sandbox', T0, new Date(0), 'sending');
      assert.equal(
        await markInDoubt(
          db,
          campaign,
          list.map((r) => r.contactId),
          LATER,
        ),
        2,
      );
      assert.equal(
        await recordFailures(
          db,
          campaign,
          held(claims).map((c) => ({ ...c, state: 'failed' as const, error: 'ESP_RECIPIENT_REJECTED: no such user' })),
          LATER,
        ),
        2,
      );
      assert.deepEqual(
        [...(await states(db, campaign)).values()].map((s) => s.state),
        ['failed', 'failed'],
      );
    });

    it(
      `${tdb.label}: reported outcomes move sent rows ` + `once; a bounce follows a delivery; exclusions stay`,
      async () => {
        const db = await tdb.open();
        const campaign = uniqueName('cmp');
        const list = recipients(campaign, 3);
        const claims = await claimAll(db, campaign, 0, list.slice(0, 2), 'sandbox', T0, new Date(0), 'sending');
        await confirm(
          db,
          campaign,
          held(claims).map((c) => ({ ...c, espMessageId: `esp-${c.contactId}` })),
          T0,
        );
        await recordExclusions(
          db,
          campaign,
          0,
          [{ contactId: list[2]!.contactId, email: list[2]!.email, state: 'suppressed', reason: 'unsubscribed' }],
          T0,
        );
        const [a, b, c] = list.map((r) => r.contactId) as [string, string, string];
        const delivered = [a, b, c].map((contactId) => ({
          campaignId: campaign,
          contactId,
          state: 'delivered' as const,
          reason: null,
        }));
        assert.equal(
          await recordOutcomes(db, delivered, LATER),
          2,
          'the suppressed row is no send and gets no outcome',
        );
        assert.equal(
          await recordOutcomes(db, [{ campaignId: campaign, contactId: b, state: 'bounced', reason: '5.1.1' }], LATER),
          1,
        );
        assert.equal(
          await recordOutcomes(db, [{ campaignId: campaign, contactId: b, state: 'delivered', reason: null }], LATER),
          0,
          'a late delivery does not undo a bounce',
        );
        const after = await states(db, campaign);
        assert.deepEqual(
          [a, b, c].map((id) => after.get(id)!.state),
          ['delivered', 'bounced', 'suppressed'],
        );
      },
    );
  });
}
