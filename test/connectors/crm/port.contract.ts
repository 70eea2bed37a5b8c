/**
 * The CRM port's contract, from its doc comment; every CRM adapter (demo now, HubSpot and
 * Salesforce later against local vendor-shaped servers) must pass it. The harness names ids
 * the far side knows and one it does not.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Crm } from '../../../src/connectors/crm/port.ts';

export interface CrmHarness {
  crm: Crm;
  /** Fresh ids (unique to this call) the CRM knows. */
  knownIds(n: number): string[];
  /** An id the CRM does not know. */
  unknownId: string;
  /** Moves the clock when the adapter simulates latency (no-op otherwise). */
  run<T>(p: Promise<T>): Promise<T>;
  /**
   * Makes the far side refuse engagement writes for this known id with this message, as a vendor
   * batch refuses one record (HubSpot 207, Salesforce per-record errors). Absent where the CRM
   * cannot refuse a single record (demo): that contract test is then skipped.
   */
  refuseEngagement?(contactId: string, message: string): void;
  /**
   * Seeds one deal on the far side: amount as the CRM's decimal text, closed (won unless `won`
   * is false) at midnight UTC of `closedAt`, with these known contacts on the deal and, when
   * `accountContactIds` is given, an account holding those contacts. Returns the CRM's deal id.
   * Absent where the harness cannot seed deals: that contract test is then skipped.
   */
  addDeal?(deal: {
    amount: string;
    closedAt: Date;
    won?: boolean;
    dealContactIds: string[];
    accountContactIds?: string[];
  }): Promise<string>;
  /**
   * Changes a seeded deal on the far side as a salesperson would (a new amount, moved out of or
   * back into closed-won), later than every change so far, so its modification stamp is the newest.
   * Absent where the harness cannot change deals: that contract test is then skipped.
   */
  changeDeal?(dealId: string, change: { amount?: string; won?: boolean }): Promise<void>;
  /** The fields the far side holds for this known contact (vendor names, as stored there). */
  fieldsOf(contactId: string): Promise<Record<string, unknown>>;
}

