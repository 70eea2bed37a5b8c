import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createKeyedLimiter, type KeyedLimiter } from '../../../src/api/guards/keyed-limiter.ts';

function admit(l: KeyedLimiter, key: string, now: number): boolean {
  const r = l.check(key, now);
  if (r.ok) l.commit(key, now);
  return r.ok;
}

describe('keyed limiter', () => {
  it('admits a burst, then one per 60 000 / perMinute ms, with the wait to the next token', () => {
    const l = createKeyedLimiter({ perMinute: 60, burst: 3, maxKeys: 10 });
    assert.deepEqual(
      [admit(l, 'a', 0), admit(l, 'a', 0), admit(l, 'a', 0), admit(l, 'a', 0)],
      [true, true, true, false],
    );
    assert.deepEqual(l.check('a', 0), { ok: false, waitMs: 1000 });
    assert.equal(l.check('a', 400).waitMs, 600);
    assert.equal(admit(l, 'b', 0), true, 'another key has its own bucket');
    assert.equal(admit(l, 'a', 1000), true);
    assert.equal(admit(l, 'a', 1000), false);
  });

  it('perMinute 0 admits everything and remembers nothing', () => {
    const l = createKeyedLimiter({ perMinute: 0, burst: 1, maxKeys: 10 });
    for (let i = 0; i < 1000; i++) assert.equal(admit(l, `k${i % 3}`, 0), true);
    assert.equal(l.size(), 0);
  });

  it('refuses nonsense options', () => {
    assert.throws(() => createKeyedLimiter({ perMinute: -1, burst: 1, maxKeys: 1 }), RangeError);
    assert.throws(() => createKeyedLimiter({ perMinute: 1, burst: 0, maxKeys: 1 }), RangeError);
    assert.throws(() => createKeyedLimiter({ perMinute: 1, burst: 1, maxKeys: 0 }), RangeError);
  });

  it('memory is bounded: 100 000 distinct keys leave at most maxKeys buckets', () => {
    const l = createKeyedLimiter({ perMinute: 60, burst: 1, maxKeys: 1000 });
    for (let i = 0; i < 100_000; i++) admit(l, `fake-key-${i}`, i);
    assert.equal(l.size(), 1000);
  });

  it('a key that keeps knocking is not forgotten while others churn (no fresh bucket through eviction)', () => {
    const l = createKeyedLimiter({ perMinute: 1, burst: 1, maxKeys: 10 });
    assert.equal(admit(l, 'flooder', 0), true);
    for (let i = 0; i < 1000; i++) {
      admit(l, `churn-${i}`, 0);
      assert.equal(admit(l, 'flooder', 0), false, `flooder admitted again after ${i} churned keys`);
    }
  });

  it('property: no key is ever admitted more than burst + rate × elapsed in any window', () => {
    const event = fc.record({ dt: fc.integer({ min: 0, max: 5000 }), key: fc.integer({ min: 0, max: 3 }) });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(event, { maxLength: 300 }),
        (perMinute, burst, events) => {
          const l = createKeyedLimiter({ perMinute, burst, maxKeys: 100 });
          const admitted = new Map<number, number[]>();
          let now = 1_700_000_000_000;
          for (const e of events) {
            now += e.dt;
            if (admit(l, `k${e.key}`, now)) admitted.set(e.key, [...(admitted.get(e.key) ?? []), now]);
          }
          for (const times of admitted.values()) {
            for (let i = 0; i < times.length; i++) {
              for (let j = i; j < times.length; j++) {
                const allowed = burst + (perMinute * ((times[j] as number) - (times[i] as number))) / 60_000;
                assert.ok(j - i + 1 <= allowed + 1e-6, `${j - i + 1} admitted in a window allowing ${allowed}`);
              }
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('property: the number of remembered keys never exceeds maxKeys', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 300 }),
        (maxKeys, keys) => {
          const l = createKeyedLimiter({ perMinute: 6, burst: 1, maxKeys });
          keys.forEach((k, i) => {
            admit(l, `k${k}`, i * 10);
            assert.ok(l.size() <= maxKeys);
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});
