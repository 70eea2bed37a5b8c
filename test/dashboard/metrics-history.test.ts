/**
 * The System page's sampled hour over a long run: the newest five minutes point by point, older
 * intervals merged (rates over the merged span, latency from the span's own histogram), the
 * window bounded, and the same answer object until the next sample. Real prom-client registry and
 * manual clock; the bus side is a fixed depth reading (what is under test is the sampler).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { createMetricsHistory } from '../../src/api/dashboard/metrics-history.ts';
import { createManualClock } from '../../src/clock/manual.ts';

describe('metrics history', () => {
  it('keeps an hour, merges older intervals, and answers from a cache between samples', async () => {
    const clock = createManualClock(new Date('2026-12-06T10:00:00Z'));
    const registry = new Registry();
    const duration = new Histogram({
      name: 'switchyard_handler_duration_seconds',
      help: 'h',
      labelNames: ['group', 'topic'] as const,
      buckets: [0.001, 0.01, 0.1, 1],
      registers: [registry],
    });
    const handled = new Counter({
      name: 'switchyard_messages_handled_total',
      help: 'c',
      labelNames: ['group', 'topic', 'outcome'] as const,
      registers: [registry],
    });
    const bus = {
      depth: async () => [{ topic: 't', group: 'g', pending: 5, inFlight: 1, retrying: 0, oldestPendingMs: 1500 }],
      ping: async () => undefined,
      deadLetters: { count: async () => 3 } as never,
    };
    const history = createMetricsHistory(
      { db: { ping: async () => undefined }, bus, registry, clock },
      { intervalMs: 2000, windowMs: 3_600_000 },
    );
    // 2 hours of samples, 10 messages of 5 ms handled between each two
    for (let i = 0; i < 3600; i++) {
      for (let j = 0; j < 10; j++) {
        duration.observe({ group: 'g', topic: 't' }, 0.005);
        handled.inc({ group: 'g', topic: 't', outcome: j === 0 ? 'dead' : 'ack' });
      }
      await history.sampleOnce();
      await clock.advance(2000);
    }
    const h = history.history();
    assert.strictEqual(history.history(), h, 'cached until the next sample');
    // one hour kept: 1800 intervals = 150 single + 110 merged by 15
    assert.equal(h.at.length, 260);
    assert.equal(h.at.at(-1)! - h.at[0]!, (1800 - 15) * 2000);
    const g = h.groups[0]!;
    assert.deepEqual(g.current, { pending: 5, inFlight: 1, retrying: 0, lagSeconds: 1.5 });
    // 10 messages per 2 s whatever the span; 1 dead letter per 2 s
    assert.ok(g.throughput.every((x) => Math.abs(x - 5) < 1e-9));
    assert.ok(g.deadPerSec.every((x) => Math.abs(x - 0.5) < 1e-9));
    // every observation was 5 ms, in the (1 ms, 10 ms] bucket: interpolated within it
    assert.ok(g.p99Ms.every((x) => x !== null && x > 1 && x <= 10));
    assert.equal(h.deadLetters.current, 3);
    assert.equal(h.health?.store.status, 'ok');
    await history.sampleOnce();
    assert.notStrictEqual(history.history(), h, 'a new sample makes a new answer');
  });
});