export function crmContract(label: string, setup: (t: TestContext) => Promise<CrmHarness | null>): void {
  crmErasureContract(label, setup);
  crmDealsContract(label, setup);
  crmDealChangesContract(label, setup);
  test(`${label}: lookup returns known ids and leaves unknown ones out`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const ids = h.knownIds(3);
    const found = await h.run(h.crm.lookup([...ids, h.unknownId, ids[0] as string]));
    assert.deepEqual([...found.keys()].sort(), [...ids].sort());
    const record = found.get(ids[0] as string);
    assert.equal(record?.contactId, ids[0]);
    assert.equal(typeof record?.accountStatus, 'string');
    assert.equal(typeof record?.tier, 'string');
    assert.equal(record?.optedOut, false);
  });

  test(`${label}: engagement updates are idempotent and never regress to an older engagement`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const [a, b] = h.knownIds(2) as [string, string];
    const newer = new Date('2026-03-02T10:00:00Z');
    const older = new Date('2026-03-01T10:00:00Z');
    assert.deepEqual(
      await h.run(
        h.crm.updateEngagement([
          { contactId: a, score: 70, lastEngagedAt: newer },
          { contactId: h.unknownId, score: 5, lastEngagedAt: newer },
        ]),
      ),
      { updated: 1 },
    );
    await h.run(h.crm.updateEngagement([{ contactId: a, score: 70, lastEngagedAt: newer }]));
    await h.run(
      h.crm.updateEngagement([
        { contactId: a, score: 10, lastEngagedAt: older },
        { contactId: b, score: 33, lastEngagedAt: older },
      ]),
    );
    const found = await h.run(h.crm.lookup([a, b]));
    assert.equal(found.get(a)?.engagementScore, 70);
    assert.deepEqual(found.get(a)?.lastEngagedAt, newer);
    assert.equal(found.get(b)?.engagementScore, 33);
  });

  test(`${label}: opt-outs are confirmed by email and show on the record; opting in again reverses it`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const [a] = h.knownIds(1) as [string];
    const email = `${a}@example.com`;
    const res = await h.run(
      h.crm.setOptOut([
        { contactId: a, email, optedOut: true, reason: 'unsubscribe link' },
        { email: `stranger-${a}@example.org`, optedOut: true, reason: 'DSR opt-out' },
      ]),
    );
    assert.deepEqual(res.confirmed, [email, `stranger-${a}@example.org`]);
    assert.equal((await h.run(h.crm.lookup([a]))).get(a)?.optedOut, true);
    await h.run(h.crm.setOptOut([{ contactId: a, email, optedOut: true, reason: 'unsubscribe link' }]));
    await h.run(h.crm.setOptOut([{ contactId: a, email, optedOut: false, reason: 're-subscribed' }]));
    assert.equal((await h.run(h.crm.lookup([a]))).get(a)?.optedOut, false);
  });

  test(`${label}: createTask returns an id; the same dedupeKey returns the same task`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const [a] = h.knownIds(1) as [string];
    const task = {
      contactId: a,
      kind: 'reply-follow-up',
      title: 'Asked about pricing',
      body: 'Reply classified as pricing intent',
      dedupeKey: `reply:${a}`,
    };
    const first = await h.run(h.crm.createTask(task));
    const again = await h.run(h.crm.createTask(task));
    const other = await h.run(h.crm.createTask({ ...task, dedupeKey: undefined }));
    assert.ok(first.id.length > 0);
    assert.equal(again.id, first.id);
    assert.notEqual(other.id, first.id);
  });

  test(`${label}: a record the vendor refuses in a batch fails alone, with the vendor's message`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    if (h.refuseEngagement === undefined) return t.skip('this CRM never refuses a single record');
    const [good, bad] = h.knownIds(2) as [string, string];
    h.refuseEngagement(bad, 'value out of range for this field');
    const at = new Date('2026-03-03T10:00:00Z');
    const res = await h.run(
      h.crm.updateEngagement([
        { contactId: good, score: 50, lastEngagedAt: at },
        { contactId: bad, score: 51, lastEngagedAt: at },
      ]),
    );
    assert.equal(res.updated, 1);
    assert.deepEqual(res.failed, [{ key: bad, message: 'value out of range for this field' }]);
    const found = await h.run(h.crm.lookup([good, bad]));
    assert.equal(found.get(good)?.engagementScore, 50);
    assert.equal(found.get(bad)?.engagementScore, undefined);
  });

  test(`${label}: field updates set fields, repeat harmlessly, clear with null; unknown ids not updated`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const [a] = h.knownIds(1) as [string];
    const fields = { Journey_Stage__c: 'trial-nudged', Journey_Score__c: 5, Journey_Hot__c: true };
    assert.deepEqual(await h.run(h.crm.updateFields({ contactId: a, fields })), { updated: true });
    assert.deepEqual(await h.run(h.crm.updateFields({ contactId: a, fields })), { updated: true });
    const held = await h.fieldsOf(a);
    // vendors differ in types (HubSpot properties are strings): compare as text
    for (const [k, v] of Object.entries(fields)) assert.equal(String(held[k]), String(v), k);
    await h.run(h.crm.updateFields({ contactId: a, fields: { Journey_Stage__c: null } }));
    const cleared = (await h.fieldsOf(a)).Journey_Stage__c;
    assert.ok(cleared === undefined || cleared === null || cleared === '', `cleared: ${String(cleared)}`);
    assert.equal(String((await h.fieldsOf(a)).Journey_Score__c), '5', 'other fields stay');
    assert.deepEqual(await h.run(h.crm.updateFields({ contactId: h.unknownId, fields })), { updated: false });
    const err = await h.run(h.crm.updateFields({ contactId: a, fields: {} })).catch((e: unknown) => e);
    assert.equal((err as { code: string }).code, 'VALIDATION_FAILED');
  });

  test(`${label}: a field update the vendor refuses is a permanent VALIDATION_FAILED with its message`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    if (h.refuseEngagement === undefined) return t.skip('this CRM never refuses a single record');
    const [bad] = h.knownIds(1) as [string];
    h.refuseEngagement(bad, 'Journey_Stage__c is read-only');
    const err = (await h
      .run(h.crm.updateFields({ contactId: bad, fields: { Journey_Stage__c: 'x' } }))
      .catch((e: unknown) => e)) as { code: string; retryable: boolean; message: string };
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.equal(err.retryable, false);
    assert.match(err.message, /read-only/);
  });

  test(`${label}: more than maxBatchSize items in one call is VALIDATION_FAILED`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const ids = Array.from({ length: h.crm.maxBatchSize + 1 }, (_, i) => `too-many-${i}`);
    const err = await h.run(h.crm.lookup(ids)).catch((e: unknown) => e);
    assert.equal((err as { code: string }).code, 'VALIDATION_FAILED');
    assert.ok(h.crm.rateLimit.requests >= 1 && h.crm.rateLimit.perMs > 0);
  });
}

