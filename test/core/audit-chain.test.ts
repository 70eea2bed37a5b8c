import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  canonicalAuditText,
  checkChain,
  GENESIS_HASH,
  type AuditEntry,
  type ChainedAuditEntry,
} from '../../src/core/audit-chain.ts';

const sha = (t: string): string => createHash('sha256').update(t).digest('hex');

function chain(entries: AuditEntry[]): ChainedAuditEntry[] {
  let prev = GENESIS_HASH;
  return entries.map((e) => {
    const hash = sha(canonicalAuditText(prev, e));
    const row = { ...e, prevHash: prev, hash };
    prev = hash;
    return row;
  });
}

const entry = fc.record({
  actorKeyId: fc.option(fc.string(), { nil: null }),
  actorName: fc.string(),
  role: fc.option(fc.string(), { nil: null }),
  action: fc.string(),
  target: fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
  sourceIp: fc.option(fc.string(), { nil: null }),
  outcome: fc.integer({ min: 100, max: 599 }),
  at: fc.date({ min: new Date(0), max: new Date('2100-01-01'), noInvalidDate: true }),
});
const entries = fc.array(entry, { minLength: 1, maxLength: 8 }).map((es) => es.map((e, i) => ({ ...e, id: i + 1 })));

describe('audit hash chain', () => {
  it('an untouched chain verifies, also a page at a time', () => {
    fc.assert(
      fc.property(entries, fc.nat(), (es, cut) => {
        const rows = chain(es);
        const whole = checkChain(rows, sha);
        assert.deepEqual(whole, { ok: true, rows: rows.length, lastHash: rows[rows.length - 1]!.hash });
        const k = cut % rows.length;
        const first = checkChain(rows.slice(0, k), sha);
        assert.ok(first.ok);
        assert.deepEqual(checkChain(rows.slice(k), sha, first), whole);
      }),
    );
  });

  it('changing any one field of any row is detected at that row', () => {
    const fields = ['actorKeyId', 'actorName', 'role', 'action', 'target', 'sourceIp', 'outcome', 'at', 'id'] as const;
    fc.assert(
      fc.property(entries, fc.nat(), fc.constantFrom(...fields), (es, pick, field) => {
        const rows = chain(es);
        const i = pick % rows.length;
        const r = rows[i]!;
        const changed: ChainedAuditEntry = { ...r };
        switch (field) {
          case 'outcome':
            changed.outcome = r.outcome + 1;
            break;
          case 'id':
            changed.id = r.id + 100;
            break;
          case 'at':
            changed.at = new Date(r.at.getTime() + 1);
            break;
          case 'target':
            changed.target = { ...r.target, injected: 'x' };
            break;
          default:
            (changed as unknown as Record<string, unknown>)[field] = `${String(r[field])}x`;
        }
        rows[i] = changed;
        const check = checkChain(rows, sha);
        assert.equal(check.ok, false);
        assert.equal(!check.ok && check.brokenId, changed.id);
      }),
    );
  });

  it('a deleted or swapped row breaks the link of the row after it', () => {
    const rows = chain(
      [1, 2, 3].map((id) => ({
        id,
        at: new Date(0),
        actorKeyId: null,
        actorName: 'a',
        role: null,
        action: 'x',
        target: {},
        sourceIp: null,
        outcome: 200,
      })),
    );
    const gone = checkChain([rows[0]!, rows[2]!], sha);
    assert.deepEqual(gone, { ok: false, rows: 1, brokenId: 3, reason: 'prev_hash' });
    const swapped = checkChain([rows[1]!, rows[0]!, rows[2]!], sha);
    assert.equal(!swapped.ok && swapped.brokenId, 2);
  });
});
