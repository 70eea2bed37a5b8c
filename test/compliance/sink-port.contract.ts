/**
 * The suppression-sink port contract (src/compliance/sink-port.ts): every SuppressionSink adapter
 * runs this suite. The harness gives the sink and a look at the far side: does the system now
 * hold the address as suppressed?
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { SuppressionSink } from '../../src/compliance/sink-port.ts';

export interface SinkHarness {
  sink: SuppressionSink;
  /** True when the far side records `email` as suppressed. */
  holds(email: string): Promise<boolean>;
}

const address = (): string => `sink.${randomBytes(5).toString('hex')}@example.com`;

export function suppressionSinkContract(label: string, setup: () => Promise<SinkHarness>): void {
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
}
