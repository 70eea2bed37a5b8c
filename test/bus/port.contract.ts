/**
 * The bus port contract: every Bus adapter (postgres-log now, NATS JetStream later) runs this suite.
 * Time is the manual clock; leases and backoff expire by advancing it, never by sleeping.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Bus, Delivery } from '../../src/bus/port.ts';
import { createConsumer } from '../../src/bus/consumer.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import type { Clock } from '../../src/clock/port.ts';
import { SwitchyardError } from '../../src/core/errors.ts';
import { uniqueName } from '../support/databases.ts';

export interface BusHarness {
  makeBus(clock: Clock): Bus;
}

const silent = pino({ level: 'silent' });
const opts = { max: 100, leaseMs: 30_000, maxAttempts: 3 };

function msgs(n: number, prefix = 'm'): { id: string; key: string; payload: { n: number } }[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, key: `k${i % 3}`, payload: { n: i } }));
}

export function busContract(
  label: string,
  setup: () => Promise<BusHarness>,
  onFailure: () => void = () => undefined,
): void {
  const test = (
    name: string,
    fn: (h: { bus: Bus; clock: ManualClock; topic: string; harness: BusHarness }) => Promise<void>,
  ): void => {
    it(`${label}: ${name}`, async () => {
      const harness = await setup();
      const clock = createManualClock();
      const bus = harness.makeBus(clock);
      try {
        await fn({ bus, clock, topic: uniqueName('topic').replaceAll('_', '.'), harness });
      } catch (err) {
        onFailure();
        throw err;
      } finally {
        await bus.close();
      }
    });
  };

  test('delivers every published message to a group, in publish order, payload intact', async ({ bus, topic }) => {
    await bus.ensureGroup({ topic, group: 'g' });
    assert.deepEqual(await bus.publish(topic, msgs(250)), { published: 250, duplicates: 0 });
    const seen: Delivery[] = [];
    for (;;) {
      const batch = await bus.fetch({ topic, group: 'g' }, opts);
      if (batch.messages.length === 0) break;
      seen.push(...batch.messages);
      await batch.settle(batch.messages.map(() => ({ kind: 'ack' })));
    }
    assert.deepEqual(
      seen.map((m) => (m.payload as { n: number }).n),
      Array.from({ length: 250 }, (_, i) => i),
    );
    assert.ok(seen.every((m) => m.attempt === 1 && m.topic === topic));
    assert.equal(seen[4]!.key, 'k1');
  });

  test('a republished id is a duplicate and is delivered once', async ({ bus, topic }) => {
    await bus.publish(topic, msgs(3));
    assert.deepEqual(await bus.publish(topic, [...msgs(3), { id: 'new', payload: { n: 9 } }]), {
      published: 1,
      duplicates: 3,
    });
    const batch = await bus.fetch({ topic, group: 'g' }, opts);
    assert.deepEqual(
      batch.messages.map((m) => m.id),
      ['m0', 'm1', 'm2', 'new'],
    );
  });

  test('each group gets every message; a late group still gets earlier ones', async ({ bus, topic }) => {
    await bus.ensureGroup({ topic, group: 'a' });
    await bus.publish(topic, msgs(5));
    const a = await bus.fetch({ topic, group: 'a' }, opts);
    const b = await bus.fetch({ topic, group: 'b' }, opts);
    assert.equal(a.messages.length, 5);
    assert.equal(b.messages.length, 5);
  });

  test('competing consumers of one group get disjoint messages that together cover all', async ({ bus, topic }) => {
    await bus.publish(topic, msgs(300));
    const batches = await Promise.all([1, 2, 3].map(() => bus.fetch({ topic, group: 'g' }, { ...opts, max: 120 })));
    const ids = batches.flatMap((b) => b.messages.map((m) => m.id));
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(ids.length, 300);
  });

  test('a message not settled before its lease ends is redelivered with attempt 2', async ({ bus, clock, topic }) => {
    await bus.publish(topic, msgs(4));
    const first = await bus.fetch({ topic, group: 'g' }, opts); // consumer "crashes": never settles
    assert.equal(first.messages.length, 4);
    assert.equal((await bus.fetch({ topic, group: 'g' }, opts)).messages.length, 0);
    await clock.advance(opts.leaseMs);
    const again = await bus.fetch({ topic, group: 'g' }, opts);
    assert.deepEqual(
      again.messages.map((m) => [m.id, m.attempt]),
      [
        ['m0', 2],
        ['m1', 2],
        ['m2', 2],
        ['m3', 2],
      ],
    );
    await again.settle(again.messages.map(() => ({ kind: 'ack' })));
    await first.settle(first.messages.map(() => ({ kind: 'ack' }))); // late settle of a lost lease is harmless
    await clock.advance(opts.leaseMs * 2);
    assert.equal((await bus.fetch({ topic, group: 'g' }, opts)).messages.length, 0);
  });

  test('a retry waits for its backoff, then comes back with the attempt counted', async ({ bus, clock, topic }) => {
    await bus.publish(topic, msgs(2));
    const b1 = await bus.fetch({ topic, group: 'g' }, opts);
    await b1.settle([{ kind: 'retry', delayMs: 5_000, error: { code: 'X', message: 'x' } }, { kind: 'ack' }]);
    assert.equal((await bus.fetch({ topic, group: 'g' }, opts)).messages.length, 0);
    await clock.advance(4_999);
    assert.equal((await bus.fetch({ topic, group: 'g' }, opts)).messages.length, 0);
    await clock.advance(1);
    const b2 = await bus.fetch({ topic, group: 'g' }, opts);
    assert.deepEqual(
      b2.messages.map((m) => [m.id, m.attempt]),
      [['m0', 2]],
    );
  });

  test('the runner dead-letters after maxAttempts retryable failures, then the message can be retried', async ({
    bus,
    clock,
    topic,
  }) => {
    await bus.publish(topic, msgs(3));
    const handled: string[] = [];
    let failing = true;
    const consumer = createConsumer(
      { bus, clock, log: silent },
      { topic, group: 'stage-a', maxAttempts: 3, backoffBaseMs: 1000 },
      async (m) => {
        handled.push(`${m.id}#${m.attempt}`);
        if (failing && m.id === 'm1')
          throw new SwitchyardError('ESP_UNAVAILABLE', 'provider down', { retryable: true });
      },
    );
    for (let i = 0; i < 6; i++) {
      await consumer.runOnce();
      await clock.advance(10_000);
    }
    assert.deepEqual(
      handled.filter((h) => h.startsWith('m1')),
      ['m1#1', 'm1#2', 'm1#3'],
    );
    const [dl] = await bus.deadLetters.list({ stage: 'stage-a' });
    assert.equal(dl?.messageId, 'm1');
    assert.equal(dl?.code, 'ESP_UNAVAILABLE');
    assert.equal(dl?.attempts, 3);
    assert.match(dl!.message, /gave up after 3 attempts: provider down/);
    assert.deepEqual(dl?.payload, { n: 1 });
    failing = false;
    assert.deepEqual(await bus.deadLetters.retry([dl!.id]), [dl!.id]);
    assert.deepEqual(await bus.deadLetters.retry([dl!.id]), []);
    assert.equal(await consumer.runOnce(), 1);
    assert.equal(handled.at(-1), 'm1#1');
    assert.equal((await bus.deadLetters.list({ stage: 'stage-a' })).length, 0);
  });

  test('a non-retryable failure is dead-lettered at once and does not block the messages behind it', async ({
    bus,
    clock,
    topic,
  }) => {
    await bus.publish(topic, msgs(5));
    const ok: string[] = [];
    const consumer = createConsumer({ bus, clock, log: silent }, { topic, group: 'g' }, async (m) => {
      if (m.id === 'm0') throw new Error('boom');
      ok.push(m.id);
    });
    await consumer.runOnce();
    assert.deepEqual(ok, ['m1', 'm2', 'm3', 'm4']);
    const [dl] = await bus.deadLetters.list({ stage: 'g' });
    assert.equal(dl?.code, 'BUS_HANDLER_FAILED');
    assert.match(dl!.message, /boom/);
  });

  test('a message whose lease keeps expiring is dead-lettered after maxAttempts (crash loop)', async ({
    bus,
    clock,
    topic,
  }) => {
    await bus.publish(topic, msgs(1));
    for (let i = 0; i < 3; i++) {
      assert.equal((await bus.fetch({ topic, group: 'g' }, opts)).messages.length, 1);
      await clock.advance(opts.leaseMs);
    }
    assert.equal((await bus.fetch({ topic, group: 'g' }, opts)).messages.length, 0);
    const [dl] = await bus.deadLetters.list({ stage: 'g' });
    assert.equal(dl?.code, 'BUS_ATTEMPTS_EXHAUSTED');
  });

  test('ordered groups handle one key in publish order even across retries', async ({ bus, clock, topic }) => {
    if (!bus.supportsKeyOrdering) return;
    await bus.publish(
      topic,
      Array.from({ length: 12 }, (_, i) => ({ id: `o${i}`, key: `c${i % 2}`, payload: { i } })),
    );
    const order: number[] = [];
    let failOnce = true;
    const consumer = createConsumer(
      { bus, clock, log: silent },
      { topic, group: 'ord', ordered: true, batchSize: 5, backoffBaseMs: 1000 },
      async (m) => {
        const i = (m.payload as { i: number }).i;
        if (i === 3 && failOnce) {
          failOnce = false;
          throw new SwitchyardError('CRM_UNAVAILABLE', 'later', { retryable: true });
        }
        order.push(i);
      },
    );
    for (let k = 0; k < 12 && order.length < 12; k++) {
      await consumer.runOnce();
      await clock.advance(2_000);
    }
    assert.deepEqual(
      order,
      Array.from({ length: 12 }, (_, i) => i),
    );
  });

  test('nothing is lost when the bus is reopened (process restart)', async ({ bus, clock, topic, harness }) => {
    await bus.publish(topic, msgs(10));
    const b = await bus.fetch({ topic, group: 'g' }, { ...opts, max: 4 });
    await b.settle(b.messages.map(() => ({ kind: 'ack' })));
    await bus.fetch({ topic, group: 'g' }, { ...opts, max: 3 }); // in flight when the process dies
    await bus.close();
    const reopened = harness.makeBus(clock);
    await clock.advance(opts.leaseMs);
    const rest = await reopened.fetch({ topic, group: 'g' }, opts);
    assert.deepEqual(rest.messages.map((m) => m.id).sort(), ['m4', 'm5', 'm6', 'm7', 'm8', 'm9']);
    await reopened.close();
  });

  test('depth reports pending, in-flight and retrying per group', async ({ bus, topic }) => {
    await bus.ensureGroup({ topic, group: 'g' });
    await bus.publish(topic, msgs(10));
    const b = await bus.fetch({ topic, group: 'g' }, { ...opts, max: 4 });
    await b.settle([
      { kind: 'ack' },
      { kind: 'retry', delayMs: 60_000, error: { code: 'X', message: 'x' } },
      { kind: 'ack' },
      { kind: 'ack' },
    ]);
    await bus.fetch({ topic, group: 'g' }, { ...opts, max: 2 });
    const d = (await bus.depth()).find((x) => x.topic === topic && x.group === 'g');
    assert.deepEqual(
      { pending: d?.pending, inFlight: d?.inFlight, retrying: d?.retrying },
      { pending: 4, inFlight: 2, retrying: 1 },
    );
  });

  test('waitForMessages resolves on publish before its timeout', async ({ bus, clock, topic }) => {
    const waiting = bus.waitForMessages(topic, 60_000);
    await bus.publish(topic, msgs(1));
    await waiting;
    assert.ok(clock.now().getTime() < createManualClock().now().getTime() + 60_000);
  });

  test('malformed messages are refused with a reason naming the problem', async ({ bus, topic }) => {
    await assert.rejects(
      bus.publish(topic, [{ id: '', payload: {} }]),
      (e: SwitchyardError) => e.code === 'BUS_MESSAGE_INVALID' && /has no id/.test(e.message),
    );
    await assert.rejects(
      bus.publish('Bad Topic!', msgs(1)),
      (e: SwitchyardError) => e.code === 'BUS_MESSAGE_INVALID' && /invalid topic/.test(e.message),
    );
    await assert.rejects(bus.publish(topic, [{ id: 'x', payload: undefined }]), /has no payload/);
  });

  test('ingress dead letters are kept for inspection and are not retryable', async ({ bus }) => {
    const id = await bus.deadLetters.add({
      stage: 'webhook.test',
      payload: { body: 'garbage' },
      code: 'WEBHOOK_PAYLOAD_INVALID',
      message: 'not JSON',
    });
    const [dl] = await bus.deadLetters.list({ stage: 'webhook.test' });
    assert.equal(dl?.id, id);
    assert.deepEqual(await bus.deadLetters.retry([id]), []);
    assert.ok((await bus.deadLetters.count()) >= 1);
  });

  test('an ingress stage added with keepNewest keeps only its newest entries; other stages are untouched', async ({
    bus,
  }) => {
    const stage = `webhook.keep${Math.random().toString(36).slice(2, 8)}`;
    const other = await bus.deadLetters.add({ stage: `${stage}.other`, payload: 0, code: 'X', message: 'other' });
    for (let i = 1; i <= 5; i++)
      await bus.deadLetters.add({ stage, payload: { i }, code: 'X', message: `n${i}` }, { keepNewest: 2 });
    const kept = await bus.deadLetters.list({ stage });
    assert.deepEqual(
      kept.map((d) => d.payload),
      [{ i: 5 }, { i: 4 }],
    );
    assert.equal((await bus.deadLetters.list({ stage: `${stage}.other` }))[0]?.id, other);
  });
}

export function busGroupPublishContract(label: string, setup: () => Promise<BusHarness>): void {
  it(`${label}: concurrent publishers each get their own counts, and a bad message fails only its caller`, async () => {
    const clock = createManualClock();
    const bus = (await setup()).makeBus(clock);
    const topic = uniqueName('topic').replaceAll('_', '.');
    try {
      const results = await Promise.allSettled([
        bus.publish(topic, msgs(3, 'a')),
        bus.publish(topic, [...msgs(2, 'a'), ...msgs(2, 'b')]),
        // a payload JSON cannot carry (a NUL character is fine since payloads are stored as text)
        bus.publish(topic, [{ id: 'bad', payload: { n: 10n } }]),
        bus.publish(topic, msgs(1, 'c')),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
      );
      const counts = results.map((r) => (r.status === 'fulfilled' ? r.value : null));
      assert.equal(counts[0]!.published + counts[1]!.published, 5);
      assert.equal(counts[0]!.duplicates + counts[1]!.duplicates, 2);
      assert.deepEqual(counts[3], { published: 1, duplicates: 0 });
      const batch = await bus.fetch({ topic, group: 'g' }, opts);
      assert.deepEqual(batch.messages.map((m) => m.id).sort(), ['a0', 'a1', 'a2', 'b0', 'b1', 'c0']);
    } finally {
      await bus.close();
    }
  });
}
