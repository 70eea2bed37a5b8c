/**
 * The suppression-sink port contract (src/compliance/sink-port.ts): every SuppressionSink adapter
 * runs this suite. The harness gives the sink and a look at the far side: does the system now
 * hold the address as suppressed?
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { SuppressionSink } from '../../src/compliance/sink-port.ts';
import { isSwitchyardError } from '../../src/core/errors.ts';

export interface SinkHarness {
  sink: SuppressionSink;
  /** True when the far side records `email` as suppressed. */
  holds(email: string): Promise<boolean>;
  /** Stops the far side (a local server). */
  close?(): Promise<void>;
  /** Far sides that rate-limit: answer the next n requests "slow down, retry after s seconds". */
  throttleNext?(n: number, retryAfterSec: number): void;
  /** An address the far side refuses for good (invalid), for far sides that validate. */
  refusedAddress?: string;
}

const address = (): string => `sink.${randomBytes(5).toString('hex')}@example.com`;

export function suppressionSinkContract(label: string, open: () => Promise<SinkHarness>): void {
  const opened: SinkHarness[] = [];
  const setup = async (): Promise<SinkHarness> => {
    const h = await open();
    opened.push(h);
    return h;
  };
  after(async () => {
    await Promise.all(opened.map((h) => h.close?.()));
  });

  it(`${label}: confirms what it recorded, and the far side holds every confirmed address`, async () => {
    const h = await setup();
    const items = [
      { email: address(), reason: 'unsubscribed', contactId: 'c_1' },
      { email: address(), reason: 'bounced_hard' },
    ];
    const { confirmed } = await h.sink.suppress(items);
    assert.deepEqual([...confirmed].sort(), items.map((i) => i.email).sort());
    for (const i of items) assert.equal(await h.holds(i.email), true, `${i.email} recorded`);
  });

  it(`${label}: is idempotent — the same items again confirm again and fail nothing`, async () => {
    const h = await setup();
    const items = [{ email: address(), reason: 'complained' }];
    await h.sink.suppress(items);
    const again = await h.sink.suppress(items);
    assert.deepEqual(again.confirmed, [items[0]!.email]);
    assert.equal(await h.holds(items[0]!.email), true);
  });

  it(`${label}: an empty batch confirms nothing`, async () => {
    const h = await setup();
    assert.deepEqual((await h.sink.suppress([])).confirmed, []);
  });

  it(`${label}: has a non-empty stable name`, async () => {
    const h = await setup();
    assert.ok(typeof h.sink.name === 'string' && h.sink.name.length > 0);
    assert.equal((await setup()).sink.name, h.sink.name);
  });

  it(`${label}: a rate limit confirms nothing unrecorded, says when to retry, and the retry confirms`, async (t) => {
    const h = await setup();
    if (h.throttleNext === undefined) return t.skip('the far side never rate-limits');
    const email = address();
    h.throttleNext(1, 7);
    let retryAfterMs: number | undefined;
    try {
      const r = await h.sink.suppress([{ email, reason: 'unsubscribed' }]);
      assert.deepEqual(r.confirmed, []);
      retryAfterMs = r.retryAfterMs;
    } catch (err) {
      assert.ok(isSwitchyardError(err) && err.retryable, `a rate limit is retryable: ${String(err)}`);
      retryAfterMs = err.retryAfterMs;
    }
    assert.equal(retryAfterMs, 7000);
    assert.deepEqual((await h.sink.suppress([{ email, reason: 'unsubscribed' }])).confirmed, [email]);
    assert.equal(await h.holds(email), true);
  });

  it(`${label}: an address the far side refuses is never confirmed, and the refusal is permanent`, async (t) => {
    const h = await setup();
    if (h.refusedAddress === undefined) return t.skip('the far side takes any address');
    const good = address();
    const bad = h.refusedAddress;
    try {
      const r = await h.sink.suppress([
        { email: bad, reason: 'manual' },
        { email: good, reason: 'manual' },
      ]);
      assert.ok(!r.confirmed.includes(bad));
      assert.deepEqual(
        r.rejected?.map((x) => x.email),
        [bad],
      );
      assert.deepEqual(r.confirmed, [good]);
    } catch (err) {
      assert.ok(isSwitchyardError(err) && !err.retryable, `a refusal is permanent: ${String(err)}`);
    }
    const alone = await h.sink.suppress([{ email: good, reason: 'manual' }]);
    assert.deepEqual(alone.confirmed, [good]);
  });
}