/** Erasure (data-subject requests): by email, idempotent, unknown addresses reported as not found. */
export function crmErasureContract(label: string, setup: (t: TestContext) => Promise<CrmHarness | null>): void {
  test(`${label}: eraseContacts erases by email; a repeat and a stranger are not found`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    const [a] = h.knownIds(1) as [string];
    const email = `${a}@example.com`;
    // the demo CRM holds addresses only through opt-outs: give every CRM the address the same way
    await h.run(h.crm.setOptOut([{ contactId: a, email, optedOut: true, reason: 'DSR erasure test' }]));
    const stranger = `stranger-${a}@example.org`;
    const res = await h.run(h.crm.eraseContacts([email.toUpperCase(), stranger]));
    assert.deepEqual(res.erased, [email]);
    assert.deepEqual(res.notFound, [stranger]);
    assert.equal(res.failed, undefined);
    const again = await h.run(h.crm.eraseContacts([email]));
    assert.deepEqual(again, { erased: [], notFound: [email] });
  });
}

/** Closed-won deals (revenue attribution): amounts, close dates, contacts, keyset paging. */
export function crmDealsContract(label: string, setup: (t: TestContext) => Promise<CrmHarness | null>): void {
  test(`${label}: closed-won deals come oldest first with the deal's and account's contacts, paged`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    if (h.addDeal === undefined) return t.skip('this harness cannot seed deals');
    const [a, b, c, d] = h.knownIds(4) as [string, string, string, string];
    const day = (n: number) => new Date(Date.UTC(2031, 0, n));
    const x = await h.addDeal({ amount: '1200.50', closedAt: day(3), dealContactIds: [a], accountContactIds: [b, a] });
    const y = await h.addDeal({ amount: '99', closedAt: day(2), dealContactIds: [c] });
    const z = await h.addDeal({ amount: '10', closedAt: day(3), dealContactIds: [], accountContactIds: [d] });
    const open = await h.addDeal({ amount: '5', closedAt: day(4), won: false, dealContactIds: [a] });
    const old = await h.addDeal({ amount: '7', closedAt: day(1), dealContactIds: [a] });
    const ours = new Set([x, y, z, open, old]);
    const seen: Awaited<ReturnType<typeof h.crm.readClosedWonDeals>>['deals'] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await h.run(h.crm.readClosedWonDeals({ since: day(2), limit: 2, ...(after ? { after } : {}) }));
      assert.ok(page.deals.length <= 2);
      seen.push(...page.deals.filter((deal) => ours.has(deal.dealId)));
      after = page.next ?? after;
      if (!page.more) break;
    }
    // y closed first; x and z on the same day, in the CRM's id order
    assert.equal(seen[0]?.dealId, y);
    assert.deepEqual(
      seen
        .slice(1)
        .map((deal) => deal.dealId)
        .sort(),
      [x, z].sort(),
    );
    assert.equal(seen.length, 3, 'open and older deals are left out');
    const [dy, dx, dz] = [y, x, z].map((id) => seen.find((deal) => deal.dealId === id));
    assert.equal(dx?.amountMinor, 120050);
    assert.deepEqual(dx?.closedAt, day(3));
    assert.ok(dx?.accountId);
    assert.deepEqual(dx?.dealContactIds, [a]);
    assert.deepEqual(dx?.accountContactIds, [a, b].sort());
    assert.match(dx?.currency ?? '', /^[a-z]{3}$/);
    assert.equal(dy?.amountMinor, 9900);
    assert.equal(dy?.accountId, undefined);
    assert.deepEqual(dy?.accountContactIds, []);
    assert.deepEqual(dy?.dealContactIds, [c]);
    assert.deepEqual(dz?.accountContactIds, [d]);
    // the final position is durable: reading after it finds none of these again
    const again = await h.run(h.crm.readClosedWonDeals({ since: day(2), limit: 50, ...(after ? { after } : {}) }));
    assert.deepEqual(
      again.deals.filter((deal) => ours.has(deal.dealId)),
      [],
    );
  });
  test(`${label}: more deals closing at one instant than a page holds are each read once`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    if (h.addDeal === undefined) return t.skip('this harness cannot seed deals');
    const [a] = h.knownIds(1) as [string];
    const at = new Date(Date.UTC(2031, 1, 1, 12));
    const made: string[] = [];
    for (let i = 0; i < 7; i++)
      made.push(await h.addDeal({ amount: String(i + 1), closedAt: at, dealContactIds: [a] }));
    const later = await h.addDeal({ amount: '8', closedAt: new Date(at.getTime() + 1), dealContactIds: [a] });
    const ours = new Set([...made, later]);
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await h.run(h.crm.readClosedWonDeals({ since: at, limit: 3, ...(after ? { after } : {}) }));
      assert.ok(page.deals.length <= 3);
      seen.push(...page.deals.map((deal) => deal.dealId).filter((id) => ours.has(id)));
      after = page.next ?? after;
      if (!page.more) break;
    }
    assert.deepEqual([...seen].sort(), [...ours].sort(), 'each deal once');
    assert.equal(seen.at(-1), later, 'the later deal after every tied one');
  });
}

/** Deals by modification (the deal poller): every stage, won ones detailed, keyset by modification. */
export function crmDealChangesContract(label: string, setup: (t: TestContext) => Promise<CrmHarness | null>): void {
  test(`${label}: changed deals come by modification, won ones with their contacts, resumable`, async (t) => {
    const h = await setup(t);
    if (h === null) return;
    if (h.addDeal === undefined || h.changeDeal === undefined) return t.skip('this harness cannot change deals');
    const [a, b, c] = h.knownIds(3) as [string, string, string];
    const day = (n: number) => new Date(Date.UTC(2031, 0, n));
    const x = await h.addDeal({ amount: '100', closedAt: day(3), dealContactIds: [a], accountContactIds: [b, a] });
    const y = await h.addDeal({ amount: '50.25', closedAt: day(2), dealContactIds: [c] });
    const open = await h.addDeal({ amount: '5', closedAt: day(4), won: false, dealContactIds: [a] });
    const ours = new Set([x, y, open]);
    const until = new Date(Date.UTC(2100, 0, 1));
    const readAll = async (from: string | undefined) => {
      const seen: Awaited<ReturnType<typeof h.crm.readChangedDeals>>['changes'] = [];
      let after = from;
      for (let pages = 0; pages < 200; pages++) {
        const page = await h.run(h.crm.readChangedDeals({ until, limit: 2, ...(after ? { after } : {}) }));
        assert.ok(page.changes.length <= 2);
        for (let i = 1; i < page.changes.length; i++)
          assert.ok(page.changes[i - 1]!.modifiedAt <= page.changes[i]!.modifiedAt, 'oldest modification first');
        seen.push(...page.changes.filter((ch) => ours.has(ch.dealId)));
        after = page.next ?? after;
        if (!page.more) break;
      }
      return { seen, after };
    };
    const first = await readAll(undefined);
    const byId = (id: string) => first.seen.find((ch) => ch.dealId === id);
    assert.equal(byId(x)?.won?.amountMinor, 10_000);
    assert.deepEqual(byId(x)?.won?.dealContactIds, [a]);
    assert.deepEqual(byId(x)?.won?.accountContactIds, [a, b].sort());
    assert.ok(byId(x)?.won?.accountId);
    assert.equal(byId(y)?.won?.amountMinor, 5025);
    assert.deepEqual(byId(y)?.won?.closedAt, day(2));
    assert.equal(byId(open)?.won, undefined, 'a deal that is not won has no detail');
    // a new amount and a deal moved out of closed-won come after the position, and nothing else of ours
    await h.changeDeal(x, { amount: '120' });
    await h.changeDeal(y, { won: false });
    const second = await readAll(first.after);
    assert.deepEqual(second.seen.map((ch) => ch.dealId).sort(), [x, y].sort());
    const [cx, cy] = [x, y].map((id) => second.seen.find((ch) => ch.dealId === id));
    assert.equal(cx?.won?.amountMinor, 12_000);
    assert.ok((cx?.modifiedAt.getTime() ?? 0) > (byId(x)?.modifiedAt.getTime() ?? 0));
    assert.equal(cy?.won, undefined);
    assert.deepEqual((await readAll(second.after)).seen, []);
    // `until` leaves recent changes for later: nothing modified at or after it is read
    const early = await h.run(h.crm.readChangedDeals({ until: new Date(0), limit: 2 }));
    assert.deepEqual(early.changes, []);
  });
}
